"""RTP ordering, loss, duplicates, SSRC changes, timestamp jumps and jitter, on hand-built
packets going through the whole pipeline (capture bytes in, legs out)."""

from __future__ import annotations

import numpy as np
import pytest

from callvault.capture.net import CaptureSession, NetworkCall
from callvault.capture.net._rtp import RtpHeader, TelephoneEvent
from callvault.capture.net._stream import RtpStream, analyse
from callvault.errors import ParseError
from capture_net._build import call_frames, pcap, rtp

SOUND = b"\x80" * 160  # PCMU 0x80 decodes to +32124: loud, never mistaken for silence
PT_PCMU = 0


def _call(packets: list[tuple[float, bytes]], **kwargs: object) -> NetworkCall:
    session = CaptureSession()
    session.read_bytes(pcap(call_frames("call-1", packets, **kwargs)))  # type: ignore[arg-type]
    result = session.finish()
    assert [c.call_id for c in result.calls] == ["call-1"]
    return result.calls[0]


def _packets(seqs: list[int], *, start_seq: int = 0, ssrc: int = 0x1234, t0: float = 101.0):
    """RTP every 20 ms; `seqs` are offsets from `start_seq` (arrival follows list order
    except that each packet arrives at its own send time)."""
    return [
        (t0 + 0.02 * n, rtp(start_seq + n, 1000 + 160 * n, ssrc=ssrc, payload=SOUND)) for n in seqs
    ]


def test_sequence_wrap_around_is_in_order_without_loss() -> None:
    call = _call(_packets(list(range(12)), start_seq=65530))
    leg = call.legs[0]
    assert leg.channel == 0
    assert leg.quality is not None
    assert (leg.quality.packets_expected, leg.quality.packets_lost) == (12, 0)
    assert len(leg.pcm) == 12 * 160
    assert np.all(leg.pcm == 32124)


def test_reordered_packets_across_the_wrap_are_played_in_sequence_order() -> None:
    # Each packet carries its own byte, so a wrong order would show in the audio.
    distinct = [
        (t, data[:12] + bytes([0x80 + i]) * 160)
        for i, (t, data) in enumerate(_packets(list(range(12)), start_seq=65530))
    ]
    swapped = list(distinct)
    swapped[5], swapped[6] = (distinct[5][0], distinct[6][1]), (distinct[6][0], distinct[5][1])
    leg = _call(swapped).legs[0]
    in_order = _call(distinct).legs[0]
    assert leg.quality is not None and leg.quality.packets_lost == 0
    assert len(set(in_order.pcm.tolist())) == 12
    assert np.array_equal(leg.pcm, in_order.pcm)


def test_duplicates_are_dropped_and_counted() -> None:
    packets = _packets(list(range(10)))
    packets.insert(4, (packets[3][0] + 0.001, packets[3][1]))
    leg = _call(packets).legs[0]
    assert leg.quality is not None
    assert (leg.quality.packets_received, leg.quality.duplicates) == (10, 1)
    assert len(leg.pcm) == 10 * 160


def test_lost_packets_are_concealed_with_silence_and_counted() -> None:
    packets = [p for n, p in enumerate(_packets(list(range(50)))) if n not in (10, 11)]
    leg = _call(packets).legs[0]
    assert leg.quality is not None
    assert (leg.quality.packets_expected, leg.quality.packets_lost) == (50, 2)
    assert leg.quality.loss_percent == pytest.approx(4.0)
    assert len(leg.pcm) == 50 * 160
    assert np.all(leg.pcm[10 * 160 : 12 * 160] == 0)
    assert np.all(leg.pcm[: 10 * 160] == 32124) and np.all(leg.pcm[12 * 160 :] == 32124)
    assert leg.quality.longest_gap_ms == pytest.approx(60.0, abs=0.01)


