"""SIP and SDP parsing, dialog tracking (answer, end reasons, re-INVITE) and SIP INFO DTMF."""

from __future__ import annotations

import pytest

from callvault.capture.net import CaptureSession, NetworkCall
from callvault.capture.net._sip import NameAddress, SessionDescription, SipMessage, parse_dtmf_info
from callvault.errors import ParseError
from capture_net._build import (
    CALLEE_MEDIA,
    CALLER_MEDIA,
    call_frames,
    pcap,
    rtp,
    sdp,
    sip_invite,
    sip_request,
    sip_response,
    udp4,
)


def test_compact_headers_are_expanded() -> None:
    message = SipMessage.parse(sip_invite("abc@host", compact=True))
    assert message.method == "INVITE"
    assert message.call_id == "abc@host"
    assert message.from_.display_name == "Alice"
    assert message.from_.tag == "a1"
    assert message.to.user == "bob"
    assert message.content_type == "application/sdp"
    assert message.body.startswith(b"v=0")


def test_response_status_and_cseq() -> None:
    message = SipMessage.parse(sip_response("abc", 486, cseq="7 INVITE"))
    assert (message.status, message.is_request, message.cseq) == (486, False, (7, "INVITE"))


def test_unknown_method_is_a_generic_request() -> None:
    message = SipMessage.parse(sip_request("FROBNICATE", "abc"))
    assert message.method == "FROBNICATE"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"HELLO\r\n\r\n", "SIP message has no request or status line"),
        (b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n", "SIP message has no Call-ID header"),
        (b"SIP/2.0 200 OK\r\ni: x\r\n\r\n", "SIP message has no CSeq header"),
    ],
)
def test_bad_sip_messages_name_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(ParseError) as error:
        SipMessage.parse(data)
    assert str(error.value) == problem


def test_multipart_body_parts() -> None:
    body = (
        b"--XYZ\r\nContent-Type: application/sdp\r\n\r\n" + sdp("10.1.1.1", 7000) + b"\r\n"
        b"--XYZ\r\nContent-Type: application/rs-metadata+xml\r\n\r\n<x/>\r\n--XYZ--\r\n"
    )
    raw = sip_request("INVITE", "mp", body=body, content_type='multipart/mixed;boundary="XYZ"')
    parts = SipMessage.parse(raw).body_parts()
    assert [ctype for ctype, _ in parts] == ["application/sdp", "application/rs-metadata+xml"]
    media = SessionDescription.parse(parts[0][1]).media[0]
    assert (media.address, media.port) == ("10.1.1.1", 7000)


def test_sdp_media_attributes() -> None:
    text = (
        b"v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\na=sendonly\r\n"
        b"m=audio 49170 RTP/AVP 111 9 101\r\na=rtpmap:111 opus/48000/2\r\n"
        b"a=fmtp:111 useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"
        b"m=video 0 RTP/AVP 96\r\n"
    )
    description = SessionDescription.parse(text)
    audio, video = description.media
    assert audio.address == "2001:db8::1"
    assert audio.payload_types == (111, 9, 101)
    assert audio.rtpmap[111].encoding == "opus"
    assert (audio.rtpmap[111].clock_rate, audio.rtpmap[111].channels) == (48000, 2)
    assert audio.fmtp[111] == "useinbandfec=1"
    assert audio.direction == "sendonly"
    assert audio.ptime == 20
    assert (video.media, video.port) == ("video", 0)


@pytest.mark.parametrize(
    ("value", "display", "user", "e164"),
    [
        (
            '"Alice Smith" <sip:+44 20 7123 4567@x.org>;tag=9',
            "Alice Smith",
            "+44 20 7123 4567",
            "+442071234567",
        ),
        ("<sip:004930123456@x.org>", None, "004930123456", "+4930123456"),
        ("<tel:+15551234567>", None, "+15551234567", "+15551234567"),
        ("sip:5551234567@x.org;tag=1", None, "5551234567", None),  # national: not guessed
        ("Bob <sip:bob@x.org>", "Bob", "bob", None),
    ],
)
def test_name_address(value: str, display: str | None, user: str, e164: str | None) -> None:
    address = NameAddress.parse(value)
    assert (address.display_name, address.user, address.e164) == (display, user, e164)


def test_sip_info_dtmf_bodies() -> None:
    assert parse_dtmf_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n") == ("5", 0.16)
    assert parse_dtmf_info("application/dtmf-relay", b"Signal= #\r\n") == ("#", None)
    assert parse_dtmf_info("application/dtmf", b"11") == ("#", None)
    assert parse_dtmf_info("application/dtmf-relay", b"Signal=Z") is None


def _session(frames: list[tuple[float, bytes]]) -> list[NetworkCall]:
    session = CaptureSession()
    session.read_bytes(pcap(frames))
    return list(session.finish().calls)


