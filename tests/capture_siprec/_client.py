"""A scripted SIPREC client (SRC) for the server tests: SIP over a UDP or TCP socket,
RTP from its own UDP sockets, everything on 127.0.0.1 and bounded in time."""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import socket
import struct
from dataclasses import dataclass, field

import av
import numpy as np
import numpy.typing as npt

from callvault.capture.net._sip import SessionDescription, SipMessage

HOST = "127.0.0.1"
TIMEOUT = 5.0
BOUNDARY = "callvault-test-boundary"
# Fictional numbers (the 555-01xx block is reserved for fiction).
CALLER_AOR = "sip:+14155550100@pbx.example.com"
CALLEE_AOR = "sip:+14155550199@pbx.example.com"
CALLER_NAME = "Alice Example"
CALLEE_NAME = "Bob Example"


@functools.cache
def rtp_port_range() -> tuple[int, int]:
    """A per-process RTP range above Linux's ephemeral ports (32768-60999), so parallel
    test runs do not collide, nor meet the RTP other tests and benches send to fixed
    ports lower down (bench/capture_live.py sends from 30000 up). The first block of 40
    from the process's own offset on whose every port UDP binds now: another run that
    holds ports in the same block moves this one to the next."""
    for step in range(100):
        base = 61000 + ((os.getpid() + step) % 100) * 40
        if all(_udp_free(port) for port in range(base, base + 40)):
            return base, base + 39
    raise RuntimeError("no free block of 40 UDP ports in 61000-64999")


