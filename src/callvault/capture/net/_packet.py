"""From link-layer frames to transport payloads: Ethernet/SLL/raw IP, VLAN, IPv4/IPv6
with fragment reassembly, UDP, TCP with per-flow stream reassembly, and SCTP DATA chunks.

The decoder is one object per capture because fragments and TCP segments must be joined
across frames. It never raises on bad input: a frame it cannot use is counted under a
reason in `skipped` and dropped, so one corrupt frame never stops a capture. Addresses
stay packed `bytes` (4 or 16 long) so flow keys are cheap to hash; `format_ip` turns
them into text only where a person will read them.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["Datagram", "PacketDecoder", "format_ip", "pack_ip"]

# Link types: https://www.tcpdump.org/linktypes.html
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_OLD = (12, 14)  # DLT_RAW on some BSDs; raw IP as on Linux
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad (QinQ), old QinQ
ETH_PPPOE_SESSION = 0x8864

PROTO_TCP = 6
PROTO_UDP = 17
PROTO_SCTP = 132
# IPv6 extension headers skipped on the way to the payload (RFC 8200 section 4).
_IPV6_EXTENSIONS = (0, 43, 60, 135, 139, 140)
_IPV6_FRAGMENT = 44
_IPV6_AH = 51
_IPV6_NO_NEXT = 59

MAX_PENDING_FRAGMENTS = 1024  # datagrams being reassembled at once, oldest dropped first
FRAGMENT_TIMEOUT_S = 30.0  # RFC 791 suggests 15 s; captures can be slow
MAX_TCP_BUFFER = 1 << 20  # bytes buffered per TCP flow before it is resynchronised
MAX_TCP_FLOWS = 4096


class Datagram(NamedTuple):
    """A transport payload: UDP datagram, SCTP DATA chunk, or one SIP message from TCP."""

    time: float
    proto: int
    src: bytes
    sport: int
    dst: bytes
    dport: int
    payload: bytes


def format_ip(address: bytes) -> str:
    return str(ipaddress.ip_address(address))


def pack_ip(text: str) -> bytes | None:
    """Packed form of an IPv4/IPv6 address written in SDP, or None if it is not one."""
    try:
        return ipaddress.ip_address(text.strip().split("%")[0]).packed
    except ValueError:
        return None


class _Fragments:
    __slots__ = ("first_seen", "parts", "total")

    def __init__(self, time: float) -> None:
        self.first_seen = time
        self.parts: dict[int, bytes] = {}
        self.total: int | None = None

    def add(self, offset: int, data: bytes, last: bool) -> bytes | None:
        self.parts[offset] = data
        if last:
            self.total = offset + len(data)
        if self.total is None:
            return None
        joined = bytearray()
        for start in sorted(self.parts):
            if start > len(joined):
                return None  # a hole: wait for more fragments
            piece = self.parts[start]
            joined[start : start + len(piece)] = piece
        if len(joined) < self.total:
            return None
        return bytes(joined[: self.total])


class _TcpFlow:
    """One direction of a TCP connection, cut into SIP messages (RFC 3261 section 18.3)."""

    __slots__ = ("buffer", "next_seq", "pending", "websocket")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.pending: dict[int, bytes] = {}
        self.buffer = bytearray()
        self.websocket = False


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() in (b"content-length", b"l"):
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


_SIP_STARTS = (
    b"SIP/2.0 ",
    b"INVITE ",
    b"ACK ",
    b"BYE ",
    b"CANCEL ",
    b"OPTIONS ",
    b"REGISTER ",
    b"INFO ",
    b"PRACK ",
    b"UPDATE ",
    b"SUBSCRIBE ",
    b"NOTIFY ",
    b"REFER ",
    b"MESSAGE ",
    b"PUBLISH ",
)


def _find_sip_start(buffer: bytearray) -> int:
    """Offset of the first SIP start line in `buffer`, or -1."""
    best = -1
    for start in _SIP_STARTS:
        pos = 0 if buffer.startswith(start) else buffer.find(b"\n" + start)
        if pos > 0:
            pos += 1
        if pos >= 0 and (best < 0 or pos < best):
            best = pos
    return best


def _split_sip(buffer: bytearray) -> list[bytes]:
    """Take every complete SIP message from the front of `buffer` (it is consumed)."""
    messages: list[bytes] = []
    while buffer:
        # Keep-alive CRLFs (RFC 5626 section 3.5.1) between messages.
        while buffer[:2] == b"\r\n":
            del buffer[:2]
        if not buffer:
            break
        if not any(buffer.startswith(start) for start in _SIP_STARTS):
            start = _find_sip_start(buffer)
            if start < 0:
                if len(buffer) > 65536:
                    buffer.clear()
                break
            del buffer[:start]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            break
        head = bytes(buffer[:end])
        length = _content_length(head)
        if length is None or length < 0:
            length = 0  # RFC 3261 requires it on TCP; without it assume no body
        total = end + 4 + length
        if len(buffer) < total:
            break
        messages.append(bytes(buffer[:total]))
        del buffer[:total]
    return messages


def _websocket_payloads(buffer: bytearray) -> list[bytes]:
    """Unmasked payloads of complete WebSocket frames (RFC 6455 section 5.2)."""
    out: list[bytes] = []
    while len(buffer) >= 2:
        opcode = buffer[0] & 0x0F
        masked = buffer[1] & 0x80
        length = buffer[1] & 0x7F
        pos = 2
        if length == 126:
            if len(buffer) < 4:
                break
            length = int.from_bytes(buffer[2:4], "big")
            pos = 4
        elif length == 127:
            if len(buffer) < 10:
                break
            length = int.from_bytes(buffer[2:10], "big")
            pos = 10
        key = b""
        if masked:
            if len(buffer) < pos + 4:
                break
            key = bytes(buffer[pos : pos + 4])
            pos += 4
        if length > MAX_TCP_BUFFER:
            buffer.clear()
            break
        if len(buffer) < pos + length:
            break
        data = bytes(buffer[pos : pos + length])
        del buffer[: pos + length]
        if key:
            data = bytes(b ^ key[i & 3] for i, b in enumerate(data))
        if opcode in (0, 1, 2):
            out.append(data)
    return out


class PacketDecoder:
    """Turns frames into `Datagram`s, keeping reassembly state between frames."""

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()
        self._fragments: dict[tuple[bytes, bytes, int, int], _Fragments] = {}
        self._flows: dict[tuple[bytes, int, bytes, int], _TcpFlow] = {}
        self._sctp_parts: dict[tuple[bytes, int, bytes, int, int], bytearray] = {}
        self._links: dict[int, Callable[[bytes], tuple[int, bytes] | None]] = {
            LINKTYPE_ETHERNET: self._ethernet,
            LINKTYPE_RAW: _raw,
            LINKTYPE_RAW_OLD[0]: _raw,
            LINKTYPE_RAW_OLD[1]: _raw,
            LINKTYPE_IPV4: _raw,
            LINKTYPE_IPV6: _raw,
            LINKTYPE_LINUX_SLL: _sll,
            LINKTYPE_LINUX_SLL2: _sll2,
            LINKTYPE_NULL: _null,
        }

    def decode(self, time: float, linktype: int, data: bytes) -> list[Datagram]:
        """The transport payloads this frame completes (often one, sometimes none)."""
        link = self._links.get(linktype)
        if link is None:
            self.skipped["unsupported link type"] += 1
            return []
        network = link(data)
        if network is None:
            self.skipped["truncated link header"] += 1
            return []
        ethertype, packet = network
        if ethertype == ETH_IPV4:
            return self._ipv4(time, packet)
        if ethertype == ETH_IPV6:
            return self._ipv6(time, packet)
        self.skipped["not IP"] += 1
        return []

    # -- link layer ------------------------------------------------------------------

    @staticmethod
    def _ethernet(data: bytes) -> tuple[int, bytes] | None:
        if len(data) < 14:
            return None
        ethertype = (data[12] << 8) | data[13]
        pos = 14
        while ethertype in ETH_VLAN:
            if len(data) < pos + 4:
                return None
            ethertype = (data[pos + 2] << 8) | data[pos + 3]
            pos += 4
        if ethertype == ETH_PPPOE_SESSION:
            # RFC 2516: 6-byte PPPoE header, then the 2-byte PPP protocol (RFC 1661).
            if len(data) < pos + 8:
                return None
            ppp = (data[pos + 6] << 8) | data[pos + 7]
            ethertype = {0x0021: ETH_IPV4, 0x0057: ETH_IPV6}.get(ppp, 0)
            pos += 8
        return ethertype, data[pos:]

    # -- network layer ---------------------------------------------------------------

    def _ipv4(self, time: float, packet: bytes) -> list[Datagram]:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            self.skipped["bad IPv4 header"] += 1
            return []
        ihl = (packet[0] & 0x0F) * 4
        total = (packet[2] << 8) | packet[3]
        if ihl < 20 or total < ihl:
            self.skipped["bad IPv4 header"] += 1
            return []
        if total > len(packet):
            self.skipped["truncated IPv4 packet"] += 1
            return []
        proto = packet[9]
        src = packet[12:16]
        dst = packet[16:20]
        payload = packet[ihl:total]  # drops Ethernet padding
        flags = (packet[6] << 8) | packet[7]
        more = flags & 0x2000
        offset = (flags & 0x1FFF) * 8
        if more or offset:
            ident = (packet[4] << 8) | packet[5]
            joined = self._reassemble((src, dst, ident, proto), time, offset, payload, not more)
            if joined is None:
                return []
            payload = joined
        return self._transport(time, proto, src, dst, payload)

    def _ipv6(self, time: float, packet: bytes) -> list[Datagram]:
        if len(packet) < 40 or packet[0] >> 4 != 6:
            self.skipped["bad IPv6 header"] += 1
            return []
        length = (packet[4] << 8) | packet[5]
        if 40 + length > len(packet):
            self.skipped["truncated IPv6 packet"] += 1
            return []
        src = packet[8:24]
        dst = packet[24:40]
        proto = packet[6]
        body = packet[40 : 40 + length]
        pos = 0
        fragment: tuple[int, int, bool] | None = None
        while True:
            if proto in _IPV6_EXTENSIONS or proto == _IPV6_AH:
                if len(body) < pos + 8:
                    self.skipped["truncated IPv6 extension header"] += 1
                    return []
                size = (body[pos + 1] + 2) * 4 if proto == _IPV6_AH else (body[pos + 1] + 1) * 8
                proto = body[pos]
                pos += size
            elif proto == _IPV6_FRAGMENT:
                if len(body) < pos + 8:
                    self.skipped["truncated IPv6 extension header"] += 1
                    return []
                field = (body[pos + 2] << 8) | body[pos + 3]
                ident = int.from_bytes(body[pos + 4 : pos + 8], "big")
                fragment = (ident, field & 0xFFF8, bool(field & 1))
                proto = body[pos]
                pos += 8
            else:
                break
        if pos > len(body):
            self.skipped["truncated IPv6 extension header"] += 1
            return []
        payload = body[pos:]
        if proto == _IPV6_NO_NEXT:
            return []
        if fragment is not None:
            ident, offset, more = fragment
            if more or offset:
                joined = self._reassemble((src, dst, ident, proto), time, offset, payload, not more)
                if joined is None:
                    return []
                payload = joined
        return self._transport(time, proto, src, dst, payload)

    def _reassemble(
        self,
        key: tuple[bytes, bytes, int, int],
        time: float,
        offset: int,
        data: bytes,
        last: bool,
    ) -> bytes | None:
        entry = self._fragments.get(key)
        if entry is None or time - entry.first_seen > FRAGMENT_TIMEOUT_S:
            if len(self._fragments) >= MAX_PENDING_FRAGMENTS:
                del self._fragments[next(iter(self._fragments))]
            entry = self._fragments[key] = _Fragments(time)
        joined = entry.add(offset, data, last)
        if joined is not None:
            del self._fragments[key]
        return joined

    # -- transport layer -------------------------------------------------------------

    def _transport(
        self, time: float, proto: int, src: bytes, dst: bytes, segment: bytes
    ) -> list[Datagram]:
        if proto == PROTO_UDP:
            if len(segment) < 8:
                self.skipped["truncated UDP header"] += 1
                return []
            length = (segment[4] << 8) | segment[5]
            end = length if 8 <= length <= len(segment) else len(segment)
            return [
                Datagram(
                    time,
                    PROTO_UDP,
                    src,
                    (segment[0] << 8) | segment[1],
                    dst,
                    (segment[2] << 8) | segment[3],
                    segment[8:end],
                )
            ]
        if proto == PROTO_TCP:
            return self._tcp(time, src, dst, segment)
        if proto == PROTO_SCTP:
            return self._sctp(time, src, dst, segment)
        self.skipped["not UDP, TCP or SCTP"] += 1
        return []

    def _tcp(self, time: float, src: bytes, dst: bytes, segment: bytes) -> list[Datagram]:
        if len(segment) < 20:
            self.skipped["truncated TCP header"] += 1
            return []
        sport, dport, seq = struct.unpack_from("!HHI", segment)
        header = (segment[12] >> 4) * 4
        flags = segment[13]
        if header < 20 or header > len(segment):
            self.skipped["bad TCP header"] += 1
            return []
        data = segment[header:]
        key = (src, sport, dst, dport)
        flow = self._flows.get(key)
        if flags & 0x02:  # SYN: a new connection starts at seq + 1
            if len(self._flows) >= MAX_TCP_FLOWS and flow is None:
                del self._flows[next(iter(self._flows))]
            flow = self._flows[key] = _TcpFlow()
            flow.next_seq = (seq + 1) & 0xFFFFFFFF
        if not data:
            if flags & 0x05 and flow is not None and not flow.buffer:  # FIN or RST
                del self._flows[key]
            return []
        if flow is None:
            if len(self._flows) >= MAX_TCP_FLOWS:
                del self._flows[next(iter(self._flows))]
            flow = self._flows[key] = _TcpFlow()
        if flow.next_seq is None:
            flow.next_seq = seq  # joined mid-connection
        self._accept_segment(flow, seq, data)
        messages = self._messages(flow)
        return [Datagram(time, PROTO_TCP, src, sport, dst, dport, m) for m in messages]

    def _accept_segment(self, flow: _TcpFlow, seq: int, data: bytes) -> None:
        assert flow.next_seq is not None
        delta = (seq - flow.next_seq) & 0xFFFFFFFF
        if delta >= 0x80000000:  # starts before what we have: a retransmission
            behind = 0x100000000 - delta
            if behind >= len(data):
                self.skipped["TCP retransmission"] += 1
                return
            data = data[behind:]
            seq = flow.next_seq
            delta = 0
        if delta:
            flow.pending.setdefault(seq, data)
            if len(flow.pending) < 32:
                return
            # A segment never came (lost before the capture point): skip the hole and
            # resynchronise on the next SIP start line.
            base = flow.next_seq
            flow.next_seq = min(flow.pending, key=lambda s: (s - base) & 0xFFFFFFFF)
            flow.buffer.clear()
            self.skipped["TCP gap skipped"] += 1
        else:
            flow.buffer += data
            flow.next_seq = (seq + len(data)) & 0xFFFFFFFF
        while flow.pending:
            progressed = False
            for start in list(flow.pending):
                ahead = (start - flow.next_seq) & 0xFFFFFFFF
                if ahead == 0 or ahead >= 0x80000000:
                    piece = flow.pending.pop(start)
                    behind = 0 if ahead == 0 else 0x100000000 - ahead
                    if behind < len(piece):
                        flow.buffer += piece[behind:]
                        flow.next_seq = (flow.next_seq + len(piece) - behind) & 0xFFFFFFFF
                        progressed = True
            if not progressed:
                break
        if len(flow.buffer) > MAX_TCP_BUFFER:
            self.skipped["TCP flow buffer overflow"] += 1
            flow.buffer.clear()

    def _messages(self, flow: _TcpFlow) -> list[bytes]:
        buffer = flow.buffer
        if not flow.websocket and buffer.startswith((b"GET ", b"HTTP/1.1 101")):
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return []
            del buffer[: end + 4]  # the WebSocket upgrade handshake (RFC 6455 section 4)
            flow.websocket = True
        if flow.websocket:
            messages: list[bytes] = []
            for payload in _websocket_payloads(buffer):
                messages.extend(_split_sip(bytearray(payload)))
            return messages
        return _split_sip(buffer)

    def _sctp(self, time: float, src: bytes, dst: bytes, packet: bytes) -> list[Datagram]:
        # RFC 9260 section 3: common header, then chunks; only unfragmented DATA is used.
        if len(packet) < 12:
            self.skipped["truncated SCTP header"] += 1
            return []
        sport, dport = struct.unpack_from("!HH", packet)
        out: list[Datagram] = []
        pos = 12
        while pos + 4 <= len(packet):
            ctype, cflags, clen = struct.unpack_from("!BBH", packet, pos)
            if clen < 4 or pos + clen > len(packet):
                self.skipped["bad SCTP chunk"] += 1
                break
            if ctype == 0 and clen >= 16:
                data = packet[pos + 16 : pos + clen]
                key = (src, sport, dst, dport, (packet[pos + 8] << 8) | packet[pos + 9])
                begin, end = cflags & 0x02, cflags & 0x01
                if begin and end:
                    out.append(Datagram(time, PROTO_SCTP, src, sport, dst, dport, data))
                elif begin:
                    if len(self._sctp_parts) >= MAX_TCP_FLOWS:
                        del self._sctp_parts[next(iter(self._sctp_parts))]
                    self._sctp_parts[key] = bytearray(data)
                elif key in self._sctp_parts:
                    # RFC 9260 section 6.9: fragments of one message, B..E in TSN order.
                    self._sctp_parts[key] += data
                    if end:
                        joined = bytes(self._sctp_parts.pop(key))
                        out.append(Datagram(time, PROTO_SCTP, src, sport, dst, dport, joined))
            pos += (clen + 3) & ~3
        return out


def _raw(data: bytes) -> tuple[int, bytes] | None:
    if not data:
        return None
    version = data[0] >> 4
    return (ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else 0), data


def _sll(data: bytes) -> tuple[int, bytes] | None:
    # https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html: protocol at offset 14.
    if len(data) < 16:
        return None
    return (data[14] << 8) | data[15], data[16:]


def _sll2(data: bytes) -> tuple[int, bytes] | None:
    # https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html: protocol at offset 0.
    if len(data) < 20:
        return None
    return (data[0] << 8) | data[1], data[20:]


def _null(data: bytes) -> tuple[int, bytes] | None:
    # BSD loopback: a 4-byte address family in the capturing host's byte order.
    if len(data) < 4:
        return None
    family = max(int.from_bytes(data[:4], "little"), int.from_bytes(data[:4], "big"))
    if family == 2:
        return ETH_IPV4, data[4:]
    if family in (10, 24, 28, 30):
        return ETH_IPV6, data[4:]
    return 0, data[4:]
