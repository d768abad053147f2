"""Turn what a SIPREC session received into a `NetworkCall`, with capture/net's code.

The RTP of each recorded m= line arrives on its own port; each SSRC there becomes one
`RtpStream`. The streams go through the same stages as a capture file's
(`capture.net._assemble`: playout order, loss and jitter, decoding, resampling, RFC 4733
DTMF, E-model MOS), with the SIPREC metadata standing in for the SIP dialog: the caller
and callee are the metadata's participants, the channel of each stream is the leg of the
participant who sends it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from callvault.capture.net import Dialog
from callvault.capture.net._assemble import assemble_call, stream_codecs, stream_info
from callvault.capture.net._records import NetworkCall, StreamInfo
from callvault.capture.net._rtp import CodecInfo
from callvault.capture.net._sip import NameAddress
from callvault.capture.net._stream import RtpStream
from callvault.capture.siprec._offer import SiprecOffer, SiprecParticipant

__all__ = ["RecordedMedia", "build_network_call"]


@dataclass
class RecordedMedia:
    """The RTP received on one m= line: its streams (one per source and SSRC) and the
    payload formats the SDP gave it (later offers add to them)."""

    index: int
    channel: int
    codecs: dict[int, CodecInfo] = field(default_factory=dict)
    streams: dict[tuple[bytes, int, int], RtpStream] = field(default_factory=dict)


def _address(participant: SiprecParticipant | None) -> NameAddress:
    if participant is None:
        return NameAddress(None, None, "", None)
    party = participant.party()
    return NameAddress(party.display_name, party.user, participant.aor or "", None)


def build_network_call(
    *,
    call_id: str,
    offer: SiprecOffer | None,
    media: list[RecordedMedia],
    started_at: float,
    answered_at: float | None,
    ended_at: float,
    end_reason: str,
    notes: tuple[str, ...] = (),
) -> NetworkCall:
    """One `NetworkCall` from the streams of a SIPREC session (decodes; CPU-bound)."""
    caller = offer.caller if offer is not None else None
    callee = offer.callee if offer is not None else None
    dialog = Dialog(
        call_id=call_id,
        caller=_address(caller),
        callee=_address(callee),
        caller_tag=None,
        started_at=started_at,
        answered_at=answered_at,
        ended_at=ended_at,
        end_reason=end_reason,
        last_time=ended_at,
    )
    legs: dict[int, list[RtpStream]] = {0: [], 1: []}
    codecs_of: dict[int, dict[int, CodecInfo]] = {}
    info_of: dict[int, StreamInfo] = {}
    for item in media:
        for stream in item.streams.values():
            if not len(stream):
                continue
            # Each m= line has its own payload type numbering: the codecs of a stream are
            # the static table overlaid with its own m= line's rtpmap.
            dialog.rtpmaps = {0: dict(item.codecs), 1: {}}
            codecs = stream_codecs(stream, dialog)
            codecs_of[id(stream)] = codecs
            info_of[id(stream)] = stream_info(stream, codecs, call_id, item.channel)
            legs[item.channel].append(stream)
    call = assemble_call(dialog, legs, codecs_of, info_of, skipped=Counter(), capture_end=ended_at)
    return replace(call, notes=call.notes + notes)
