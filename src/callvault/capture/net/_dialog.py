"""The state of one SIP dialog as a capture follows it, and the ways a call can end.

`CaptureSession.sip` fills a `Dialog` from the messages it sees (RFC 3261 sections
12-15, loosely); the live capture and the SIPREC server build on the same record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callvault.capture.net._rtp import CodecInfo
from callvault.capture.net._sip import NameAddress

__all__ = [
    "END_BYE_CALLEE",
    "END_BYE_CALLER",
    "END_CANCELLED",
    "END_CAPTURE_ENDED",
    "END_REJECTED",
    "END_RTP_TIMEOUT",
    "Dialog",
    "SdpEndpoint",
]

#: end reasons a call can have
END_BYE_CALLER = "bye_caller"
END_BYE_CALLEE = "bye_callee"
END_CANCELLED = "cancelled"
END_REJECTED = "rejected"  # followed by ":<status code>"
END_RTP_TIMEOUT = "rtp_timeout"
END_CAPTURE_ENDED = "capture_ended"


@dataclass
class Dialog:
    """The SIP dialog state, for the offline, incremental (live) and SIPREC paths."""

    call_id: str
    caller: NameAddress
    callee: NameAddress
    caller_tag: str | None
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    pending_error: int | None = None
    last_time: float = 0.0
    user_agents: dict[int, str] = field(default_factory=dict)
    rtpmaps: dict[int, dict[int, CodecInfo]] = field(default_factory=lambda: {0: {}, 1: {}})
    dtmf: list[tuple[str, float, float | None, int]] = field(default_factory=list)
    endpoints: set[tuple[bytes, int]] = field(default_factory=set)  # SDP addresses it used


@dataclass
class SdpEndpoint:
    """An address and port an SDP of `dialog` named, from `time` on."""

    time: float
    dialog: Dialog
    side: int  # the party that receives RTP at this address
