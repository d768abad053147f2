"""RTP (RFC 3550) and RTCP headers, RFC 4733 telephone events, and payload type names.

`RtpHeader.parse` checks lengths before every slice and raises `ParseError` with the
reason; the capture loop counts and drops such packets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from callvault.errors import ParseError

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "CodecInfo",
    "RtpHeader",
    "TelephoneEvent",
    "is_rtcp",
]

RTP_VERSION = 2
# RFC 5761 section 4: RTCP packet types 192-223 in the second byte (200 SR .. 204 APP).
RTCP_TYPES = range(192, 224)


class CodecInfo(NamedTuple):
    """An RTP payload format: encoding name, RTP clock rate, channels."""

    name: str
    clock_rate: int
    channels: int = 1


# RFC 3551 table 4 (audio), plus the video types seen in captures.
STATIC_PAYLOAD_TYPES: dict[int, CodecInfo] = {
    0: CodecInfo("PCMU", 8000),
    3: CodecInfo("GSM", 8000),
    4: CodecInfo("G723", 8000),
    5: CodecInfo("DVI4", 8000),
    6: CodecInfo("DVI4", 16000),
    7: CodecInfo("LPC", 8000),
    8: CodecInfo("PCMA", 8000),
    9: CodecInfo("G722", 8000),  # RFC 3551 section 4.5.2: clock 8000, audio 16 kHz
    10: CodecInfo("L16", 44100, 2),
    11: CodecInfo("L16", 44100),
    12: CodecInfo("QCELP", 8000),
    13: CodecInfo("CN", 8000),
    14: CodecInfo("MPA", 90000),
    15: CodecInfo("G728", 8000),
    18: CodecInfo("G729", 8000),
    26: CodecInfo("JPEG", 90000),
    31: CodecInfo("H261", 90000),
    34: CodecInfo("H263", 90000),
}


def is_rtcp(data: bytes) -> bool:
    """True for an RTCP packet (or compound), which must never be taken for RTP."""
    return len(data) >= 8 and data[0] >> 6 == RTP_VERSION and data[1] in RTCP_TYPES


def split_rtcp(data: bytes) -> list[int]:
    """Packet types of each RTCP packet in a compound datagram (RFC 3550 section 6.1)."""
    types: list[int] = []
    pos = 0
    while pos + 4 <= len(data):
        if data[pos] >> 6 != RTP_VERSION:
            raise ParseError("RTCP packet has a version other than 2")
        types.append(data[pos + 1])
        pos += (((data[pos + 2] << 8) | data[pos + 3]) + 1) * 4
    return types


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """The fixed RTP header and where the payload lies in the packet."""

    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload_start: int
    payload_end: int

    def __bytes__(self) -> bytes:
        """The 12-byte fixed header (no CSRC list or extension: those are not kept)."""
        return (
            bytes([0x80, (0x80 if self.marker else 0) | (self.payload_type & 0x7F)])
            + (self.sequence & 0xFFFF).to_bytes(2, "big")
            + (self.timestamp & 0xFFFFFFFF).to_bytes(4, "big")
            + (self.ssrc & 0xFFFFFFFF).to_bytes(4, "big")
        )

    @classmethod
    def parse(cls, data: bytes) -> RtpHeader:
        if len(data) < 12:
            raise ParseError(f"RTP packet is {len(data)} bytes, shorter than the 12-byte header")
        first = data[0]
        if first >> 6 != RTP_VERSION:
            raise ParseError(f"RTP packet has version {first >> 6}, not 2")
        start = 12 + (first & 0x0F) * 4
        if first & 0x10:  # header extension (RFC 3550 section 5.3.1)
            if len(data) < start + 4:
                raise ParseError("RTP header extension is truncated")
            start += 4 + ((data[start + 2] << 8) | data[start + 3]) * 4
        end = len(data)
        if first & 0x20:  # padding: the last byte says how much
            end -= data[-1]
        if start > end:
            raise ParseError("RTP header, extension and padding are longer than the packet")
        return cls(
            marker=bool(data[1] & 0x80),
            payload_type=data[1] & 0x7F,
            sequence=(data[2] << 8) | data[3],
            timestamp=int.from_bytes(data[4:8], "big"),
            ssrc=int.from_bytes(data[8:12], "big"),
            payload_start=start,
            payload_end=end,
        )


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """An RFC 4733 section 2.3 named-event payload."""

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise ParseError(f"telephone-event payload is {len(payload)} bytes, not 4")
        return cls(
            event=payload[0],
            end=bool(payload[1] & 0x80),
            volume=payload[1] & 0x3F,
            duration=(payload[2] << 8) | payload[3],
        )

    def __bytes__(self) -> bytes:
        return bytes([self.event & 0xFF, (0x80 if self.end else 0) | (self.volume & 0x3F)]) + (
            self.duration & 0xFFFF
        ).to_bytes(2, "big")

    @property
    def digit(self) -> str | None:
        """The DTMF symbol (RFC 4733 section 3.2: events 0-15), None for other events."""
        return "0123456789*#ABCD"[self.event] if self.event < 16 else None
