"""Crafted live calls for LiveSession: SIP and G.711 RTP frames with chosen times, key
presses as RFC 4733 events, and eval-data captures replayed frame by frame."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from callvault.capture.live import LiveSession
from callvault.capture.net._pcap import iter_frames
from callvault.capture.net._rtp import TelephoneEvent
from capture_net._build import (
    CALLEE_MEDIA,
    CALLER_MEDIA,
    rtp,
    sip_invite,
    sip_request,
    sip_response,
    udp4,
)

T0 = 1_790_000_000.0
ANSWER_S = 0.5  # the 200 OK comes this long after the INVITE
SILENCE = b"\xff"  # mu-law 0xFF decodes to 0
EVENT_PT = 101
CALLER_SSRC = 0x1111
CALLEE_SSRC = 0x2222


def sip_frame(time: float, message: bytes, *, from_caller: bool = True) -> tuple[float, bytes]:
    ends = (
        ("10.0.0.1", 5060, "10.0.0.2", 5060)
        if from_caller
        else ("10.0.0.2", 5060, "10.0.0.1", 5060)
    )
    return time, udp4(*ends, message)


def crafted_call(
    call_id: str,
    *,
    caller_audio: bytes,
    callee_audio: bytes,
    presses: Iterable[tuple[float, str]] = (),
    bye: bool = True,
) -> list[tuple[float, bytes]]:
    """INVITE at T0, 200 OK at T0 + 0.5, then 20 ms G.711 packets both ways from the
    answer (packet i at T0 + 0.5 + 0.02 i), the caller pressing each (seconds after the
    answer, digit) as an RFC 4733 event of 100 ms in place of its audio, then a BYE."""
    frames = [
        sip_frame(T0, sip_invite(call_id)),
        sip_frame(T0 + ANSWER_S, sip_response(call_id, 200, media=CALLEE_MEDIA), from_caller=False),
    ]
    starts = {int(round(at / 0.02)): digit for at, digit in presses}
    count = max(len(caller_audio), len(callee_audio)) // 160
    event: tuple[int, str] | None = None  # (first packet index, digit)
    for index in range(count):
        time = T0 + ANSWER_S + index * 0.02
        if index in starts:
            event = (index, starts[index])
        if event is not None and index - event[0] < 5:
            first, digit = event
            body = bytes(
                TelephoneEvent(
                    "0123456789*#ABCD".index(digit),
                    index - first == 4,
                    10,
                    (index - first + 1) * 160,
                )
            )
            packet = rtp(index, first * 160, pt=EVENT_PT, ssrc=CALLER_SSRC, payload=body)
        else:
            chunk = caller_audio[index * 160 : (index + 1) * 160] or SILENCE * 160
            packet = rtp(index, index * 160, ssrc=CALLER_SSRC, payload=chunk)
        frames.append((time, udp4(*CALLER_MEDIA, *CALLEE_MEDIA, packet)))
        chunk = callee_audio[index * 160 : (index + 1) * 160] or SILENCE * 160
        packet = rtp(index, index * 160, ssrc=CALLEE_SSRC, payload=chunk)
        frames.append((time + 0.001, udp4(*CALLEE_MEDIA, *CALLER_MEDIA, packet)))
    if bye:
        end = T0 + ANSWER_S + count * 0.02 + 0.1
        frames.append(sip_frame(end, sip_request("BYE", call_id)))
    return frames


def play(
    session: LiveSession, frames: Iterable[tuple[float, bytes]], *, linktype: int = 1
) -> float:
    """Feed frames in time order, ticking as a capture loop would; returns the last time."""
    last = 0.0
    for time, data in frames:
        session.live_frames([(time, data)], linktype)
        session.tick(time)
        last = time
    return last


def replay(session: LiveSession, path: Path, *, shift: float = 0.0) -> float:
    """Every frame of a capture file, `shift` seconds later, through `play`."""
    last = 0.0
    for frame in iter_frames(path):
        session.live_frame(frame.time + shift, frame.linktype, frame.data)
        session.tick(frame.time + shift)
        last = frame.time + shift
    return last
