"""A scripted SIP/RTP call between UDP sockets on 127.0.0.1, for the live capture tests.

Both "phones" are plain sockets in this process: the caller sends INVITE (SDP offer),
the callee 200 OK (SDP answer), then G.711 RTP goes both ways with known samples, and
SIP BYE (or nothing, for a timeout) ends it. Messages come from tests/capture_net/_build.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from callvault.capture.net._codecs import ULAW
from capture_net._build import rtp, sip_invite, sip_request, sip_response

LOCALHOST = "127.0.0.1"
PTIME_SAMPLES = 160
TELEPHONE_EVENT = 101


def known_ulaw(samples: int, seed: int) -> bytes:
    """Random mu-law bytes that never decode to 0 (so where audio starts is visible)."""
    rng = np.random.default_rng(seed)
    usable = np.flatnonzero(ULAW != 0).astype(np.uint8)
    return bytes(rng.choice(usable, size=samples).tolist())


def decoded(payload: bytes) -> npt.NDArray[np.int16]:
    return ULAW.take(np.frombuffer(payload, dtype=np.uint8))


@dataclass
class Peer:
    sip: socket.socket
    media: socket.socket
    seq: int = 0
    ts: int = 0
    ssrc: int = 0

    @property
    def sip_port(self) -> int:
        return int(self.sip.getsockname()[1])

    @property
    def media_port(self) -> int:
        return int(self.media.getsockname()[1])


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCALHOST, 0))
    return sock


@dataclass
class ScriptedCall:
    """Two peers on 127.0.0.1; `ports` are all four, for a capture filter."""

    call_id: str
    caller: Peer = field(default_factory=lambda: Peer(_socket(), _socket(), ssrc=0x1111))
    callee: Peer = field(default_factory=lambda: Peer(_socket(), _socket(), ssrc=0x2222))

    @property
    def ports(self) -> list[int]:
        return [p.sip_port for p in (self.caller, self.callee)] + [
            p.media_port for p in (self.caller, self.callee)
        ]

    @property
    def bpf(self) -> str:
        return "udp and (" + " or ".join(f"port {port}" for port in self.ports) + ")"

    def _sip(self, sender: Peer, receiver: Peer, message: bytes) -> None:
        sender.sip.sendto(message, (LOCALHOST, receiver.sip_port))

    def invite(self) -> None:
        self._sip(
            self.caller,
            self.callee,
            sip_invite(self.call_id, media_ip=LOCALHOST, media_port=self.caller.media_port),
        )

    def answer(self) -> None:
        media = (LOCALHOST, self.callee.media_port)
        self._sip(self.callee, self.caller, sip_response(self.call_id, 200, media=media))
        self._sip(self.caller, self.callee, sip_request("ACK", self.call_id, cseq=1))

    def bye(self) -> None:
        self._sip(self.caller, self.callee, sip_request("BYE", self.call_id))

    def info_digit(self, digit: str, *, from_caller: bool) -> None:
        body = f"Signal={digit}\r\nDuration=160\r\n".encode()
        sender, receiver = (self.caller, self.callee) if from_caller else (self.callee, self.caller)
        message = sip_request(
            "INFO",
            self.call_id,
            from_caller=from_caller,
            body=body,
            content_type="application/dtmf-relay",
            cseq=3,
        )
        self._sip(sender, receiver, message)

    def audio(self, sender: Peer, payload: bytes) -> None:
        """One 20 ms PCMU packet from `sender` to the other peer's media port."""
        receiver = self.callee if sender is self.caller else self.caller
        packet = rtp(sender.seq, sender.ts, pt=0, ssrc=sender.ssrc, payload=payload)
        sender.media.sendto(packet, (LOCALHOST, receiver.media_port))
        sender.seq += 1
        sender.ts += PTIME_SAMPLES

    def event(self, sender: Peer, digit: int) -> None:
        """An RFC 4733 key press: start, then the end packet three times (section 2.5)."""
        receiver = self.callee if sender is self.caller else self.caller
        for index, (end, duration) in enumerate([(False, 160), (True, 320), (True, 320)]):
            payload = bytes([digit, (0x80 if end else 0) | 10]) + duration.to_bytes(2, "big")
            packet = rtp(
                sender.seq,
                sender.ts,
                pt=TELEPHONE_EVENT,
                ssrc=sender.ssrc,
                payload=payload,
                marker=index == 0,
            )
            sender.media.sendto(packet, (LOCALHOST, receiver.media_port))
            sender.seq += 1
        sender.ts += 320

    def talk(self, caller_audio: bytes, callee_audio: bytes, *, pace: float = 0.002) -> None:
        """Both directions, packet by packet, paced (faster than real time)."""
        for start in range(0, max(len(caller_audio), len(callee_audio)), PTIME_SAMPLES):
            if start < len(caller_audio):
                self.audio(self.caller, caller_audio[start : start + PTIME_SAMPLES])
            if start < len(callee_audio):
                self.audio(self.callee, callee_audio[start : start + PTIME_SAMPLES])
            time.sleep(pace)

    def close(self) -> None:
        for peer in (self.caller, self.callee):
            peer.sip.close()
            peer.media.close()
