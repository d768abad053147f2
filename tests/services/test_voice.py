"""Voice anonymisation of stored calls (issue 22): per channel on a call with a party per
channel, per diarized speaker's spans on a mono call, one coefficient per speaker that
holds across reads, audited; `callvault audio --anonymize-voice`; and the API's audio for
listeners under CALLVAULT_VOICE_ANONYMIZE."""

from __future__ import annotations

import dataclasses
import io
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from _audio import tone, wav_bytes
from _context import as_context
from _stored import add_people, agent_call, stored_frames, transcribe
from callvault.analysis import Utterance
from callvault.api import create_app
from callvault.capture import FileImportOptions, import_bytes
from callvault.cli import cli
from callvault.config import Config
from callvault.errors import InputError, NotFound
from callvault.services import Context, anonymized_audio, write_anonymized_audio
from callvault.services import voice as voice_module
from callvault.services.calls import erase_call
from callvault.services.voice import anonymized_wav
from callvault.vault import Vault


def agent_channel(vault: Vault, call_id: str) -> int:
    call = vault.calls.get_call(call_id)
    agents = {p.id for p in call.participants if p.is_agent}
    return next(leg.channel for leg in call.legs if leg.participant_id in agents)


def as_float(frames: np.ndarray) -> np.ndarray:
    """Stored int16 (frames, channels) as float32 (channels, frames)."""
    return (frames.T.astype(np.float32) / 32768.0).copy()


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as wav:
        raw = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        return raw.reshape(-1, wav.getnchannels()), wav.getframerate()


def test_only_the_customer_channel_changes_and_stays_the_same(vault: Vault) -> None:
    call_id = agent_call(vault, "alice", seed=3, seconds=3.0)
    ctx = as_context(vault)
    before = as_float(stored_frames(vault, call_id))
    agent = agent_channel(vault, call_id)
    customer = 1 - agent
    samples, rate = anonymized_audio(ctx, call_id, speaker_role="customer", purpose="qa")
    assert rate == 16000 and samples.dtype == np.float32 and samples.shape == before.shape
    assert np.array_equal(samples[agent], before[agent])
    assert np.abs(samples[customer] - before[customer]).mean() > 0.01
    again, _ = anonymized_audio(ctx, call_id, speaker_role="customer", purpose="qa")
    assert np.array_equal(again, samples)  # one coefficient per speaker, every read
    both, _ = anonymized_audio(ctx, call_id, speaker_role=None, purpose=None)
    assert np.array_equal(both[customer], samples[customer])
    assert np.abs(both[agent] - before[agent]).mean() > 0.01
    entries = vault.audit_entries(action="recording.anonymized")
    assert len(entries) == 3
    assert entries[0].purpose == "qa"


def test_each_call_and_speaker_has_its_own_voice(vault: Vault) -> None:
    first = agent_call(vault, "alice", seed=3, seconds=2.0)
    second = agent_call(vault, "alice", seed=3, seconds=2.5)  # the same, longer
    assert first != second
    ctx = as_context(vault)
    a, _ = anonymized_audio(ctx, first, speaker_role=None, purpose=None)
    b, _ = anonymized_audio(ctx, second, speaker_role=None, purpose=None)
    channel = agent_channel(vault, first)
    before = as_float(stored_frames(vault, first))[channel, 8000:24000]
    assert np.array_equal(as_float(stored_frames(vault, second))[channel, 8000:24000], before)
    # The same voice in two calls: different coefficients, so different output.
    assert np.abs(a[channel, 8000:24000] - b[channel, 8000:24000]).mean() > 0.005


def test_the_voice_method_setting_picks_the_transformation(vault: Vault) -> None:
    call_id = agent_call(vault, "alice", seed=3, seconds=2.0)
    before = as_float(stored_frames(vault, call_id))
    agent = agent_channel(vault, call_id)
    customer = 1 - agent
    heard = {}
    for method in ("mcadams", "pitch-formant", "both"):
        ctx = Context(dataclasses.replace(vault.config, voice_method=method), vault)
        samples, _ = anonymized_audio(ctx, call_id, speaker_role="customer", purpose=None)
        assert np.array_equal(samples[agent], before[agent])
        again, _ = anonymized_audio(ctx, call_id, speaker_role="customer", purpose=None)
        assert np.array_equal(again, samples)  # the same voice on every read
        heard[method] = samples[customer]
    for one, other in [
        ("mcadams", "pitch-formant"),
        ("mcadams", "both"),
        ("pitch-formant", "both"),
    ]:
        assert np.abs(heard[one] - heard[other]).mean() > 0.005, (one, other)


