"""What live capture hands out: the INVITE a policy decides on, calls (or segments of
them) as they finish, and capture statistics."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from callvault.capture._control import LegPause
from callvault.capture.net import NetworkCall, Party

__all__ = ["InviteInfo", "LiveNetworkCall", "LiveStats"]


@dataclass(frozen=True)
class InviteInfo:
    """A call as its first INVITE describes it: what `decide` and `on_withdrawal` get."""

    call_id: str
    caller: Party
    callee: Party
    user_agent: str | None
    invited_at: datetime


@dataclass(frozen=True, eq=False)
class LiveNetworkCall(NetworkCall):
    """A `NetworkCall` finished by live capture: a whole call or one segment of it.

    A call longer than `segment_seconds` is delivered in segments 0, 1, 2, ... that share
    its `call_id`; `final` is True on the last one only, which alone carries
    `end_reason` and `ended_at`. Each segment's legs start at its own
    `audio_started_at`, so the wiring chains segments by placing each at that time
    (streams that continue across a cut are joined by arrival time, not sample-exactly).
    A segment may hold no audio (after a withdrawal, or a call without media):
    `has_audio` says so, and `to_captured_call()` would raise for it.

    `withdrawn_at` (seconds from `started_at`, like `DtmfEvent.start`) is set on every
    segment delivered after a participant (`withdrawn_channel`, 0 caller, 1 callee)
    pressed the withdrawal digit: the legs hold nothing from that moment on, and what
    they hold from before it is delivered so that the policy decides whether to keep it.
    `withdrawn_by` says how: "dtmf" (the digit, pressed where the notice offers it) or
    "speech" (a spoken refusal the streaming monitor heard).

    `pauses` lists the spans (seconds from `started_at`, `end` None while still going)
    in which a leg's audio was not kept (PCI pause, issue 20): those samples are zero.
    A pause is listed on each segment it reaches until it ends.
    """

    segment: int = 0
    final: bool = True
    withdrawn_at: float | None = None
    withdrawn_channel: int | None = None
    withdrawn_by: str | None = None
    pauses: tuple[LegPause, ...] = ()

    @property
    def has_audio(self) -> bool:
        return any(len(leg.pcm) for leg in self.legs)

    @classmethod
    def from_call(cls, call: NetworkCall, **extra: Any) -> LiveNetworkCall:
        values = {item.name: getattr(call, item.name) for item in fields(NetworkCall)}
        values.update(extra)
        return cls(**values)


@dataclass(frozen=True)
class LiveStats:
    """Counts since the capture started.

    `kernel_packets` and `kernel_drops` come from the socket's PACKET_STATISTICS (the
    kernel counts what passed the filter, and what it dropped for lack of buffer space);
    `packets` is what the capture loop processed. `discarded_packets` is RTP of calls
    whose media is not kept (refused at INVITE, withdrawn, already finished) and
    `unmapped_packets` RTP that no SDP tied to a call before it timed out.
    """

    kernel_packets: int
    kernel_drops: int
    packets: int
    sip_messages: int
    rtp_packets: int
    discarded_packets: int
    unmapped_packets: int
    calls_in_progress: int
    calls_started: int
    calls_refused: int
    calls_delivered: int
    segments_delivered: int
    withdrawals: int
    delivery_errors: int
