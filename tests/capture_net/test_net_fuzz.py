"""Mutation fuzzing: 100,000+ damaged packets derived from the eval captures.

A seeded mutator (bit flips, truncation, byte insertion, interesting values, slice
duplication) is used instead of hypothesis so that the run stays well under 30 s. The
packet decoder and the capture session's datagram handler are called directly, without
the per-frame safety net in `CaptureSession.feed`, so a bug cannot hide behind it; the
wire-format parsers may raise only `ParseError`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from callvault.capture.net import CaptureSession
from callvault.capture.net._packet import PacketDecoder
from callvault.capture.net._pcap import iter_frames, iter_frames_from_buffer
from callvault.capture.net._rtp import RtpHeader, TelephoneEvent, is_rtcp, split_rtcp
from callvault.capture.net._sip import SessionDescription, SipMessage, parse_dtmf_info
from callvault.errors import CaptureError, ParseError
from capture_net._build import EVAL

ROOT = Path(EVAL)
SEED = 20261123
FRAMES_PER_ROUND = 40_000
PAYLOADS_PER_KIND = 20_000


def _seeds() -> tuple[list[tuple[int, bytes]], list[bytes], list[bytes], list[bytes]]:
    frames: list[tuple[int, bytes]] = []
    sip: list[bytes] = []
    sdp: list[bytes] = []
    rtp: list[bytes] = []
    for path in sorted(ROOT.rglob("*.pcap*")):
        decoder = PacketDecoder()
        for frame in iter_frames(path):
            frames.append((frame.linktype, frame.data))
            for datagram in decoder.decode(frame.time, frame.linktype, frame.data):
                payload = datagram.payload
                if payload[:1].isupper():
                    sip.append(payload)
                    body = payload.partition(b"\r\n\r\n")[2]
                    if body.startswith(b"v=0"):
                        sdp.append(body)
                elif payload and payload[0] >> 6 == 2 and len(rtp) < 5000:
                    rtp.append(payload)
    assert len(frames) > 10_000 and len(sip) > 100 and len(sdp) > 20 and len(rtp) > 1000
    return frames, sip, sdp, rtp


def _mutator(rng: random.Random) -> Callable[[bytes], bytes]:
    def mutate(data: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            if not out:
                out += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif op < 0.4:
                for _ in range(rng.randint(1, 4)):
                    i = rng.randrange(len(out))
                    out[i] ^= 1 << rng.randrange(8)
            elif op < 0.6:
                del out[rng.randrange(len(out)) :]
            elif op < 0.75:
                i = rng.randrange(len(out) + 1)
                out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif op < 0.9:
                out[rng.randrange(len(out))] = rng.choice((0, 0xFF, 0x7F, 0x80, 0x0D, 0x0A))
            else:
                i = rng.randrange(len(out))
                out[i:i] = out[i : i + rng.randint(1, 64)]
        return bytes(out)

    return mutate


def test_mutated_packets_never_raise_unexpected_errors() -> None:
    rng = random.Random(SEED)
    mutate = _mutator(rng)
    frames, sip, sdp, rtp = _seeds()
    checked = 0

    # 1. Whole frames through the link/IP/UDP/TCP/SCTP decoder and the session.
    session = CaptureSession()
    decoder = PacketDecoder()
    for n in range(FRAMES_PER_ROUND):
        linktype, data = rng.choice(frames)
        for datagram in decoder.decode(1000.0 + n * 0.001, linktype, mutate(data)):
            session.datagram(datagram)
        checked += 1
    result = session.finish()  # maps, decodes and measures whatever streams survived
    assert result.stats.datagrams > 0

    # 2. SIP messages, and what the dialog code reads from them.
    for _ in range(PAYLOADS_PER_KIND):
        try:
            message = SipMessage.parse(mutate(rng.choice(sip)))
        except ParseError:
            pass
        else:
            _ = (message.call_id, message.cseq, message.from_.e164, message.to.tag)
            for ctype, body in message.body_parts():
                parse_dtmf_info(ctype, body)
            CaptureSession().sip(message, 1.0)
        checked += 1

    # 3. SDP bodies.
    for _ in range(PAYLOADS_PER_KIND):
        try:
            SessionDescription.parse(mutate(rng.choice(sdp)))
        except ParseError:
            pass
        checked += 1

    # 4. RTP/RTCP packets and RFC 4733 payloads.
    for _ in range(PAYLOADS_PER_KIND):
        packet = mutate(rng.choice(rtp))
        try:
            if is_rtcp(packet):
                split_rtcp(packet)
            else:
                header = RtpHeader.parse(packet)
                TelephoneEvent.parse(packet[header.payload_start : header.payload_end])
        except ParseError:
            pass
        checked += 1

    assert checked >= 100_000


def test_mutated_capture_files_never_raise_beyond_a_capture_error() -> None:
    rng = random.Random(SEED + 1)
    mutate = _mutator(rng)
    files = [p.read_bytes() for p in sorted(ROOT.rglob("*.pcap*")) if p.stat().st_size < 60_000]
    for _ in range(300):
        data = mutate(rng.choice(files))
        session = CaptureSession()
        try:
            session.read_bytes(data)
        except CaptureError:
            continue  # the file header itself was destroyed: a clear error is right
        session.finish()
    assert list(iter_frames_from_buffer(files[0]))
