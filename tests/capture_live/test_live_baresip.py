"""Two independent SIP user agents (baresip, from Debian) call each other on loopback
while LiveCapture records; their G.711 legs decode to the audio each one sent.

Each baresip reads its WAV through the aufile module. The WAVs hold only values G.711
represents exactly, so encode-then-decode gives them back bit for bit.
"""

from __future__ import annotations

import ctypes.util
import os
import queue
import shutil
import socket
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from callvault.capture.live import LiveCapture, LiveNetworkCall
from callvault.capture.net import END_BYE_CALLER
from callvault.capture.net._codecs import ULAW

RATE = 8000


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_ports(count: int) -> list[int]:
    """`count` UDP ports, each followed by one more free port (RTP and RTCP)."""
    found: list[int] = []
    sockets = []
    try:
        while len(found) < count:
            pair = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
            pair[0].bind(("127.0.0.1", 0))
            port = pair[0].getsockname()[1]
            try:
                pair[1].bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            finally:
                sockets += pair
            if port % 2 == 0:
                found.append(port)
    finally:
        for sock in sockets:
            sock.close()
    return found


def _wav(path: Path, seed: int, seconds: float) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    usable = ULAW[ULAW != 0]
    samples: npt.NDArray[np.int16] = usable[
        rng.integers(0, len(usable), size=int(seconds * RATE))
    ].astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.astype("<i2").tobytes())
    return samples


def _agent(folder: Path, name: str, sip_port: int, rtp_port: int, wav: Path) -> Path:
    folder.mkdir()
    (folder / "config").write_text(
        f"poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\n"
        f"audio_source aufile,{wav}\naudio_player aufile,/dev/null\naudio_alert aufile,/dev/null\n"
        f"audio_srate 8000\naudio_channels 1\nrtp_ports {rtp_port}-{rtp_port + 1}\n"
        "module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n"
        "module_app account.so\nmodule_app menu.so\n"
    )
    (folder / "accounts").write_text(
        f"<sip:{name}@127.0.0.1:{sip_port}>;regint=0;answermode=auto;audio_codecs=PCMU\n"
    )
    return folder


@pytest.fixture
def baresip() -> str:
    found = shutil.which("baresip")
    if found is None:
        _missing(
            "baresip is not installed: apt-get install -y baresip-core (scripts/setup.sh --dev)"
        )
    assert found is not None
    if os.geteuid() != 0:
        _missing("live capture tests need root (an AF_PACKET socket on lo): run them as root")
    if ctypes.util.find_library("pcap") is None:
        _missing("capture filters need libpcap: apt-get install -y libpcap0.8")
    return found


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _sent_in(leg: npt.NDArray[np.int16], sent: npt.NDArray[np.int16]) -> int:
    """How many samples of `leg`, from its first sound on, are a run of `sent`."""
    start = int(np.flatnonzero(leg)[0])
    heard = leg[start:]
    window = sent[: len(sent) - 160]
    matches = [
        offset
        for offset in range(len(window))
        if np.array_equal(sent[offset : offset + 160], heard[:160])
    ]
    assert len(matches) == 1, "the first packet heard is not one packet of the sent audio"
    offset = matches[0]
    length = min(len(heard), len(sent) - offset)
    np.testing.assert_array_equal(heard[:length], sent[offset : offset + length])
    return length


def test_two_baresip_agents_are_recorded_sample_exact(
    baresip: str, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    sip_a, sip_b, rtp_a, rtp_b = _free_ports(4)
    sent = {
        "a": _wav(tmp_path / "a.wav", 31, 4.0),
        "b": _wav(tmp_path / "b.wav", 32, 4.0),
    }
    caller = _agent(tmp_path / "a", "alice", sip_a, rtp_a, tmp_path / "a.wav")
    callee = _agent(tmp_path / "b", "bob", sip_b, rtp_b, tmp_path / "b.wav")
    ports = [sip_a, sip_b, rtp_a, rtp_a + 1, rtp_b, rtp_b + 1]
    found: queue.Queue[LiveNetworkCall] = queue.Queue()
    capture = LiveCapture(
        "lo", "udp and (" + " or ".join(f"port {p}" for p in ports) + ")", on_call=found.put
    )
    capture.start()
    try:
        callee_command = [baresip, "-f", str(callee), "-t", "8"]
        dial = f"/dial sip:bob@127.0.0.1:{sip_b}"
        caller_command = [baresip, "-f", str(caller), "-e", dial, "-t", "3"]
        for command in (callee_command, caller_command):
            processes.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            time.sleep(0.5)  # the callee listens before the caller dials
        call = found.get(timeout=10)
    finally:
        capture.stop()
    assert call.end_reason == END_BYE_CALLER and call.final
    assert any("baresip" in agent for agent in call.user_agents)
    assert {leg.channel: leg.codec for leg in call.legs} == {0: "PCMU", 1: "PCMU"}
    for leg in call.legs:
        heard = _sent_in(leg.pcm, sent["a" if leg.channel == 0 else "b"])
        assert heard >= 2 * RATE  # at least 2 s of the 3 s call, sample for sample