def test_an_unknown_speaker_is_refused_naming_those_present(vault: Vault) -> None:
    call_id = agent_call(vault, "alice", seed=3, seconds=1.0)
    with pytest.raises(InputError) as caught:
        anonymized_audio(as_context(vault), call_id, speaker_role="caller", purpose=None)
    assert str(caught.value) == (
        "--speaker 'caller': the call has no such speaker; its speakers are agent, alice, customer"
    )


def test_a_mono_call_is_anonymised_in_the_spans_of_the_chosen_speaker(vault: Vault) -> None:
    audio = wav_bytes(tone(4.0, 16000, 1, seed=5), 16000)
    call_id = vault.calls.store_call(
        import_bytes(audio, "mono.wav", FileImportOptions(direction="inbound"))
    ).call_id
    transcribe(
        vault,
        call_id,
        Utterance("speaker 1", None, 0.5, 1.2, "hello", 0.9, ()),
        Utterance("speaker 2", None, 2.0, 2.8, "hi", 0.9, ()),
    )
    ctx = as_context(vault)
    before = as_float(stored_frames(vault, call_id))[0]
    samples, rate = anonymized_audio(ctx, call_id, speaker_role="speaker 2", purpose=None)
    changed = np.abs(samples[0] - before) > 1e-4
    seconds = np.flatnonzero(changed) / rate
    assert seconds.min() >= 2.0 - 0.11 and seconds.max() <= 2.8 + 0.11
    assert changed[int(2.1 * rate) : int(2.7 * rate)].mean() > 0.9
    every, _ = anonymized_audio(ctx, call_id, speaker_role=None, purpose=None)
    assert (
        np.abs(
            every[0][int(0.6 * rate) : int(1.1 * rate)] - before[int(0.6 * rate) : int(1.1 * rate)]
        ).mean()
        > 0.01
    )
    assert np.array_equal(every[0][: int(0.3 * rate)], before[: int(0.3 * rate)])
    with pytest.raises(InputError, match="its speakers are speaker 1, speaker 2$"):
        anonymized_audio(ctx, call_id, speaker_role="customer", purpose=None)


def test_write_anonymized_audio_writes_a_private_wav(vault: Vault, tmp_path: Path) -> None:
    call_id = agent_call(vault, "alice", seed=3, seconds=1.5)
    out = tmp_path / "anon.wav"
    size, seconds = write_anonymized_audio(
        as_context(vault), call_id, out, speaker_role="agent", purpose=None
    )
    frames, rate = read_wav(out)
    assert size == out.stat().st_size and seconds == pytest.approx(1.5)
    assert rate == 16000 and frames.shape == (24000, 2)
    assert out.stat().st_mode & 0o777 == 0o600
    with pytest.raises(InputError, match="already exists; pass --force"):
        write_anonymized_audio(as_context(vault), call_id, out, speaker_role=None, purpose=None)


def test_cli_audio_anonymize_voice(config: Config, tmp_path: Path) -> None:
    with Vault.open(config) as vault:
        call_id = agent_call(vault, "alice", seed=3, seconds=1.0)
        stored = stored_frames(vault, call_id)
        customer = 1 - agent_channel(vault, call_id)
    env = {
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
        "CALLVAULT_ACTOR": "test:cli",
    }
    out = tmp_path / "out.wav"

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["audio", call_id, "--out", str(out), *args], env=env)
        return result.exit_code, result.output

    code, text = run("--anonymize-voice", "--speaker", "customer", "--purpose", "qa")
    assert code == 0, text
    assert text == f"wrote 1.0 s of voice-anonymised audio (64044 bytes) to {out}\n"
    frames, _ = read_wav(out)
    assert np.array_equal(frames[:, 1 - customer], stored[:, 1 - customer])
    assert not np.array_equal(frames[:, customer], stored[:, customer])
    assert run("--speaker", "customer", "--force") == (
        2,
        "error: --speaker needs --anonymize-voice\n",
    )
    assert run("--anonymize-voice", "--original", "--reason", "x", "--force")[0] == 2
    code, text = run("--anonymize-voice", "--speaker", "boss", "--force")
    assert code == 2 and "its speakers are agent, alice, customer" in text


