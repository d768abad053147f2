"""Use case: record the calls found in capture files (pcap, pcapng) into the vault.

Every call with decoded audio goes through the policy gate on its own: in a capture of
many calls, one the rules refuse (an emergency call, a number on the deny-list, a party
whose consent is missing) is reported and not stored, and the others are stored. A call
without audio (cancelled, rejected, or its media not in the capture) is reported as such.
What is kept besides the audio: the SIP Call-ID, user agents, answer and end time, end
reason, per-leg codec and quality, and when DTMF keys were pressed (not which keys).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from callvault.capture import Direction, parse_e164
from callvault.capture.net import CaptureResult, CaptureStats, NetworkCall, read_captures
from callvault.config import Config
from callvault.errors import CaptureError, ConsentRequired, InputError, RecordingRefused
from callvault.jobs import Queue
from callvault.services._context import Context
from callvault.services.ingest import (
    CallContext,
    IngestedCall,
    LoadedPolicy,
    admit_one,
    store_admitted,
)
from callvault.services.jobs import open_queue

__all__ = [
    "CapturedCallReport",
    "NetworkGate",
    "PcapReport",
    "ReadCapture",
    "policy_number",
    "policy_numbers",
    "read_pcaps",
    "record_pcaps",
    "store_pcaps",
]

log = logging.getLogger("callvault.services")


@dataclass(frozen=True)
class CapturedCallReport:
    """What became of one call of a capture: `outcome` is "stored", "refused" (the
    policy; `reason` says why) or "no-audio"."""

    network: NetworkCall
    outcome: str
    stored: IngestedCall | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        call = self.network
        return {
            "sip_call_id": call.call_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "stored": self.stored.to_json() if self.stored else None,
            "started_at": call.started_at.isoformat() if call.started_at else None,
            "ended_at": call.ended_at.isoformat() if call.ended_at else None,
            "end_reason": call.end_reason,
            "duration_s": round(
                max((len(leg.pcm) for leg in call.legs), default=0) / call.sample_rate, 3
            ),
            "legs": [
                {
                    "channel": leg.channel,
                    "codec": leg.codec,
                    "quality": None
                    if leg.quality is None
                    else {
                        "packets_received": leg.quality.packets_received,
                        "packets_lost": leg.quality.packets_lost,
                        "loss_percent": round(leg.quality.loss_percent, 2),
                        "jitter_ms": round(leg.quality.jitter_ms, 2),
                        "longest_gap_ms": round(leg.quality.longest_gap_ms, 1),
                        "mos": round(leg.quality.mos, 2),
                    },
                }
                for leg in call.legs
            ],
            "dtmf_events": len(call.dtmf),
        }


@dataclass(frozen=True)
class PcapReport:
    calls: tuple[CapturedCallReport, ...]
    stats: CaptureStats

    def to_json(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "calls": [c.to_json() for c in self.calls],
            "stats": {
                "files": stats.files,
                "packets": stats.packets,
                "sip_messages": stats.sip_messages,
                "rtp_packets": stats.rtp_packets,
                "rtcp_packets": stats.rtcp_packets,
                "malformed": stats.malformed,
                "skipped": dict(sorted(stats.skipped.items())),
            },
        }


def policy_number(text: str | None) -> str | None:
    """A party's number as the policy sees it: E.164 (from a number, `tel:` URI or SIP
    user part); a short number ("112", an extension) as it is, so that the emergency
    deny-list sees it; otherwise None (unknown: the strictest rule)."""
    value = (text or "").strip().removeprefix("tel:")
    if value.isdigit() and len(value) <= 6:
        return value
    if not value.startswith("+"):
        return None
    try:
        return parse_e164(value, option="participant")
    except InputError:
        return None


def policy_numbers(call: NetworkCall) -> list[str]:
    """The numbers of a network call's parties that the policy decides on."""
    found = (policy_number(party.e164 or party.user) for party in (call.caller, call.callee))
    return [number for number in found if number is not None]


@dataclass(frozen=True)
class NetworkGate:
    """Stores network calls through the policy gate, one call at a time: the shared
    path of capture files, live capture and the SIPREC server."""

    ctx: Context
    queue: Queue
    policy: LoadedPolicy
    consent: str | None = None
    context: CallContext | None = None
    direction: Direction | None = None

    def store(
        self, call: NetworkCall, *, source: str, segment: int | None = None
    ) -> CapturedCallReport:
        """Store `call` if the policy admits it; what became of it, never an exception
        for a call without audio or one the policy refuses."""
        try:
            captured = call.to_captured_call(direction=self.direction, source=source)
        except CaptureError as exc:
            return CapturedCallReport(call, "no-audio", reason=str(exc))
        if captured.network is not None and segment is not None:
            captured = replace(captured, network=replace(captured.network, segment=segment))
        try:
            admission = admit_one(
                self.ctx,
                captured.participants,
                name=captured.source_name,
                direction=captured.metadata.direction,
                started_at=captured.metadata.started_at,
                consent=self.consent,
                context=self.context,
                numbers=policy_numbers(call),
                policy=self.policy,
            )
        except (RecordingRefused, ConsentRequired) as exc:
            return CapturedCallReport(call, "refused", reason=str(exc))
        stored = store_admitted(self.ctx, self.queue, captured, admission)
        return CapturedCallReport(call, "stored", stored=stored)


@dataclass(frozen=True)
class ReadCapture:
    """Capture files read, and the policy to gate their calls with: what `read_pcaps`
    prepares before any storage is opened."""

    result: CaptureResult
    policy: LoadedPolicy


def read_pcaps(
    config: Config,
    paths: Sequence[Path],
    *,
    on_progress: Callable[[str, int], None] | None = None,
) -> ReadCapture:
    """Read `paths` as one capture and load the recording policy, opening no storage:
    the first half of `record_pcaps`, which the CLI runs before it opens the vault, so
    that a missing or damaged file leaves nothing behind, not even a new data directory."""
    for path in paths:
        if not path.is_file():
            raise CaptureError(f"{path}: no such capture file")
    result = read_captures(paths, on_progress=on_progress)
    return ReadCapture(result, LoadedPolicy.of(config))


def store_pcaps(
    ctx: Context,
    capture: ReadCapture,
    *,
    consent: str | None = None,
    context: CallContext | None = None,
    direction: Direction | None = None,
) -> PcapReport:
    """Store each call of a capture that the policy admits (`read_pcaps` read it)."""
    gate = NetworkGate(
        ctx, open_queue(ctx.config, ctx.vault), capture.policy, consent, context, direction
    )
    reports = [gate.store(call, source="pcap") for call in capture.result.calls]
    log.info(
        "capture: %d call(s), %d stored",
        len(reports),
        sum(r.outcome == "stored" for r in reports),
    )
    return PcapReport(tuple(reports), capture.result.stats)


def record_pcaps(
    ctx: Context,
    paths: Sequence[Path],
    *,
    consent: str | None = None,
    context: CallContext | None = None,
    direction: Direction | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> PcapReport:
    """Read `paths` as one capture and store each of its calls that the policy admits."""
    capture = read_pcaps(ctx.config, paths, on_progress=on_progress)
    return store_pcaps(ctx, capture, consent=consent, context=context, direction=direction)
