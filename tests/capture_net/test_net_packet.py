"""Capture formats, link types, IP fragment and TCP stream reassembly on hand-built frames."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from callvault.capture.net import CaptureSession, read_captures
from callvault.capture.net._packet import PacketDecoder
from callvault.capture.net._pcap import iter_frames_from_buffer
from callvault.errors import CaptureError
from capture_net._build import (
    checksum_free_ipv4,
    ether,
    ip,
    ipv6,
    pcap,
    pcapng,
    sip_invite,
    tcp,
    udp,
    udp4,
)

INVITE = sip_invite("frag-call@example.org")


def _calls(data: bytes) -> list[str | None]:
    session = CaptureSession()
    session.read_bytes(data)
    return [call.call_id for call in session.finish().calls]


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(big_endian: bool, nano: bool) -> None:
    frame = udp4("10.0.0.1", 5060, "10.0.0.2", 5060, INVITE)
    data = pcap([(1700000000.123456, frame)], big_endian=big_endian, nano=nano)
    frames = list(iter_frames_from_buffer(data))
    assert len(frames) == 1
    assert frames[0].time == pytest.approx(1700000000.123456, abs=1e-6)
    assert frames[0].data == frame
    assert _calls(data) == ["frag-call@example.org"]


def test_pcapng_interfaces_with_their_own_link_types_and_resolutions() -> None:
    eth = udp4("10.0.0.1", 5060, "10.0.0.2", 5060, INVITE)
    raw = checksum_free_ipv4("10.0.0.1", "10.0.0.2", 17, udp(5060, 5060, sip_invite("raw-call")))
    data = pcapng([(1, None), (101, 9)], [(0, 1000.5, eth), (1, 2000.25, raw)])
    frames = list(iter_frames_from_buffer(data))
    assert [(f.linktype, round(f.time, 6)) for f in frames] == [(1, 1000.5), (101, 2000.25)]
    assert sorted(_calls(data)) == ["frag-call@example.org", "raw-call"]


@pytest.mark.parametrize("linktype", [12, 14, 101, 113, 276])
def test_raw_ip_and_linux_cooked_link_types(linktype: int) -> None:
    packet = checksum_free_ipv4("10.0.0.1", "10.0.0.2", 17, udp(5060, 5060, INVITE))
    if linktype == 113:  # SLL: packet type, ARPHRD, address length, address, protocol
        packet = struct.pack("!HHH8sH", 0, 1, 6, b"\x00" * 8, 0x0800) + packet
    elif linktype == 276:  # SLL2: protocol, reserved, ifindex, ARPHRD, type, len, address
        packet = struct.pack("!HHIHBB8s", 0x0800, 0, 1, 1, 0, 6, b"\x00" * 8) + packet
    assert _calls(pcap([(1.0, packet)], linktype=linktype)) == ["frag-call@example.org"]


def test_vlan_and_qinq_tags_are_skipped() -> None:
    packet = checksum_free_ipv4("10.0.0.1", "10.0.0.2", 17, udp(5060, 5060, INVITE))
    frame = ether(packet, vlans=[100, 200])
    assert _calls(pcap([(1.0, frame)])) == ["frag-call@example.org"]


def test_ipv4_fragments_are_reassembled_in_any_order() -> None:
    datagram = udp(5060, 5060, INVITE)
    pieces = [datagram[i : i + 200] for i in range(0, len(datagram), 200)]
    frames = []
    for n, piece in enumerate(pieces):
        more = n < len(pieces) - 1
        packet = checksum_free_ipv4(
            "10.0.0.1", "10.0.0.2", 17, piece, ident=7, offset=200 * n, more=more
        )
        frames.append((1.0 + n, ether(packet)))
    frames.reverse()
    assert _calls(pcap(frames)) == ["frag-call@example.org"]


def test_ipv6_fragment_header_and_extension_headers() -> None:
    datagram = udp(5060, 5060, INVITE)
    half = (len(datagram) // 2) // 8 * 8
    frames = []
    for offset, piece, more in ((0, datagram[:half], 1), (half, datagram[half:], 0)):
        # Hop-by-hop options (8 bytes), then the fragment header (RFC 8200 section 4.5).
        hop = struct.pack("!BB6x", 44, 0)
        fragment = struct.pack("!BBHI", 17, 0, offset | more, 99)
        frames.append(
            (1.0, ether(ipv6("fe80::1", "fe80::2", 0, hop + fragment + piece), ethertype=0x86DD))
        )
    assert _calls(pcap(frames)) == ["frag-call@example.org"]


def _tcp_frames(
    segments: list[tuple[int, bytes]], *, syn_seq: int = 1000
) -> list[tuple[float, bytes]]:
    frames = [
        (
            1.0,
            ether(
                checksum_free_ipv4(
                    "10.0.0.1", "10.0.0.2", 6, tcp(40000, 5060, syn_seq, b"", flags=0x02)
                )
            ),
        )
    ]
    for n, (seq, data) in enumerate(segments):
        segment = tcp(40000, 5060, seq, data)
        frames.append((2.0 + n, ether(checksum_free_ipv4("10.0.0.1", "10.0.0.2", 6, segment))))
    return frames


def test_tcp_sip_message_split_over_segments_and_retransmitted() -> None:
    base = 1001
    cut1, cut2 = 100, 350
    segments = [
        (base, INVITE[:cut1]),
        (base + cut2, INVITE[cut2:]),  # out of order
        (base + cut1, INVITE[cut1:cut2]),
        (base, INVITE[:cut1]),  # retransmission
        (base + cut1, INVITE[cut1:cut2]),  # retransmission
    ]
    session = CaptureSession()
    session.read_bytes(pcap(_tcp_frames(segments)))
    result = session.finish()
    assert [c.call_id for c in result.calls] == ["frag-call@example.org"]
    assert result.stats.sip_messages == 1
    assert result.stats.skipped.get("TCP retransmission") == 2


def test_tcp_segment_with_several_sip_messages() -> None:
    second = sip_invite("second@example.org")
    third = sip_invite("third@example.org", compact=True)
    stream = INVITE + b"\r\n" + second + third
    session = CaptureSession()
    session.read_bytes(
        pcap(_tcp_frames([(1001, stream[:-10]), (1001 + len(stream) - 10, stream[-10:])]))
    )
    result = session.finish()
    assert sorted(c.call_id or "" for c in result.calls) == [
        "frag-call@example.org",
        "second@example.org",
        "third@example.org",
    ]
    assert result.stats.sip_messages == 3


def test_sctp_data_chunks_carry_sip() -> None:
    chunk_data = INVITE
    chunk = struct.pack("!BBHIHHI", 0, 0x03, 16 + len(chunk_data), 1, 0, 0, 0) + chunk_data
    chunk += b"\x00" * (-len(chunk) % 4)
    sctp = struct.pack("!HHII", 5060, 5060, 1, 0) + chunk
    frame = ether(checksum_free_ipv4("10.0.0.1", "10.0.0.2", 132, sctp))
    assert _calls(pcap([(1.0, frame)])) == ["frag-call@example.org"]


def test_truncated_frames_are_counted_not_raised() -> None:
    decoder = PacketDecoder()
    assert decoder.decode(1.0, 1, b"\x00" * 5) == []
    assert decoder.decode(1.0, 1, ether(b"\x45\x00")) == []
    assert decoder.decode(1.0, 999, b"abc") == []
    assert decoder.decode(1.0, 1, ether(ip("10.0.0.1"))) == []
    assert decoder.skipped == {
        "truncated link header": 1,
        "bad IPv4 header": 2,
        "unsupported link type": 1,
    }


def test_not_a_capture_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello world, not a pcap")
    with pytest.raises(CaptureError) as error:
        read_captures([path])
    assert str(error.value) == (
        f"{path}: is not a pcap or pcapng capture (starts with 68656c6c); "
        "save it with tcpdump -w or Wireshark"
    )
    with pytest.raises(CaptureError, match="no such capture file; check the path"):
        read_captures([tmp_path / "missing.pcap"])


def test_truncated_last_record_ends_the_file_quietly() -> None:
    data = pcap([(1.0, udp4("10.0.0.1", 5060, "10.0.0.2", 5060, INVITE))] * 2)
    assert _calls(data[:-30]) == ["frag-call@example.org"]