def _udp_free(port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((HOST, port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def audio(seconds: float, seed: int) -> npt.NDArray[np.int16]:
    """Known audio: a tone sweep plus noise, 8 kHz int16 (a whole number of packets)."""
    count = int(seconds * 50) * 160
    t = np.arange(count) / 8000.0
    rng = np.random.default_rng(seed)
    wave = 6000 * np.sin(2 * np.pi * (300 + 200 * seed) * t) + rng.normal(0, 1500, count)
    return np.clip(wave, -32768, 32767).astype(np.int16)


def g711_encode(pcm: npt.NDArray[np.int16], codec: str) -> bytes:
    """ffmpeg's G.711 encoder (independent of callvault's decoder tables)."""
    context = av.CodecContext.create("pcm_mulaw" if codec == "PCMU" else "pcm_alaw", "w")
    context.sample_rate = 8000
    context.layout = "mono"
    context.format = "s16"
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 8000
    frame.pts = 0
    packets = list(context.encode(frame)) + list(context.encode(None))
    return b"".join(bytes(p) for p in packets)


def g711_decode(data: bytes, codec: str) -> npt.NDArray[np.int16]:
    context = av.CodecContext.create("pcm_mulaw" if codec == "PCMU" else "pcm_alaw", "r")
    context.sample_rate = 8000
    context.layout = "mono"
    frames = context.decode(av.Packet(data))
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)


def sdp(
    ports: list[int], codec: str, *, version: int = 1, labels: tuple[str, ...] = ("1", "2")
) -> str:
    pt = 0 if codec == "PCMU" else 8
    lines = [
        "v=0",
        f"o=src 4242 {version} IN IP4 {HOST}",
        "s=-",
        f"c=IN IP4 {HOST}",
        "t=0 0",
    ]
    for port, label in zip(ports, labels, strict=True):
        lines += [
            f"m=audio {port} RTP/AVP {pt} 101",
            f"a=rtpmap:{pt} {codec}/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            f"a=label:{label}",
            "a=sendonly",
        ]
    return "\r\n".join(lines) + "\r\n"


def metadata(*, callee_first: bool = False) -> str:
    """RFC 7865 metadata: the caller sends stream label 1, the callee label 2."""
    marker = (
        "<extensiondata><apkt:callingParty xmlns:apkt='urn:x'>true</apkt:callingParty>"
        "</extensiondata>"
    )
    caller = f"""<participant participant_id="p-caller">
<nameID aor="{CALLER_AOR}"><name>{CALLER_NAME}</name></nameID>
{marker if callee_first else ""}
</participant>"""
    callee = f"""<participant participant_id="p-callee">
<nameID aor="{CALLEE_AOR}"><name>{CALLEE_NAME}</name></nameID>
</participant>"""
    people = callee + caller if callee_first else caller + callee
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
<datamode>complete</datamode>
<session session_id="s-1"><sipSessionID>abc</sipSessionID></session>
{people}
<stream stream_id="st-1" session_id="s-1"><label>1</label></stream>
<stream stream_id="st-2" session_id="s-1"><label>2</label></stream>
<participantstreamassoc participant_id="p-caller">
<send>st-1</send><recv>st-2</recv></participantstreamassoc>
<participantstreamassoc participant_id="p-callee">
<send>st-2</send><recv>st-1</recv></participantstreamassoc>
</recording>
"""


def multipart(sdp_text: str, metadata_text: str) -> str:
    return (
        f"--{BOUNDARY}\r\nContent-Type: application/sdp\r\n\r\n{sdp_text}\r\n"
        f"--{BOUNDARY}\r\nContent-Type: application/rs-metadata+xml\r\n"
        f"Content-Disposition: recording-session\r\n\r\n{metadata_text}\r\n"
        f"--{BOUNDARY}--\r\n"
    )


@dataclass
class Dialog:
    call_id: str = field(default_factory=lambda: secrets.token_hex(8) + "@src.example")
    from_tag: str = field(default_factory=lambda: secrets.token_hex(4))
    to_tag: str | None = None
    cseq: int = 0


class SipClient:
    """One SIP socket (UDP or TCP) talking to the server; responses are read in order."""

    def __init__(self, server: tuple[str, int], transport: str = "UDP") -> None:
        self.server = server
        self.transport = transport
        self.sock: socket.socket | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.local: tuple[str, int] = (HOST, 0)

    async def open(self) -> None:
        if self.transport == "UDP":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((HOST, 0))
            self.sock.setblocking(False)
            self.local = self.sock.getsockname()
        else:
            self.reader, self.writer = await asyncio.open_connection(*self.server)
            self.local = self.writer.get_extra_info("sockname")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.writer is not None:
            self.writer.close()

    async def send_raw(self, data: bytes) -> None:
        if self.sock is not None:
            await asyncio.get_running_loop().sock_sendto(self.sock, data, self.server)
        else:
            assert self.writer is not None
            self.writer.write(data)
            await self.writer.drain()

    async def receive_raw(self, timeout: float = TIMEOUT) -> bytes:
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        data, _ = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 65535), timeout)
        return bytes(data)

    async def receive(self, timeout: float = TIMEOUT) -> SipMessage:
        if self.sock is not None:
            loop = asyncio.get_running_loop()
            data, _ = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 65535), timeout)
            return SipMessage.parse(data)
        assert self.reader is not None
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        message = SipMessage.parse(head)
        length = int(message.header("content-length") or 0)
        body = await asyncio.wait_for(self.reader.readexactly(length), timeout) if length else b""
        return SipMessage.parse(head + body)

    async def final(self, timeout: float = TIMEOUT) -> SipMessage:
        """The next response that is not 1xx."""
        while True:
            message = await self.receive(timeout)
            if message.status is not None and message.status >= 200:
                return message

    def request(
        self,
        method: str,
        dialog: Dialog,
        *,
        body: str = "",
        content_type: str | None = None,
        siprec: bool = True,
        branch: str | None = None,
        cseq: int | None = None,
        extra: tuple[str, ...] = (),
    ) -> tuple[bytes, str]:
        if cseq is None:
            dialog.cseq += 1
            cseq = dialog.cseq
        branch = branch or "z9hG4bK" + secrets.token_hex(6)
        to_tag = f";tag={dialog.to_tag}" if dialog.to_tag else ""
        host, port = self.local
        lines = [
            f"{method} sip:srs@{self.server[0]}:{self.server[1]} SIP/2.0",
            f"Via: SIP/2.0/{self.transport} {host}:{port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:src@{host}>;tag={dialog.from_tag}",
            f"To: <sip:srs@{self.server[0]}>{to_tag}",
            f"Call-ID: {dialog.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:src@{host}:{port}>" + (";+sip.src" if siprec else ""),
            *(["Require: siprec"] if siprec and method == "INVITE" else []),
            *extra,
        ]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        data = body.encode()
        lines.append(f"Content-Length: {len(data)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + data, branch

    async def send(self, method: str, dialog: Dialog, **kwargs: object) -> str:
        data, branch = self.request(method, dialog, **kwargs)  # type: ignore[arg-type]
        await self.send_raw(data)
        return branch


class RtpSender:
    """One RTP stream from its own socket: audio packets and RFC 4733 events."""

    def __init__(self, ssrc: int, destination: tuple[str, int], source: str = HOST) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.destination = destination
        self.ssrc = ssrc
        self.seq = 1000 + ssrc % 1000
        self.ts = 160000
        self.sent = 0

    def _packet(self, pt: int, payload: bytes, ts: int, marker: bool = False) -> bytes:
        header = struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq & 0xFFFF, ts, self.ssrc
        )
        self.seq += 1
        return header + payload

    def audio(self, pt: int, payload: bytes) -> None:
        self.sock.sendto(self._packet(pt, payload, self.ts), self.destination)
        self.ts += len(payload)
        self.sent += 1

    def dtmf(self, digit: str, pt: int = 101) -> None:
        """An RFC 4733 event: three updates, then the end packet three times."""
        event = "0123456789*#ABCD".index(digit)
        for step in range(1, 4):
            payload = struct.pack("!BBH", event, 10, step * 160)
            self.sock.sendto(self._packet(pt, payload, self.ts, step == 1), self.destination)
        for _ in range(3):
            payload = struct.pack("!BBH", event, 0x80 | 10, 640)
            self.sock.sendto(self._packet(pt, payload, self.ts), self.destination)
        self.sent += 6

    def close(self) -> None:
        self.sock.close()


def answer_ports(message: SipMessage) -> list[int]:
    return [m.port for m in SessionDescription.parse(message.body).media]