@pytest.fixture
def shared(config: Config) -> Iterator[tuple[TestClient, Vault, str, dict[str, str]]]:
    config = dataclasses.replace(config, voice_anonymize="customer")
    with Vault.open(config) as vault:
        tokens = add_people(vault, ["calls:read", "audio:read"])
        call_id = agent_call(vault, "alice", seed=4, seconds=1.0)
        with TestClient(create_app(config, vault=vault), base_url="http://127.0.0.1") as client:
            yield client, vault, call_id, tokens


def test_listeners_hear_the_customer_anonymised_unless_compliance(
    shared: tuple[TestClient, Vault, str, dict[str, str]],
) -> None:
    client, vault, call_id, tokens = shared
    url = f"/api/v1/calls/{call_id}/audio"
    stored = stored_frames(vault, call_id)
    customer = 1 - agent_channel(vault, call_id)
    rep = client.get(url, headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert rep.status_code == 200 and rep.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(rep.content)) as wav:
        heard = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    assert np.array_equal(heard[:, 1 - customer], stored[:, 1 - customer])
    assert not np.array_equal(heard[:, customer], stored[:, customer])
    part = client.get(
        url, headers={"Authorization": f"Bearer {tokens['alice']}", "Range": "bytes=44-99"}
    )
    assert part.status_code == 206 and part.content == rep.content[44:100]
    compliance = client.get(url, headers={"Authorization": f"Bearer {tokens['cora']}"})
    assert compliance.status_code == 200
    with vault.calls.open_recording(call_id) as reader:
        assert compliance.content == b"".join(reader.iter_chunks())
    assert len(vault.audit_entries(action="recording.anonymized")) == 2


def test_the_sharing_setting_fails_closed_on_unknown_speakers(vault: Vault) -> None:
    """A mono call without a transcript: nobody is known to be the agent, so a listener
    under CALLVAULT_VOICE_ANONYMIZE=customer hears every voice anonymised."""
    audio = wav_bytes(tone(1.0, 8000, 1, seed=6), 8000)
    call_id = vault.calls.store_call(
        import_bytes(audio, "mono.wav", FileImportOptions(direction="inbound"))
    ).call_id
    before = stored_frames(vault, call_id)[:, 0]
    shared = anonymized_wav(as_context(vault), call_id, "customer", actor=None, purpose=None)
    data = b"".join(shared.iter_chunks())
    assert shared.size == len(data) == 44 + 2 * 8000
    with wave.open(io.BytesIO(data)) as wav:
        heard = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    assert wav.getframerate() == 8000
    changed = np.abs(heard.astype(np.int32) - before) > 30
    assert changed.mean() > 0.5
    with pytest.raises(InputError, match="its speakers are not known"):
        anonymized_audio(as_context(vault), call_id, speaker_role="customer", purpose=None)


def test_a_players_seeks_reuse_the_anonymised_call_while_it_is_unchanged(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = agent_call(vault, "alice", seed=5, seconds=2.0)
    ctx = as_context(vault)
    made: list[int] = []
    real = voice_module.transform_voice

    def counted(*args: object, **kwargs: object) -> np.ndarray:
        made.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(voice_module, "transform_voice", counted)
    first = anonymized_wav(ctx, call_id, "customer", actor="user:a", purpose=None)
    second = anonymized_wav(ctx, call_id, "customer", actor="user:b", purpose=None)
    assert b"".join(second.iter_chunks()) == b"".join(first.iter_chunks())
    assert len(made) == 1  # the customer's channel, transformed once for both requests
    # Every request is still a read of the recording, audited as such.
    entries = vault.audit_entries(action="recording.anonymized")
    assert [e.actor for e in entries][-2:] == ["user:a", "user:b"]
    # Another mode, or another method, is another WAV.
    anonymized_wav(ctx, call_id, "all", actor=None, purpose=None)
    assert len(made) == 3
    other = dataclasses.replace(ctx, config=dataclasses.replace(ctx.config, voice_method="mcadams"))
    anonymized_wav(other, call_id, "customer", actor=None, purpose=None)
    assert len(made) == 4
    # Erased: refused, though a copy of its anonymised audio is still in memory.
    erase_call(ctx, call_id, reason="erasure request")
    with pytest.raises(NotFound):
        anonymized_wav(ctx, call_id, "customer", actor=None, purpose=None)
