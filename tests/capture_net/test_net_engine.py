"""The capture pipeline as a whole: bulk RTP path against the general path, progress,
several files as one capture, IPv6 media, RTP-only calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from callvault.capture.net import CaptureSession, read_captures
from callvault.capture.net._pcap import iter_frames
from capture_net._build import (
    CALLEE_MEDIA,
    CALLER_MEDIA,
    EVAL,
    call_frames,
    ether,
    ipv6,
    pcap,
    rtp,
    sdp,
    sip_invite,
    sip_request,
    sip_response,
    udp,
    udp4,
)

ROOT = Path(EVAL)


def test_bulk_rtp_path_gives_what_the_general_path_gives() -> None:
    # read_file picks plain RTP out in bulk; feed() sends every frame the general way.
    path = ROOT / "wireshark_samples/SIP_DTMF2.pcap"
    bulk = read_captures([path])
    general_session = CaptureSession()
    general_session.feed(str(path), iter_frames(path))
    general = general_session.finish()
    assert bulk.stats == general.stats
    assert bulk.streams and sorted(bulk.streams, key=repr) == sorted(general.streams, key=repr)
    assert [c.call_id for c in bulk.calls] == [c.call_id for c in general.calls]
    for ours, theirs in zip(bulk.calls, general.calls, strict=True):
        assert ours.dtmf == theirs.dtmf
        for leg, other in zip(ours.legs, theirs.legs, strict=True):
            assert leg.quality == other.quality
            assert np.array_equal(leg.pcm, other.pcm)


def test_progress_hook_reports_each_file() -> None:
    seen: list[tuple[str, int]] = []
    files = [ROOT / "pkts/sip_rtp.pcap", ROOT / "pkts/cancel.pcap"]
    result = read_captures(files, on_progress=lambda name, count: seen.append((name, count)))
    assert seen[-2:] == [(str(files[0]), 507), (str(files[1]), 514)]
    assert result.stats.files == 2
    assert {c.call_id for c in result.calls} == {
        c.call_id for f in files for c in read_captures([f]).calls
    }


def test_ipv6_media_is_mapped_by_its_sdp() -> None:
    offer = sip_invite("v6").replace(b"IN IP4 10.0.0.1", b"IN IP6 2001:db8::1")
    body = (
        sdp("x", 0).replace(b"IN IP4 x", b"IN IP6 2001:db8::2").replace(b"audio 0", b"audio 7000")
    )
    answer = (
        sip_response("v6", 200).replace(
            b"Content-Length: 0",
            b"Content-Type: application/sdp\r\nContent-Length: " + str(len(body)).encode(),
        )
        + body
    )

    def frame(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
        return ether(ipv6(src, dst, 17, udp(sport, dport, payload)), ethertype=0x86DD)

    frames = [
        (1.0, frame("2001:db8::1", 5060, "2001:db8::2", 5060, offer)),
        (1.1, frame("2001:db8::2", 5060, "2001:db8::1", 5060, answer)),
    ]
    frames += [
        (2.0 + 0.02 * n, frame("2001:db8::1", 4000, "2001:db8::2", 7000, rtp(n, 160 * n)))
        for n in range(20)
    ]
    session = CaptureSession()
    session.read_bytes(pcap(frames))
    (call,) = session.finish().calls
    assert call.call_id == "v6"
    (stream,) = call.streams
    assert (stream.dst, stream.dst_port, stream.channel) == ("2001:db8::2", 7000, 0)
    assert len(call.legs[0].pcm) == 20 * 160


def test_rtp_without_signalling_becomes_an_rtp_only_call() -> None:
    result = read_captures([ROOT / "sipp/g711a.pcap"])
    (call,) = result.calls
    assert call.call_id is None and call.caller.user is None
    assert [leg.codec for leg in call.legs] == ["PCMA"]
    assert len(call.legs[0].pcm) / call.sample_rate > 4.0
    assert call.end_reason == "capture_ended"


def test_symmetric_rtp_behind_nat_joins_the_call() -> None:
    # The callee is behind NAT: it sends from 203.0.113.9:40000, not the address of its
    # SDP, and the caller answers to that address. Only the callee's stream is named by
    # an SDP (it goes to the caller's); the caller's is its reverse.
    frames = call_frames("nat", [])
    frames += [
        (101.0 + 0.02 * n, udp4("203.0.113.9", 40000, *CALLER_MEDIA, rtp(n, 160 * n, ssrc=5)))
        for n in range(10)
    ]
    frames += [
        (101.01 + 0.02 * n, udp4(*CALLER_MEDIA, "203.0.113.9", 40000, rtp(n, 160 * n, ssrc=6)))
        for n in range(10)
    ]
    session = CaptureSession()
    session.read_bytes(pcap(sorted(frames, key=lambda f: f[0])))
    (call,) = session.finish().calls
    assert {(s.ssrc, s.channel, s.call_id) for s in call.streams} == {(5, 1, "nat"), (6, 0, "nat")}
    assert [leg.channel for leg in call.legs] == [0, 1]


def _rtp_frames(
    src: tuple[str, int], dst: tuple[str, int], start: float, count: int, *, ssrc: int
) -> list[tuple[float, bytes]]:
    return [
        (start + 0.02 * n, udp4(*src, *dst, rtp(n, 160 * n, ssrc=ssrc, pt=8))) for n in range(count)
    ]


def test_a_stray_stream_of_a_few_packets_is_not_a_call() -> None:
    frames = _rtp_frames(("10.9.0.1", 7000), ("10.9.0.2", 7002), 1.0, 6, ssrc=1)
    frames += _rtp_frames(("10.9.0.3", 8000), ("10.9.0.4", 8002), 1.0, 60, ssrc=2)
    session = CaptureSession()
    session.read_bytes(pcap(frames))
    result = session.finish()
    # The 6-packet stream (0.1 s) is still counted as a stream, but only the 60-packet
    # one (1.2 s) is a call.
    assert sorted(s.packets for s in result.streams) == [6, 60]
    (call,) = result.calls
    assert call.call_id is None and [s.ssrc for s in call.streams] == [2]
    assert result.stats.skipped["RTP too short for a call"] == 6
    assert result.stats.malformed == 0


def test_a_relayed_copy_of_a_dialogs_media_is_not_a_second_call() -> None:
    # An unanswered call with early media (180 with SDP, then CANCEL). A relay forwards
    # the callee's stream to the caller's phone on a hop no captured SDP names, keeping
    # its SSRC and sequence numbers; the phone answers on that hop with its own SSRC.
    caller_phone, relay_port = ("10.0.0.50", 7000), ("10.0.0.9", 6002)
    frames = [
        (100.0, udp4("10.0.0.1", 5060, "10.0.0.2", 5060, sip_invite("early"))),
        (
            100.2,
            udp4(
                "10.0.0.2", 5060, "10.0.0.1", 5060, sip_response("early", 180, media=CALLEE_MEDIA)
            ),
        ),
        (
            104.0,
            udp4("10.0.0.1", 5060, "10.0.0.2", 5060, sip_request("CANCEL", "early", cseq=1)),
        ),
    ]
    frames += _rtp_frames(CALLEE_MEDIA, CALLER_MEDIA, 100.5, 150, ssrc=7)
    frames += _rtp_frames(CALLER_MEDIA, CALLEE_MEDIA, 100.5, 150, ssrc=8)
    frames += _rtp_frames(relay_port, caller_phone, 100.501, 150, ssrc=7)
    frames += _rtp_frames(caller_phone, relay_port, 100.499, 150, ssrc=9)
    session = CaptureSession()
    session.read_bytes(pcap(sorted(frames, key=lambda f: f[0])))
    result = session.finish()
    (call,) = result.calls
    assert call.call_id == "early" and call.end_reason == "cancelled"
    assert len(result.streams) == 4
    assert {(s.ssrc, s.dst_port, s.channel) for s in call.streams} == {
        (7, 4000, 1),
        (8, 5000, 0),
        (7, 7000, 1),  # the relayed copy of the callee's stream
        (9, 6002, 0),  # the relay's hop the other way: the caller, already heard
    }
    assert all(s.call_id == "early" for s in result.streams)
    # The audio is taken once, from the streams the SDP names.
    assert [(leg.channel, leg.ssrcs) for leg in call.legs] == [(0, (8,)), (1, (7,))]
    assert all(len(leg.pcm) == 150 * 160 for leg in call.legs)


def test_the_relays_hop_is_a_leg_when_the_sdp_hop_lacks_that_direction() -> None:
    # Only the callee's stream is captured where the SDP names it; the caller's voice
    # is captured only on the relay's hop, the reverse of the callee's relayed copy.
    caller_phone, relay_port = ("10.0.0.50", 7000), ("10.0.0.9", 6002)
    frames = call_frames("hop", [], bye_at=110.0)
    frames += _rtp_frames(CALLEE_MEDIA, CALLER_MEDIA, 101.0, 100, ssrc=7)
    frames += _rtp_frames(relay_port, caller_phone, 101.001, 100, ssrc=7)
    frames += _rtp_frames(caller_phone, relay_port, 101.0, 100, ssrc=9)
    session = CaptureSession()
    session.read_bytes(pcap(sorted(frames, key=lambda f: f[0])))
    (call,) = session.finish().calls
    assert call.call_id == "hop"
    assert [(leg.channel, leg.ssrcs) for leg in call.legs] == [(0, (9,)), (1, (7,))]
    assert {(s.ssrc, s.dst_port, s.channel) for s in call.streams} == {
        (7, 4000, 1),
        (7, 7000, 1),
        (9, 6002, 0),
    }
