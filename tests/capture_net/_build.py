"""Hand-built packets and capture files for the network-capture tests."""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Iterable
from pathlib import Path

# The eval corpus lives outside the repository (../shared/eval-data, or
# CALLVAULT_EVAL_DATA), as for the analysis tests.
EVAL = str(
    Path(
        os.environ.get(
            "CALLVAULT_EVAL_DATA", Path(__file__).resolve().parents[3] / "shared" / "eval-data"
        )
    )
    / "voip_pcap"
)


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def checksum_free_ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    ident: int = 1,
    offset: int = 0,
    more: bool = False,
    total: int | None = None,
) -> bytes:
    flags = (0x2000 if more else 0) | (offset // 8)
    length = total if total is not None else 20 + len(payload)
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, length, ident, flags, 64, proto, 0, ip(src), ip(dst)
    )
    return header + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    return (
        struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64) + ip(src) + ip(dst) + payload
    )


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, seq: int, payload: bytes, *, flags: int = 0x18) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload


def ether(packet: bytes, *, ethertype: int = 0x0800, vlans: Iterable[int] = ()) -> bytes:
    head = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02"
    tags = b"".join(struct.pack("!HH", 0x8100, vid) for vid in vlans)
    return head + tags + struct.pack("!H", ethertype) + packet


def udp4(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    """An Ethernet frame carrying IPv4/UDP."""
    return ether(checksum_free_ipv4(src, dst, 17, udp(sport, dport, payload)))


def rtp(
    seq: int,
    ts: int,
    *,
    pt: int = 0,
    ssrc: int = 0x1234,
    payload: bytes = b"\xff" * 160,
    marker: bool = False,
) -> bytes:
    return (
        struct.pack(
            "!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
        )
        + payload
    )


def pcap(
    frames: Iterable[tuple[float, bytes]],
    *,
    linktype: int = 1,
    big_endian: bool = False,
    nano: bool = False,
) -> bytes:
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = bytearray(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype))
    scale = 1_000_000_000 if nano else 1_000_000
    for time, data in frames:
        sec = int(time)
        frac = int(round((time - sec) * scale))
        out += struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data
    return bytes(out)


def _block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def pcapng(
    interfaces: list[tuple[int, int | None]], packets: list[tuple[int, float, bytes]]
) -> bytes:
    """interfaces: (linktype, tsresol option or None); packets: (interface, time, data)."""
    out = bytearray(_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
    units = []
    for linktype, tsresol in interfaces:
        options = b""
        unit = 1e-6
        if tsresol is not None:
            options = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
            unit = 10.0**-tsresol
        units.append(unit)
        out += _block(1, struct.pack("<HHI", linktype, 0, 65535) + options)
    for iface, time, data in packets:
        stamp = int(round(time / units[iface]))
        out += _block(
            6,
            struct.pack("<IIIII", iface, stamp >> 32, stamp & 0xFFFFFFFF, len(data), len(data))
            + data,
        )
    return bytes(out)


def sip_invite(
    call_id: str,
    *,
    media_ip: str = "10.0.0.1",
    media_port: int = 4000,
    caller: str = '"Alice" <sip:+441234567890@example.org>;tag=a1',
    callee: str = "<sip:bob@example.org>",
    method: str = "INVITE",
    cseq: int = 1,
    compact: bool = False,
) -> bytes:
    body = sdp(media_ip, media_port)
    if compact:
        head = (
            f"{method} sip:bob@example.org SIP/2.0\r\n"
            f"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
            f"f: {caller}\r\nt: {callee}\r\ni: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\nc: application/sdp\r\nl: {len(body)}\r\n\r\n"
        )
    else:
        head = (
            f"{method} sip:bob@example.org SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
            f"From: {caller}\r\nTo: {callee}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method}\r\nUser-Agent: TestPhone 1.0\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
        )
    return head.encode() + body


def sip_response(
    call_id: str,
    status: int,
    *,
    media: tuple[str, int] | None = None,
    caller: str = '"Alice" <sip:+441234567890@example.org>;tag=a1',
    callee: str = "<sip:bob@example.org>;tag=b1",
    cseq: str = "1 INVITE",
) -> bytes:
    body = sdp(*media) if media else b""
    head = (
        f"SIP/2.0 {status} Whatever\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
        f"From: {caller}\r\nTo: {callee}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n"
        f"Server: TestPBX\r\n"
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def sip_request(
    method: str,
    call_id: str,
    *,
    from_caller: bool = True,
    body: bytes = b"",
    content_type: str | None = None,
    cseq: int = 2,
) -> bytes:
    caller = '"Alice" <sip:+441234567890@example.org>;tag=a1'
    callee = "<sip:bob@example.org>;tag=b1"
    sender, receiver = (caller, callee) if from_caller else (callee, caller)
    head = (
        f"{method} sip:x@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060\r\n"
        f"From: {sender}\r\nTo: {receiver}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
        + (f"Content-Type: {content_type}\r\n" if content_type else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def sdp(address: str, port: int, payload_types: str = "0 101") -> bytes:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {payload_types}\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    ).encode()


CALLER_MEDIA = ("10.0.0.1", 4000)
CALLEE_MEDIA = ("10.0.0.2", 5000)


def call_frames(
    call_id: str,
    rtp_packets: Iterable[tuple[float, bytes]],
    *,
    reverse: Iterable[tuple[float, bytes]] = (),
    bye_at: float | None = None,
) -> list[tuple[float, bytes]]:
    """INVITE at t=100, 200 OK at t=100.5, the given RTP caller -> callee (and callee ->
    caller in `reverse`), then a BYE from the caller."""
    frames = [
        (100.0, udp4("10.0.0.1", 5060, "10.0.0.2", 5060, sip_invite(call_id))),
        (
            100.5,
            udp4(
                "10.0.0.2", 5060, "10.0.0.1", 5060, sip_response(call_id, 200, media=CALLEE_MEDIA)
            ),
        ),
    ]
    frames += [(t, udp4(*CALLER_MEDIA, *CALLEE_MEDIA, data)) for t, data in rtp_packets]
    frames += [(t, udp4(*CALLEE_MEDIA, *CALLER_MEDIA, data)) for t, data in reverse]
    if bye_at is not None:
        frames.append(
            (bye_at, udp4("10.0.0.1", 5060, "10.0.0.2", 5060, sip_request("BYE", call_id)))
        )
    frames.sort(key=lambda item: item[0])
    return frames