def test_new_ssrc_continues_the_leg_in_time() -> None:
    first = _packets(list(range(50)), ssrc=1)
    # The sender restarts: new SSRC, unrelated sequence and timestamp bases.
    second = [
        (101.0 + 0.02 * (50 + n), rtp(30000 + n, 777_777 + 160 * n, ssrc=2, payload=SOUND))
        for n in range(50)
    ]
    leg = _call(first + second).legs[0]
    assert leg.ssrcs == (1, 2)
    assert len(leg.pcm) == pytest.approx(100 * 160, abs=2)
    assert np.count_nonzero(leg.pcm == 32124) >= 100 * 160 - 2


def test_timestamp_jump_does_not_become_a_giant_silence() -> None:
    packets = _packets(list(range(20)))
    jumped = [
        (101.0 + 0.02 * n, rtp(n, 1000 + 160 * n + 900_000_000, payload=SOUND))
        for n in range(20, 40)
    ]
    leg = _call(packets + jumped).legs[0]
    assert len(leg.pcm) == pytest.approx(40 * 160, abs=2)
    assert leg.quality is not None and leg.quality.packets_lost == 0


def test_rfc3550_jitter_on_a_known_arrival_pattern() -> None:
    # Sent every 20 ms; every other packet arrives 10 ms late, so |D| is 10 ms (80 ticks)
    # between any two neighbours and J follows J += (80 - J) / 16 from 0.
    stream = RtpStream(b"\x0a\x00\x00\x01", 4000, b"\x0a\x00\x00\x02", 5000, 1)
    for n in range(200):
        stream.add(1.0 + 0.02 * n + (0.01 if n % 2 else 0.0), rtp(n, 160 * n, payload=SOUND))
    analysis = analyse(stream, {PT_PCMU}, 8000)
    jitter = 0.0
    values = []
    for _ in range(199):
        jitter += (80.0 - jitter) / 16.0
        values.append(jitter)
    assert analysis.jitter_final_ms == pytest.approx(jitter / 8.0, rel=1e-6)
    assert analysis.jitter_mean_ms == pytest.approx(float(np.mean(values)) / 8.0, rel=1e-6)
    assert analysis.jitter_max_ms == pytest.approx(max(values) / 8.0, rel=1e-6)


def test_both_directions_become_channel_0_caller_and_1_callee() -> None:
    quiet = b"\xf0" * 160
    back = [(101.0 + 0.02 * n, rtp(n, 160 * n, ssrc=99, payload=quiet)) for n in range(10)]
    call = _call(_packets(list(range(10))), reverse=back, bye_at=105.0)
    assert [leg.channel for leg in call.legs] == [0, 1]
    stereo = call.stereo_pcm()
    assert stereo.shape == (10 * 160, 2)
    assert np.all(stereo[:, 0] == 32124)
    assert np.all(stereo[:, 1] != 32124)
    assert call.end_reason == "bye_caller"


def test_rtp_header_and_telephone_event_round_trip() -> None:
    packet = rtp(
        65535, 0xFFFFFFFF, pt=101, ssrc=0xDEADBEEF, payload=b"\x05\x8a\x03\x20", marker=True
    )
    header = RtpHeader.parse(packet)
    assert (header.marker, header.payload_type, header.sequence) == (True, 101, 65535)
    assert (header.timestamp, header.ssrc) == (0xFFFFFFFF, 0xDEADBEEF)
    assert bytes(header) == packet[:12]
    event = TelephoneEvent.parse(packet[header.payload_start : header.payload_end])
    assert (event.digit, event.end, event.volume, event.duration) == ("5", True, 10, 800)
    assert bytes(event) == packet[12:]


@pytest.mark.parametrize(
    ("packet", "problem"),
    [
        (b"\x80\x00", "RTP packet is 2 bytes, shorter than the 12-byte header"),
        (b"\x40" + b"\x00" * 11, "RTP packet has version 1, not 2"),
        (b"\x90" + b"\x00" * 11, "RTP header extension is truncated"),
        (
            b"\xa0" + b"\x00" * 10 + b"\x20",
            "RTP header, extension and padding are longer than the packet",
        ),
    ],
)
def test_bad_rtp_packets_name_the_problem(packet: bytes, problem: str) -> None:
    with pytest.raises(ParseError) as error:
        RtpHeader.parse(packet)
    assert str(error.value) == problem
