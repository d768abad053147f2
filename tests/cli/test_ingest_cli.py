"""`callvault ingest` end to end through click's CliRunner, on the embedded SQLite vault.

Bad input must give exit code 2, one line on stderr and nothing written at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import struct
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from _audio import (
    FORMATS,
    encode,
    encode_with,
    silent_flac,
    tone,
    wav_bytes,
    with_declared_frames,
    write,
)
from callvault.cli import cli

TABLES = ("calls", "participants", "recordings", "legs", "data_keys", "manifests", "audit_log")
NOT_AUDIO = (
    "not a recognised audio file; callvault imports WAV, FLAC, MP3, OGG/Opus, M4A/AAC and WebM"
)
NOT_E164 = (
    "is not an E.164 phone number; write it with + and the country code, for example +442071234567"
)
# kind: (container, codecs), FFmpeg's names as docs/json.md lists them
EXPECTED = {
    "wav-pcm": ("wav", {"pcm_s16le"}),
    "wav-alaw": ("wav", {"pcm_alaw"}),
    "wav-mulaw": ("wav", {"pcm_mulaw"}),
    "flac": ("flac", {"flac"}),
    "mp3": ("mp3", {"mp3", "mp3float"}),
    "ogg-opus": ("ogg", {"opus"}),
    "m4a-aac": ("mov,mp4,m4a,3gp,3g2,mj2", {"aac"}),
    "webm-opus": ("matroska,webm", {"opus"}),
}

Runner = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    path = tmp_path / "in"
    path.mkdir()
    return path


@pytest.fixture
def run(data_dir: Path) -> Runner:
    def invoke(*args: object, env: dict[str, str] | None = None) -> Result:
        full = {
            "CALLVAULT_DATA_DIR": str(data_dir),
            "CALLVAULT_DATABASE_URL": "",
            "CALLVAULT_MAX_INPUT_BYTES": "",
            "CALLVAULT_CHUNK_SIZE": "",
            "CALLVAULT_LOG_LEVEL": "",
            "CALLVAULT_ACTOR": "test:cli",
            **(env or {}),
        }
        # catch_exceptions=False: a traceback fails the test instead of hiding in the result
        return CliRunner().invoke(cli, [str(a) for a in args], env=full, catch_exceptions=False)

    return invoke


def wav_file(inputs: Path, channels: int = 2, seed: int = 0, name: str | None = None) -> Path:
    path = inputs / (name or f"call-{channels}ch-{seed}.wav")
    path.write_bytes(wav_bytes(tone(0.5, 8000, channels, seed), 8000))
    return path


def ingested(result: Result) -> list[dict[str, Any]]:
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    calls: list[dict[str, Any]] = json.loads(result.stdout)["calls"]
    return calls


def shown(run: Runner, call_id: str) -> dict[str, Any]:
    result = run("show", call_id, "--json")
    assert result.exit_code == 0, result.output
    record: dict[str, Any] = json.loads(result.stdout)
    return record


def snapshot(data_dir: Path) -> dict[str, Any] | None:
    """Rows per table and every blob and key file with its hash; None when there is no vault."""
    if not data_dir.exists():
        return None
    files = {
        str(path.relative_to(data_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
        for top in ("blobs", "keys")
        for path in sorted((data_dir / top).rglob("*"))
        if path.is_file()
    }
    with closing(sqlite3.connect(data_dir / "callvault.db")) as conn:
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    return {"rows": rows, "files": files}


def blob_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "blobs").rglob("*") if p.is_file())


# -- importing -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_ingest_every_format(run: Runner, inputs: Path, data_dir: Path, kind: str) -> None:
    path = write(inputs / f"call{FORMATS[kind][4]}", kind, 0.5, 2)
    (call,) = ingested(run("ingest", "--consent", "pre-call-notice", path, "--json"))
    assert call["source"] == str(path) and call["duplicate"] is False
    record = shown(run, call["call_id"])
    rec = record["recording"]
    assert rec["id"] == call["recording_id"]
    assert rec["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rec["size_bytes"] == path.stat().st_size
    container, codecs = EXPECTED[kind]
    assert rec["container"] == container and rec["codec"] in codecs
    assert (rec["sample_rate"], rec["channels"]) == (FORMATS[kind][3], 2)
    assert rec["duration_s"] == pytest.approx(0.5, abs=0.05)
    assert [leg["channel"] for leg in record["legs"]] == [0, 1]
    # only ciphertext lands in the data directory
    (blob,) = blob_files(data_dir)
    assert path.read_bytes()[:64] not in blob.read_bytes()


def test_stereo_call_with_every_option(run: Runner, inputs: Path) -> None:
    path = wav_file(inputs, 2)
    result = run(
        "ingest", "--consent", "pre-call-notice", path,
        "--caller", "+1 415 555 0100", "--callee", "+442071838750",
        "--direction", "inbound", "--agent", "alice", "--started-at", "2026-03-01T09:30:00+01:00",
        "--language", "EN",
    )  # fmt: skip
    assert result.exit_code == 0 and result.stderr == ""
    match = re.fullmatch(rf"([0-9a-f]{{32}})  stored  {re.escape(str(path))}\n", result.stdout)
    assert match, result.stdout
    record = shown(run, match.group(1))
    assert record["schema"] == "callvault.call/1"
    assert record["id"] == match.group(1)
    assert (record["direction"], record["agent"], record["language"]) == ("inbound", "alice", "en")
    assert record["started_at"] == "2026-03-01T08:30:00+00:00"
    assert [(p["role"], p["phone"], p["name"], p["is_agent"]) for p in record["participants"]] == [
        ("caller", "+14155550100", None, False),
        ("callee", "+442071838750", "alice", True),
    ]
    roles = {p["id"]: p["role"] for p in record["participants"]}
    assert [(leg["channel"], roles[leg["participant_id"]]) for leg in record["legs"]] == [
        (0, "caller"),
        (1, "callee"),
    ]
    rec = record["recording"]
    assert (rec["container"], rec["codec"], rec["sample_rate"], rec["channels"]) == (
        "wav", "pcm_s16le", 8000, 2,
    )  # fmt: skip
    assert rec["duration_s"] == 0.5
    assert rec["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    listed = json.loads(run("list", "--json").stdout)["calls"]
    assert [(c["id"], c["channels"], c["participants"]) for c in listed] == [(record["id"], 2, 2)]


def test_show_json_has_the_documented_fields(run: Runner, inputs: Path) -> None:
    (call,) = ingested(
        run(
            "ingest",
            "--consent",
            "pre-call-notice",
            wav_file(inputs, 2),
            "--json",
            "--direction",
            "outbound",
        )
    )
    record = shown(run, call["call_id"])
    # docs/json.md: later versions may add keys, never remove them
    assert {"schema", "id", "direction", "agent", "started_at", "language", "created_at",
            "participants", "legs", "recording"} <= record.keys()  # fmt: skip
    for party in record["participants"]:
        assert {"id", "role", "phone", "name", "is_agent"} <= party.keys()
    for leg in record["legs"]:
        assert {"id", "channel", "participant_id"} <= leg.keys()
    rec = record["recording"]
    assert {"id", "sha256", "size_bytes", "container", "codec", "sample_rate", "channels",
            "duration_s", "created_at", "encryption", "manifest"} <= rec.keys()  # fmt: skip
    assert {"cipher", "chunk_size", "kek_id", "ciphertext_sha256"} <= rec["encryption"].keys()
    assert rec["encryption"]["cipher"] == "AES-256-GCM"
    assert rec["manifest"]["signed_by"].startswith("ed25519:")
    assert record["created_at"].endswith("+00:00")
    assert (record["agent"], record["started_at"], record["language"]) == (None, None, None)


def test_outbound_call_flags_the_caller(run: Runner, inputs: Path) -> None:
    (call,) = ingested(run("ingest", "--consent", "pre-call-notice", wav_file(inputs, 2),
                           "--json", "--direction", "outbound",
                           "--agent", "bob", "--caller", "+442071838750"))  # fmt: skip
    record = shown(run, call["call_id"])
    assert [(p["role"], p["phone"], p["name"], p["is_agent"]) for p in record["participants"]] == [
        ("caller", "+442071838750", "bob", True),
        ("callee", None, None, False),
    ]


def test_channels_put_the_agent_of_an_inbound_call_on_channel_0(run: Runner, inputs: Path) -> None:
    # issue 16: the recorder puts the agent on the left channel whichever way the call went
    (call,) = ingested(run("ingest", "--consent", "pre-call-notice", wav_file(inputs, 2),
                           "--json", "--caller", "+14155550100", "--direction", "inbound",
                           "--agent", "alice", "--channels", "agent,customer"))  # fmt: skip
    record = shown(run, call["call_id"])
    assert record["direction"] == "inbound"
    parties = {p["id"]: (p["role"], p["phone"], p["name"], p["is_agent"])
               for p in record["participants"]}  # fmt: skip
    assert [(leg["channel"], parties[leg["participant_id"]]) for leg in record["legs"]] == [
        (0, ("callee", None, "alice", True)),
        (1, ("caller", "+14155550100", None, False)),
    ]


def test_channels_customer_first_of_an_outbound_call(run: Runner, inputs: Path) -> None:
    (call,) = ingested(run("ingest", "--consent", "pre-call-notice", wav_file(inputs, 2),
                           "--json", "--direction", "outbound", "--agent", "bob",
                           "--channels", "customer,agent"))  # fmt: skip
    record = shown(run, call["call_id"])
    parties = {p["id"]: (p["role"], p["is_agent"]) for p in record["participants"]}
    assert [(leg["channel"], parties[leg["participant_id"]]) for leg in record["legs"]] == [
        (0, ("callee", False)),
        (1, ("caller", True)),
    ]


def test_channels_are_in_the_help(run: Runner) -> None:
    result = run("ingest", "--help")
    assert result.exit_code == 0
    assert "--channels agent,customer|customer,agent" in " ".join(result.stdout.split())


def test_mono_call_has_one_leg_without_participant(run: Runner, inputs: Path) -> None:
    (call,) = ingested(run("ingest", "--consent", "pre-call-notice", wav_file(inputs, 1),
                           "--json", "--caller", "+14155550100",
                           "--callee", "+442071838750", "--direction", "inbound",
                           "--agent", "alice"))  # fmt: skip
    record = shown(run, call["call_id"])
    assert record["recording"]["channels"] == 1
    assert [(leg["channel"], leg["participant_id"]) for leg in record["legs"]] == [(0, None)]
    assert [(p["role"], p["phone"], p["is_agent"]) for p in record["participants"]] == [
        ("caller", "+14155550100", False),
        ("callee", "+442071838750", True),
    ]


def test_three_channels_give_three_legs(run: Runner, inputs: Path) -> None:
    (call,) = ingested(run("ingest", "--consent", "pre-call-notice", wav_file(inputs, 3), "--json"))
    record = shown(run, call["call_id"])
    roles = {p["id"]: p["role"] for p in record["participants"]}
    assert [(leg["channel"], roles[leg["participant_id"]]) for leg in record["legs"]] == [
        (0, "caller"),
        (1, "callee"),
        (2, "speaker"),
    ]
    assert len({leg["participant_id"] for leg in record["legs"]}) == 3


def test_several_files_are_several_calls(run: Runner, inputs: Path) -> None:
    first, second = wav_file(inputs, 2, seed=1), write(inputs / "b.flac", "flac", 0.5, 1)
    calls = ingested(run("ingest", "--consent", "pre-call-notice", first, second, "--json"))
    assert [c["source"] for c in calls] == [str(first), str(second)]
    assert len({c["call_id"] for c in calls}) == 2
    assert not any(c["duplicate"] for c in calls)


def test_same_bytes_again_return_the_existing_call(
    run: Runner, inputs: Path, data_dir: Path
) -> None:
    path = wav_file(inputs, 2)
    (first,) = ingested(
        run("ingest", "--consent", "pre-call-notice", path, "--json", "--caller", "+14155550100")
    )
    before = snapshot(data_dir)
    copy = inputs / "copy-of-call.wav"
    copy.write_bytes(path.read_bytes())
    again = run(
        "ingest",
        "--consent",
        "pre-call-notice",
        copy,
        "--callee",
        "+442071838750",
        "--direction",
        "outbound",
    )
    assert again.exit_code == 0
    assert again.stdout == f"{first['call_id']}  already stored  {copy}\n"
    (dup,) = ingested(run("ingest", "--consent", "pre-call-notice", path, "--json"))
    assert dup == {**first, "duplicate": True}
    after = snapshot(data_dir)
    assert before is not None and after is not None
    assert after["files"] == before["files"]
    assert after["rows"] == {**before["rows"], "audit_log": before["rows"]["audit_log"] + 2}
    assert not list((data_dir / "blobs" / ".incoming").iterdir())
    # the stored call keeps what was said about it the first time
    parties = shown(run, first["call_id"])["participants"]
    assert [p["phone"] for p in parties] == ["+14155550100", None]


def test_same_bytes_twice_in_one_command(run: Runner, inputs: Path, data_dir: Path) -> None:
    path = wav_file(inputs, 2)
    copy = inputs / "copy.wav"
    copy.write_bytes(path.read_bytes())
    first, second = ingested(run("ingest", "--consent", "pre-call-notice", path, copy, "--json"))
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert second["call_id"] == first["call_id"]
    assert len(blob_files(data_dir)) == 1


# -- refusing ------------------------------------------------------------------------------


@dataclass
class Bad:
    args: list[str]
    message: str | re.Pattern[str]  # a str must match exactly
    env: dict[str, str] = field(default_factory=dict)


def _file(inputs: Path, name: str, data: bytes) -> Path:
    path = inputs / name
    path.write_bytes(data)
    return path


def bad_empty(inputs: Path) -> Bad:
    p = _file(inputs, "empty.wav", b"")
    return Bad([str(p)], f"{p}: the file is empty; give a recording with audio in it")


def bad_truncated_wav(inputs: Path) -> Bad:
    data = wav_bytes(tone(0.5, 8000, 2), 8000)
    p = _file(inputs, "cut.wav", data[: len(data) // 2])
    missing = len(data) - len(data) // 2
    return Bad([str(p)], f"{p}: the WAV file is truncated ({missing} bytes of audio data are "
                         "missing); copy the complete file again")  # fmt: skip


def bad_truncated_flac(inputs: Path) -> Bad:
    data = encode("flac", 1.0, 2)
    p = _file(inputs, "cut.flac", data[: len(data) // 2])
    return Bad(
        [str(p)],
        re.compile(rf"{re.escape(str(p))}: the audio is corrupt and cannot be decoded past "
                   r"\d+\.\d s; copy the complete file again or convert it to WAV or FLAC"),
    )  # fmt: skip


def bad_corrupt_mp3(inputs: Path) -> Bad:
    data = encode("mp3", 1.0, 2)
    third = len(data) // 3
    noise = np.random.default_rng(1).integers(0, 256, third, dtype=np.uint8).tobytes()
    p = _file(inputs, "corrupt.mp3", data[:third] + noise + data[2 * third :])
    return Bad(
        [str(p)],
        re.compile(rf"{re.escape(str(p))}: the audio is corrupt and cannot be decoded past "
                   r"\d+\.\d s; copy the complete file again or convert it to WAV or FLAC"),
    )  # fmt: skip


def bad_text(inputs: Path) -> Bad:
    p = _file(inputs, "notes.wav", b"meeting notes, not audio\n" * 40)
    return Bad([str(p)], f"{p}: {NOT_AUDIO}")


def bad_random(inputs: Path) -> Bad:
    noise = np.random.default_rng(3).integers(0, 256, 8192, dtype=np.uint8).tobytes()
    p = _file(inputs, "noise.mp3", noise)
    return Bad([str(p)], f"{p}: {NOT_AUDIO}")


def bad_codec(inputs: Path) -> Bad:
    p = _file(inputs, "adpcm.wav", encode_with("adpcm_ms"))
    return Bad([str(p)], f"{p}: the audio codec 'adpcm_ms' is not supported; convert it to WAV "
                         "(PCM) or FLAC first")  # fmt: skip


def bad_no_samples(inputs: Path) -> Bad:
    p = _file(inputs, "silent.wav", wav_bytes(np.zeros((0, 2), dtype="<i2"), 8000))
    return Bad(
        [str(p)],
        f"{p}: the recording contains no audio samples; check that it was "
        "recorded and copied completely",
    )


def bad_missing(inputs: Path) -> Bad:
    p = inputs / "missing.wav"
    return Bad([str(p)], f"{p}: no such file; check the path")


def bad_directory(inputs: Path) -> Bad:
    d = inputs / "folder"
    d.mkdir(exist_ok=True)
    return Bad([str(d)], f"{d}: is a directory; give the audio files inside it")


def bad_read_error(inputs: Path) -> Bad:
    # Reading /proc/self/mem at offset 0 fails with EIO, also for root.
    return Bad(
        ["/proc/self/mem"],
        "/proc/self/mem: cannot be read (input/output error); check the file and the disk",
    )


def bad_too_large(inputs: Path) -> Bad:
    p = wav_file(inputs, 2, name="large.wav")
    size = p.stat().st_size
    return Bad(
        [str(p)],
        f"{p}: is {size} bytes, over the limit of 1024 bytes; raise CALLVAULT_MAX_INPUT_BYTES "
        "to import it",
        {"CALLVAULT_MAX_INPUT_BYTES": "1KiB"},
    )


def bad_too_long(inputs: Path) -> Bad:
    p = _file(inputs, "ten-hours.flac", silent_flac(10 * 3600))
    return Bad(
        [str(p)],
        f"{p}: the file announces 10:00:00 of audio, longer than the limit of 4:00:00 "
        "(14400 s, CALLVAULT_MAX_DURATION); split the recording or raise "
        "CALLVAULT_MAX_DURATION; nothing was stored",
    )


def bad_too_long_undeclared(inputs: Path) -> Bad:
    p = _file(inputs, "no-length.flac", with_declared_frames(silent_flac(120), 0))
    return Bad(
        [str(p)],
        f"{p}: the audio goes on past the limit of 0:01:00 (60 s, CALLVAULT_MAX_DURATION); "
        "split the recording or raise CALLVAULT_MAX_DURATION; nothing was stored",
        {"CALLVAULT_MAX_DURATION": "60"},
    )


def bad_caller(inputs: Path) -> Bad:
    return Bad([str(wav_file(inputs)), "--caller", "02071838750"], f"--caller {NOT_E164}")


def bad_callee(inputs: Path) -> Bad:
    return Bad([str(wav_file(inputs)), "--callee", "+12"], f"--callee {NOT_E164}")


def bad_started_at_no_zone(inputs: Path) -> Bad:
    return Bad(
        [str(wav_file(inputs)), "--started-at", "2026-03-01T09:30:00"],
        "--started-at '2026-03-01T09:30:00' has no time zone; add Z for UTC or an offset such "
        "as +01:00",
    )


def bad_started_at_not_iso(inputs: Path) -> Bad:
    return Bad(
        [str(wav_file(inputs)), "--started-at", "01/03/2026 09:30"],
        "--started-at '01/03/2026 09:30' is not an ISO 8601 date and time; for example "
        "2026-11-23T14:05:00+01:00",
    )


def bad_language(inputs: Path) -> Bad:
    return Bad(
        [str(wav_file(inputs)), "--language", "english"],
        "--language 'english' is not a language code; use ISO 639-1 such as en, de or sr",
    )


def bad_agent(inputs: Path) -> Bad:
    return Bad([str(wav_file(inputs)), "--agent", " "],
               "--agent must be a user name of 1 to 128 characters")  # fmt: skip


def bad_channels(inputs: Path) -> Bad:
    return Bad(
        [str(wav_file(inputs)), "--direction", "inbound", "--channels", "agent,agent"],
        "--channels 'agent,agent' is not a channel layout; give the role of each channel in "
        "order: agent,customer (the agent on channel 0) or customer,agent",
    )


def bad_channels_without_direction(inputs: Path) -> Bad:
    return Bad(
        [str(wav_file(inputs)), "--channels", "agent,customer"],
        "--channels needs --direction inbound or outbound, which says whether the agent is "
        "the caller or the callee; leave --channels out for an internal call or one of "
        "unknown direction",
    )


def bad_channels_of_a_mono_file(inputs: Path) -> Bad:
    good, mono = wav_file(inputs, 2, seed=13), wav_file(inputs, 1, seed=14)
    return Bad(
        [str(good), str(mono), "--direction", "outbound", "--channels", "customer,agent"],
        f"{mono}: has 1 channel(s) but --channels gives the roles of 2; it fits a stereo "
        "file with one party per channel, so leave --channels out for this file",
    )


def bad_one_of_several(inputs: Path) -> Bad:
    good1, good2 = wav_file(inputs, 2, seed=11), wav_file(inputs, 1, seed=12)
    cut = _file(inputs, "half.wav", wav_bytes(tone(0.5, 8000, 1), 8000)[:2000])
    return Bad(
        [str(good1), str(cut), str(good2)],
        f"{cut}: the WAV file is truncated (6044 bytes of audio data are missing); copy the "
        "complete file again",
    )


def bad_settings(inputs: Path) -> Bad:
    return Bad(
        [str(wav_file(inputs))],
        "CALLVAULT_MAX_INPUT_BYTES='lots' is not valid: expected a byte count such as 4096, "
        "64MiB or 2GiB",
        {"CALLVAULT_MAX_INPUT_BYTES": "lots"},
    )


BAD_INPUTS: dict[str, Callable[[Path], Bad]] = {
    "empty-file": bad_empty,
    "truncated-wav": bad_truncated_wav,
    "truncated-flac": bad_truncated_flac,
    "corrupt-mp3": bad_corrupt_mp3,
    "text-not-audio": bad_text,
    "random-bytes": bad_random,
    "unsupported-codec": bad_codec,
    "no-samples": bad_no_samples,
    "missing-file": bad_missing,
    "directory": bad_directory,
    "read-error": bad_read_error,
    "over-size-limit": bad_too_large,
    "over-duration-limit": bad_too_long,
    "over-duration-limit-undeclared": bad_too_long_undeclared,
    "bad-caller": bad_caller,
    "bad-callee": bad_callee,
    "started-at-without-zone": bad_started_at_no_zone,
    "started-at-not-iso": bad_started_at_not_iso,
    "bad-language": bad_language,
    "bad-agent": bad_agent,
    "bad-channels": bad_channels,
    "channels-without-direction": bad_channels_without_direction,
    "channels-of-a-mono-file": bad_channels_of_a_mono_file,
    "one-of-several-files": bad_one_of_several,
    "bad-setting": bad_settings,
}
CASES = [
    pytest.param(
        name,
        id=name,
    )
    for name in BAD_INPUTS
]


def check_refusal(result: Result, bad: Bad) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
    line = result.stderr.removeprefix("error: ").removesuffix("\n")
    assert result.stderr.startswith("error: ")
    if isinstance(bad.message, str):
        assert line == bad.message
    else:
        assert bad.message.fullmatch(line), line


@pytest.mark.parametrize("case", CASES)
def test_bad_input_writes_nothing(run: Runner, inputs: Path, data_dir: Path, case: str) -> None:
    if case == "read-error" and not Path("/proc/self/mem").exists():
        pytest.skip("needs Linux /proc")
    bad = BAD_INPUTS[case](inputs)
    check_refusal(run("ingest", "--consent", "pre-call-notice", *bad.args, env=bad.env), bad)
    check_refusal(
        run("ingest", "--consent", "pre-call-notice", *bad.args, "--json", env=bad.env), bad
    )
    assert not data_dir.exists()


def test_bad_input_leaves_an_existing_vault_unchanged(
    run: Runner, inputs: Path, data_dir: Path
) -> None:
    (stored,) = ingested(
        run("ingest", "--consent", "pre-call-notice", wav_file(inputs, 2, seed=99), "--json")
    )
    before = snapshot(data_dir)
    assert before is not None and before["rows"]["calls"] == 1
    assert len([f for f in before["files"] if f.startswith("blobs/")]) == 1
    skipped: set[str] = set()
    if not Path("/proc/self/mem").exists():
        skipped.add("read-error")
    for name, make in BAD_INPUTS.items():
        if name in skipped:
            continue
        bad = make(inputs)
        result = run("ingest", "--consent", "pre-call-notice", *bad.args, env=bad.env)
        check_refusal(result, bad)
        assert snapshot(data_dir) == before, name
    listed = json.loads(run("list", "--json").stdout)["calls"]
    assert [c["id"] for c in listed] == [stored["call_id"]]


def test_bad_direction_writes_nothing(run: Runner, inputs: Path, data_dir: Path) -> None:
    result = run(
        "ingest", "--consent", "pre-call-notice", wav_file(inputs), "--direction", "sideways"
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: --direction 'sideways' is not one of inbound, outbound, internal; pick one\n"
    )
    assert not data_dir.exists()


def test_bad_direction_is_one_line(run: Runner, inputs: Path) -> None:
    result = run(
        "ingest", "--consent", "pre-call-notice", wav_file(inputs), "--direction", "sideways"
    )
    assert result.stderr == (
        "error: --direction 'sideways' is not one of inbound, outbound, internal; pick one\n"
    )


def test_wav_with_streaming_header_is_imported(run: Runner, inputs: Path) -> None:
    data = bytearray(wav_bytes(tone(0.5, 8000, 2), 8000))
    data[4:8] = data[40:44] = struct.pack("<I", 0xFFFFFFFF)
    path = _file(inputs, "live.wav", bytes(data))
    (call,) = ingested(run("ingest", "--consent", "pre-call-notice", path, "--json"))
    assert shown(run, call["call_id"])["recording"]["duration_s"] == 0.5


def test_file_without_read_permission(tmp_path: Path) -> None:
    """chmod 000 for a user who cannot read it. Root can, so under root a forked child
    drops to nobody after callvault is imported (it needs no access to the source tree)."""
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="callvault-perm-"))
    try:
        shared.chmod(0o777)  # reachable and writable for the unprivileged user
        locked = shared / "locked.wav"
        locked.write_bytes(wav_bytes(tone(0.2, 8000, 1), 8000))
        locked.chmod(0)
        data_dir = shared / "data"
        env = {"CALLVAULT_DATA_DIR": str(data_dir), "CALLVAULT_DATABASE_URL": ""}
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 70
            try:
                os.close(read_end)
                if os.geteuid() == 0:
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                result = CliRunner().invoke(
                    cli, ["ingest", "--consent", "pre-call-notice", str(locked)], env=env
                )
                payload = [result.exit_code, result.stdout, result.stderr]
                os.write(write_end, json.dumps(payload).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            raw = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        exit_code, stdout, stderr = json.loads(raw)
        assert exit_code == 2, stderr
        assert stdout == ""
        assert stderr == (
            f"error: {locked}: cannot be read (permission denied); check its permissions\n"
        )
        assert not data_dir.exists()
    finally:
        for path in shared.glob("*"):
            path.chmod(0o600)
        import shutil

        shutil.rmtree(shared, ignore_errors=True)