def test_call_metadata_answer_bye_and_info_dtmf() -> None:
    info = sip_request(
        "INFO",
        "meta",
        from_caller=True,
        body=b"Signal=7\r\nDuration=250\r\n",
        content_type="application/dtmf-relay",
        cseq=3,
    )
    frames = call_frames("meta", [], bye_at=110.0)
    frames.append((104.0, udp4("10.0.0.1", 5060, "10.0.0.2", 5060, info)))
    frames.append(
        (110.0, udp4("10.0.0.2", 5060, "10.0.0.1", 5060, sip_response("meta", 200, cseq="2 BYE")))
    )
    (call,) = _session(sorted(frames, key=lambda f: f[0]))
    assert call.caller.display_name == "Alice"
    assert call.caller.e164 == "+441234567890"
    assert call.callee.user == "bob"
    assert call.user_agents == ("TestPhone 1.0", "TestPBX")
    assert call.started_at is not None and call.started_at.timestamp() == 100.0
    assert call.answered_at is not None and call.answered_at.timestamp() == 100.5
    assert call.ended_at is not None and call.ended_at.timestamp() == 110.0
    assert call.end_reason == "bye_caller"
    assert [(d.digit, d.start, d.duration, d.source) for d in call.dtmf] == [
        ("7", 4.0, 0.25, "sip-info")
    ]


def test_bye_from_callee_cancel_and_rejection() -> None:
    frames = call_frames("by-callee", [])
    frames.append(
        (
            120.0,
            udp4(
                "10.0.0.2",
                5060,
                "10.0.0.1",
                5060,
                sip_request("BYE", "by-callee", from_caller=False),
            ),
        )
    )
    (call,) = _session(frames)
    assert call.end_reason == "bye_callee"

    cancel = [
        (1.0, udp4("10.0.0.1", 5060, "10.0.0.2", 5060, sip_invite("c"))),
        (2.0, udp4("10.0.0.1", 5060, "10.0.0.2", 5060, sip_request("CANCEL", "c", cseq=1))),
        (2.1, udp4("10.0.0.2", 5060, "10.0.0.1", 5060, sip_response("c", 487))),
    ]
    (call,) = _session(cancel)
    assert (call.end_reason, call.answered_at) == ("cancelled", None)
    assert call.ended_at is not None and call.ended_at.timestamp() == 2.0

    busy = [
        (1.0, udp4("10.0.0.1", 5060, "10.0.0.2", 5060, sip_invite("b"))),
        (1.5, udp4("10.0.0.2", 5060, "10.0.0.1", 5060, sip_response("b", 407))),
        (2.0, udp4("10.0.0.1", 5060, "10.0.0.2", 5060, sip_invite("b", cseq=2))),
        (2.5, udp4("10.0.0.2", 5060, "10.0.0.1", 5060, sip_response("b", 486, cseq="2 INVITE"))),
    ]
    (call,) = _session(busy)
    assert call.end_reason == "rejected:486"


def test_capture_ended_without_bye() -> None:
    (call,) = _session(call_frames("open", [(101.0, rtp(1, 160))]))
    assert call.end_reason == "capture_ended"


def test_rtp_timeout_when_media_stops_long_before_the_capture_ends() -> None:
    frames = call_frames("quiet", [(101.0 + 0.02 * n, rtp(n, 160 * n)) for n in range(50)])
    later = sip_request("OPTIONS", "unrelated-keepalive", cseq=1)
    frames.append((200.0, udp4("10.0.0.9", 5060, "10.0.0.2", 5060, later)))
    (call,) = _session(frames)
    assert call.end_reason == "rtp_timeout"
    assert call.ended_at is not None and call.ended_at.timestamp() == pytest.approx(101.98)


def test_reinvite_moves_the_media() -> None:
    new_port = 6000
    frames = call_frames("move", [(101.0 + 0.02 * n, rtp(n, 160 * n)) for n in range(10)])
    reinvite = sip_request(
        "INVITE",
        "move",
        from_caller=False,
        body=sdp(CALLEE_MEDIA[0], new_port),
        content_type="application/sdp",
        cseq=5,
    )
    frames.append((102.0, udp4("10.0.0.2", 5060, "10.0.0.1", 5060, reinvite)))
    # After the re-INVITE the caller sends to the callee's new port; a different SSRC.
    frames += [
        (103.0 + 0.02 * n, udp4(*CALLER_MEDIA, CALLEE_MEDIA[0], new_port, rtp(n, 160 * n, ssrc=77)))
        for n in range(10)
    ]
    (call,) = _session(sorted(frames, key=lambda f: f[0]))
    assert [s.dst_port for s in call.streams] == [CALLEE_MEDIA[1], new_port]
    assert {s.channel for s in call.streams} == {0}
    assert call.legs[0].ssrcs == (0x1234, 77)


def test_sip_message_round_trip() -> None:
    message = SipMessage.parse(sip_invite("round@trip", compact=True))
    again = SipMessage.parse(bytes(message))
    assert again == message
    response = SipMessage.parse(sip_response("round@trip", 486))
    assert SipMessage.parse(bytes(response)) == response
