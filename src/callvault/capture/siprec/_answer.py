"""The recording server's SDP answer (RFC 3264 offer/answer, RFC 7866 section 8.1).

Every offered m= line gets an answer line, in the same order (RFC 3264 section 6). A
line that can be recorded (audio over RTP/AVP with at least one payload format that
capture/net decodes) is answered `a=recvonly` on a port of the server's own, listing the
decodable formats in the offer's order plus telephone-event (RFC 4733), so DTMF keeps
flowing. Anything else is refused with port 0. An `a=inactive` offer (an SRC pausing
the recording, RFC 7866 section 7.1.1) is answered `a=inactive`.
"""

from __future__ import annotations

from dataclasses import dataclass

from callvault.capture.net._codecs import AUDIO_CODECS
from callvault.capture.net._rtp import STATIC_PAYLOAD_TYPES, CodecInfo
from callvault.capture.siprec._offer import SiprecMedia

__all__ = ["AnswerMedia", "answer_sdp", "choose_formats"]

TELEPHONE_EVENT = "telephone-event"
_RECORDABLE_PROTOCOLS = ("RTP/AVP", "RTP/AVPF")  # SRTP (RTP/SAVP) cannot be decrypted here


@dataclass(frozen=True)
class AnswerMedia:
    """One m= line of the answer: port 0 when the offered stream is refused."""

    media: str
    port: int
    protocol: str
    formats: tuple[int, ...]
    codecs: dict[int, CodecInfo]
    fmtp: dict[int, str]
    label: str | None
    direction: str


def choose_formats(offered: SiprecMedia) -> dict[int, CodecInfo]:
    """The offered payload formats the server can record, in the offer's order."""
    description = offered.description
    if description.media != "audio" or description.port == 0:
        return {}
    if description.protocol.upper() not in _RECORDABLE_PROTOCOLS:
        return {}
    chosen: dict[int, CodecInfo] = {}
    for pt in description.payload_types:
        rtpmap = description.rtpmap.get(pt)
        if rtpmap is not None:
            info = CodecInfo(rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels)
        elif pt in STATIC_PAYLOAD_TYPES:
            info = STATIC_PAYLOAD_TYPES[pt]
        else:
            continue
        name = info.name.upper()
        if name == "G729A":
            name = "G729"
        if name in AUDIO_CODECS:
            chosen[pt] = info
        elif info.name.lower() == TELEPHONE_EVENT:
            chosen[pt] = CodecInfo(TELEPHONE_EVENT, info.clock_rate, info.channels)
    if not any(info.name != TELEPHONE_EVENT for info in chosen.values()):
        return {}  # telephone-event alone carries no voice
    return chosen


def answer_media(offered: SiprecMedia, port: int, codecs: dict[int, CodecInfo]) -> AnswerMedia:
    description = offered.description
    if port == 0 or not codecs:
        pts = description.payload_types[:1] or (0,)
        return AnswerMedia(
            description.media, 0, description.protocol, pts, {}, {}, offered.label, "inactive"
        )
    direction = "inactive" if description.direction == "inactive" else "recvonly"
    fmtp = {pt: value for pt, value in description.fmtp.items() if pt in codecs}
    return AnswerMedia(
        description.media,
        port,
        description.protocol,
        tuple(codecs),
        codecs,
        fmtp,
        offered.label,
        direction,
    )


def answer_sdp(media: list[AnswerMedia], *, address: str, session_id: int, version: int) -> bytes:
    """The answer's text; `version` goes up with each new answer (RFC 3264 section 8)."""
    family = "IP6" if ":" in address else "IP4"
    lines = [
        "v=0",
        f"o=callvault {session_id} {version} IN {family} {address}",
        "s=callvault SIPREC recording",
        f"c=IN {family} {address}",
        "t=0 0",
    ]
    for item in media:
        lines.append(
            f"m={item.media} {item.port} {item.protocol} " + " ".join(map(str, item.formats))
        )
        for pt, info in item.codecs.items():
            channels = f"/{info.channels}" if info.channels > 1 else ""
            lines.append(f"a=rtpmap:{pt} {info.name}/{info.clock_rate}{channels}")
            if pt in item.fmtp:
                lines.append(f"a=fmtp:{pt} {item.fmtp[pt]}")
        if item.label is not None:
            lines.append(f"a=label:{item.label}")
        lines.append(f"a={item.direction}")
    return ("\r\n".join(lines) + "\r\n").encode()
