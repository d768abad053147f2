"""LiveSession fed frame by frame with chosen times (no socket, no root)."""

from __future__ import annotations

import ctypes.util
import os

import numpy as np
import pytest

from callvault.capture.live import (
    InviteInfo,
    LiveCapture,
    LiveNetworkCall,
    LiveSession,
    compile_filter,
)
from callvault.capture.net import END_BYE_CALLEE, END_CAPTURE_ENDED, END_REJECTED
from callvault.errors import CaptureError
from capture_live._peer import decoded, known_ulaw
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


def _sip(time: float, message: bytes, *, from_caller: bool = True) -> tuple[float, bytes]:
    ends = (
        ("10.0.0.1", 5060, "10.0.0.2", 5060)
        if from_caller
        else ("10.0.0.2", 5060, "10.0.0.1", 5060)
    )
    return time, udp4(*ends, message)


def _setup(session: LiveSession, call_id: str, at: float = T0) -> None:
    for time, frame in [
        _sip(at, sip_invite(call_id)),
        _sip(at + 0.5, sip_response(call_id, 200, media=CALLEE_MEDIA), from_caller=False),
    ]:
        session.live_frame(time, 1, frame)


def _talk(session: LiveSession, audio: bytes, start: float, *, tick: bool = True) -> float:
    """Caller -> callee PCMU every 20 ms from `start`, ticking as a capture loop would."""
    time = start
    for index in range(len(audio) // 160):
        packet = rtp(index, index * 160, payload=audio[index * 160 : (index + 1) * 160])
        session.live_frames([(time, udp4(*CALLER_MEDIA, *CALLEE_MEDIA, packet))], 1)
        if tick:
            session.tick(time)
        time = start + (index + 1) * 0.02
    return time


def test_a_long_call_comes_in_segments_that_chain_sample_exactly() -> None:
    delivered: list[LiveNetworkCall] = []
    session = LiveSession(delivered.append, segment_seconds=1.0)
    _setup(session, "long@test")
    audio = known_ulaw(8000 * 5, 20)
    end = _talk(session, audio, T0 + 1.0)
    session.live_frame(end, 1, _sip(end, sip_request("BYE", "long@test", from_caller=False))[1])
    session.tick(end + 1.0)
    assert [c.segment for c in delivered] == list(range(len(delivered)))
    assert len(delivered) >= 5 and [c.final for c in delivered].count(True) == 1
    assert delivered[-1].final and delivered[-1].end_reason == END_BYE_CALLEE
    assert all(c.end_reason is None and c.ended_at is None for c in delivered[:-1])
    # Each segment placed at its audio_started_at rebuilds the whole stream exactly.
    first = delivered[0].audio_started_at
    assert first is not None
    out = np.zeros(len(audio), dtype=np.int16)
    for segment in delivered:
        assert segment.audio_started_at is not None
        at = round((segment.audio_started_at - first).total_seconds() * 8000)
        (leg,) = segment.legs
        out[at : at + len(leg.pcm)] = leg.pcm
    np.testing.assert_array_equal(out, decoded(audio))
    assert session.calls == {} and session.routes == {} and session.dialogs == {}


def test_rtp_before_the_answer_waits_and_joins_its_call() -> None:
    delivered: list[LiveNetworkCall] = []
    session = LiveSession(delivered.append)
    session.live_frame(T0, 1, _sip(T0, sip_invite("early@test"))[1])
    audio = known_ulaw(1600, 21)
    # Caller -> callee media before the 200 OK says where the callee receives it.
    for index in range(10):
        packet = rtp(index, index * 160, ssrc=7, payload=audio[index * 160 : index * 160 + 160])
        session.live_frame(T0 + 0.1 + index * 0.02, 1, udp4("10.0.0.8", 8, "10.0.0.9", 9, packet))
    assert len(session.pending) == 1
    session.live_frame(
        T0 + 0.5,
        1,
        _sip(T0 + 0.5, sip_response("early@test", 200, media=("10.0.0.9", 9)), from_caller=False)[
            1
        ],
    )
    assert session.pending == {}
    session.finish_all(T0 + 1.0)
    (call,) = delivered
    assert call.end_reason == END_CAPTURE_ENDED
    (leg,) = call.legs
    assert leg.channel == 0
    np.testing.assert_array_equal(leg.pcm, decoded(audio))


def test_a_failing_decide_callback_fails_closed() -> None:
    delivered: list[LiveNetworkCall] = []

    def broken(invite: InviteInfo) -> bool:
        raise RuntimeError("policy store down")

    session = LiveSession(delivered.append, decide=broken)
    _setup(session, "closed@test")
    _talk(session, known_ulaw(800, 22), T0 + 1.0)
    session.finish_all(T0 + 2.0)
    assert delivered == [] and session.calls_refused == 1 and session.discarded_packets == 5


def test_a_rejected_call_is_delivered_without_audio() -> None:
    delivered: list[LiveNetworkCall] = []
    session = LiveSession(delivered.append)
    session.live_frame(T0, 1, _sip(T0, sip_invite("busy@test"))[1])
    session.live_frame(
        T0 + 1, 1, _sip(T0 + 1, sip_response("busy@test", 486), from_caller=False)[1]
    )
    session.tick(T0 + 1.2)
    assert delivered == []
    session.tick(T0 + 2.0)
    (call,) = delivered
    assert call.end_reason == f"{END_REJECTED}:486" and not call.has_audio and call.final


def test_options_are_checked() -> None:
    with pytest.raises(CaptureError) as caught:
        LiveCapture("lo", on_call=lambda call: None, withdraw_digit="99")
    assert str(caught.value) == "withdraw digit '99' is not a DTMF key; use one of 0-9 * # A-D"
    with pytest.raises(ValueError):
        LiveSession(lambda call: None, rtp_timeout=0)


def test_filters_are_compiled_by_libpcap() -> None:
    if ctypes.util.find_library("pcap") is None:
        message = "capture filters need libpcap: apt-get install -y libpcap0.8"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    program = compile_filter("udp port 5060")
    assert program[-1][0] == 0x06 and len(program) > 4  # ends with a return
    with pytest.raises(CaptureError) as caught:
        compile_filter("udp prot 5060")
    assert str(caught.value).startswith("capture filter 'udp prot 5060' does not compile: ")


def test_an_unknown_interface_is_named_in_the_error() -> None:
    with pytest.raises(CaptureError) as caught:
        LiveCapture("nosuchif0", on_call=lambda call: None).start()
    assert str(caught.value) == "no network interface 'nosuchif0'; check the name with `ip link`"
