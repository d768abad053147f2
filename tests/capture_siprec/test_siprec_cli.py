"""`callvault siprec` end to end: a scripted SRC records a call into the vault through the
policy gate (a real process, SIGTERM to stop it; SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

from callvault.capture.net._sip import SessionDescription
from callvault.config import Config
from callvault.vault import Vault
from capture_siprec._client import (
    HOST,
    Dialog,
    RtpSender,
    SipClient,
    audio,
    g711_decode,
    g711_encode,
    metadata,
    multipart,
    rtp_port_range,
    sdp,
)

CONTENT_TYPE = "multipart/mixed;boundary=callvault-test-boundary"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _start(config: Config, port: int, *extra: str) -> subprocess.Popen[str]:
    low, high = rtp_port_range()
    env = {
        **os.environ,
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
    }
    command = [sys.executable, "-m", "callvault", "siprec", "--listen", f"{HOST}:{port}"]
    command += ["--rtp-ports", f"{low}-{high}", *extra]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 20
    line = ""
    while "listening on" not in line:
        line = process.stderr.readline()
        assert line or process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "callvault siprec did not start"
    return process


async def _call(port: int, caller: np.ndarray, callee: np.ndarray) -> str:
    client = SipClient((HOST, port))
    await client.open()
    dialog = Dialog()
    senders: list[RtpSender] = []
    try:
        body = multipart(sdp([7000, 7002], "PCMU"), metadata())
        await client.send("INVITE", dialog, body=body, content_type=CONTENT_TYPE)
        ok = await client.final(timeout=10)
        assert ok.status == 200, ok.status
        dialog.to_tag = ok.to.tag
        await client.send("ACK", dialog, cseq=1)
        ports = [m.port for m in SessionDescription.parse(ok.body).media]
        senders = [RtpSender(0x1111, (HOST, ports[0])), RtpSender(0x2222, (HOST, ports[1]))]
        payloads = [g711_encode(caller, "PCMU"), g711_encode(callee, "PCMU")]
        for index in range(len(payloads[0]) // 160):
            for leg, sender in enumerate(senders):
                sender.audio(0, payloads[leg][index * 160 : (index + 1) * 160])
            if index % 5 == 4:
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)
        await client.send("BYE", dialog)
        bye = await client.final(timeout=10)
        assert bye.status == 200
        return dialog.call_id
    finally:
        client.close()
        for sender in senders:
            sender.close()


def test_siprec_server_stores_a_call_in_the_vault(config: Config) -> None:
    with Vault.init(config)[0]:
        pass
    port = _free_udp_port()
    process = _start(config, port, "--consent", "verbal")
    try:
        caller, callee = audio(0.5, 1), audio(0.5, 2)
        sip_call_id = asyncio.run(asyncio.wait_for(_call(port, caller, callee), 30))
        assert process.stdout is not None
        line = process.stdout.readline()  # one line per stored call
        assert "stored" in line, line
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=20)  # also closes the pipes
        assert process.returncode == 0, errors
    with Vault.open(config) as vault:
        (summary,) = vault.calls.list_calls()
        record = vault.calls.get_call(summary.id)
        assert record.source == "siprec" and record.consent_state == "given"
        assert record.network is not None and record.network["sip_call_id"] == sip_call_id
        assert {p.phone for p in record.participants} == {"+14155550100", "+14155550199"}
        with vault.calls.open_recording(summary.id) as reader:
            data = b"".join(reader.iter_chunks())
    with wave.open(io.BytesIO(data)) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    for channel, sent in enumerate((caller, callee)):
        expected = g711_decode(g711_encode(sent, "PCMU"), "PCMU")
        leg = frames[:, channel]
        start = int(np.flatnonzero(leg)[0])
        assert np.array_equal(leg[start : start + len(expected)], expected)


def test_siprec_refuses_a_call_the_policy_refuses(config: Config, tmp_path: Path) -> None:
    """California parties and no consent: the offer is answered 403, nothing stored."""
    with Vault.init(config)[0]:
        pass
    port = _free_udp_port()
    process = _start(config, port)

    async def offer() -> int:
        client = SipClient((HOST, port))
        await client.open()
        try:
            body = multipart(sdp([7000, 7002], "PCMU"), metadata())
            await client.send("INVITE", Dialog(), body=body, content_type=CONTENT_TYPE)
            return (await client.final(timeout=10)).status or 0
        finally:
            client.close()

    try:
        assert asyncio.run(offer()) == 403
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=20)  # also closes the pipes
        assert process.returncode == 0, errors
    with Vault.open(config) as vault:
        assert vault.calls.list_calls() == []
