"""`callvault capture live` end to end on lo (root): a scripted call recorded into the
vault through the policy gate by a real process stopped with SIGTERM (SQLite, PG)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator

import numpy as np
import pytest
from click.testing import CliRunner

from callvault.cli import cli
from callvault.config import Config
from callvault.vault import Vault
from capture_live._peer import ScriptedCall, decoded, known_ulaw


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def call() -> Iterator[ScriptedCall]:
    if os.geteuid() != 0:
        _missing("live capture tests need root (an AF_PACKET socket on lo): run them as root")
    scripted = ScriptedCall(call_id=f"cli-{time.monotonic_ns()}@test")
    yield scripted
    scripted.close()


def _start(config: Config, bpf: str, *extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
    }
    command = [sys.executable, "-m", "callvault", "capture", "live", "--interface", "lo"]
    command += ["--filter", bpf, *extra]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 20
    line = ""
    while "recording on lo" not in line:
        line = process.stderr.readline()
        assert line or process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "callvault capture live did not start"
    time.sleep(0.2)  # the socket is open before the line is printed; let the loop run
    return process


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, errors = process.communicate(timeout=20)
    assert process.returncode == 0, errors
    return out


def test_capture_live_stores_a_call(config: Config, call: ScriptedCall) -> None:
    with Vault.init(config)[0]:
        pass
    process = _start(config, call.bpf, "--consent", "verbal")
    try:
        caller_audio, callee_audio = known_ulaw(8000, 1), known_ulaw(8000 - 480, 2)
        call.invite()
        call.answer()
        call.talk(caller_audio, callee_audio)
        time.sleep(0.05)
        call.bye()
        assert process.stdout is not None
        line = process.stdout.readline()
    finally:
        out = _stop(process)
    assert "stored" in line, line + out
    with Vault.open(config) as vault:
        (summary,) = vault.calls.list_calls()
        record = vault.calls.get_call(summary.id)
        assert record.source == "live" and record.network is not None
        assert record.network["sip_call_id"] == call.call_id
        assert record.network["end_reason"] == "bye_caller"
        with vault.calls.open_recording(summary.id) as reader:
            data = b"".join(reader.iter_chunks())
    with wave.open(io.BytesIO(data)) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    for channel, sent in enumerate((caller_audio, callee_audio)):
        leg = frames[:, channel]
        start = int(np.flatnonzero(leg)[0])
        expected = decoded(sent)
        np.testing.assert_array_equal(leg[start : start + len(expected)], expected)


def test_a_call_in_progress_is_stored_on_sigterm(config: Config, call: ScriptedCall) -> None:
    with Vault.init(config)[0]:
        pass
    process = _start(config, call.bpf, "--consent", "verbal")
    call.invite()
    call.answer()
    call.talk(known_ulaw(4000, 3), known_ulaw(4000, 4))
    time.sleep(0.2)
    out = _stop(process)
    assert "stored" in out, out
    with Vault.open(config) as vault:
        (summary,) = vault.calls.list_calls()
        assert vault.calls.get_call(summary.id).network["end_reason"] == "capture_ended"  # type: ignore[index]


def test_the_opt_out_options_are_checked_before_capturing(config: Config) -> None:
    """No root needed: a bad digit is refused before the interface is opened."""
    with Vault.init(config)[0]:
        pass
    env = {
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
    }
    for command in (["capture", "live", "--interface", "lo"], ["siprec"]):
        result = CliRunner().invoke(cli, [*command, "--withdraw-digit", "99"], env=env)
        assert result.exit_code != 0
        assert "withdraw digit '99' is not a DTMF key; use one of 0-9 * # A-D" in result.output
    help_text = CliRunner().invoke(cli, ["capture", "live", "--help"]).output
    for option in ("--agent-side", "--optout-window", "--notice-seconds", "--inter-digit"):
        assert option in help_text
