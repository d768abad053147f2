"""Use case: record calls as they finish on the network (live capture, SIPREC).

`NetworkRecorder` is what the capture loops call back: `decide` at a call's first INVITE
(is its media kept at all?), `withdrawn` when a party withdraws consent during the call
(the DTMF withdrawal key), and `record` for every finished call or segment, which goes
through the policy gate and into the vault like a file would.

A party's withdrawal during a live call follows `on_withdrawal`: with `discard-call`
nothing of that call is stored, and segments of it stored earlier are erased; with
`keep-before` what was captured before the moment is stored (the capture keeps nothing
after it). Both are audited (`capture.withdrawal`, ids, times, `by` "dtmf" or "speech"
and a spoken refusal's confidence only).

`optout_rules` turns the settings (`dtmf_optout_window`, `notice_seconds`,
`dtmf_inter_digit`, `agent_side`) and the call direction into the capture's
`OptOutRules`: which key press is honoured as a withdrawal (issue 20). A PCI pause the
live monitor made (a leg not kept while card data was read) is audited per stored call
or segment as `capture.pci-pause`, with its channel and times only.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import datetime
from typing import Any

from callvault.capture import Direction, Participant
from callvault.capture.live import LegPause, OptOutRules, agent_channel
from callvault.capture.net import NetworkCall
from callvault.config import Config
from callvault.errors import (
    CallvaultError,
    ConsentRequired,
    RecordingRefused,
)
from callvault.services._context import Context
from callvault.services.calls import erase_call
from callvault.services.capture import CapturedCallReport, NetworkGate, policy_number
from callvault.services.ingest import CallContext, LoadedPolicy, admit_one
from callvault.services.jobs import open_queue
from callvault.vault import Vault

__all__ = ["NetworkRecorder"]

log = logging.getLogger("callvault.services")


def _digest(sip_call_id: str | None) -> str | None:
    """A SIP Call-ID as the audit chain names it (the Call-ID may hold host names)."""
    if sip_call_id is None:
        return None
    return hashlib.sha256(sip_call_id.encode()).hexdigest()[:16]


class NetworkRecorder:
    """Stores calls handed over by live capture or the SIPREC server; thread-safe."""

    def __init__(
        self,
        config: Config,
        *,
        source: str,
        consent: str | None = None,
        context: CallContext | None = None,
        direction: Direction | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.consent = consent
        self.context = context
        self.direction = direction
        self.reports: list[CapturedCallReport] = []
        self._lock = threading.Lock()
        self._vault = Vault.open(config)
        self._policy = LoadedPolicy.of(config)
        self._gate = NetworkGate(
            Context(config, self._vault),
            open_queue(config, self._vault),
            self._policy,
            consent,
            context,
            direction,
        )
        self._segments: dict[str, list[str]] = {}  # SIP Call-ID -> stored call ids
        self._withdrawn: set[str] = set()

    def close(self) -> None:
        self._vault.close()

    def __enter__(self) -> NetworkRecorder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def optout_rules(
        self,
        digit: str | None,
        *,
        agent_side: str | None = None,
        window_s: float | None = None,
        notice_s: float | None = None,
        inter_digit_s: float | None = None,
    ) -> OptOutRules:
        """The DTMF opt-out the capture honours: the settings, overridden by what is
        given (the command line's options). Raises ValueError for a bad value."""
        config = self.config
        side = agent_side or (config.agent_side if config.agent_side != "auto" else None)
        rules = OptOutRules(
            digit=digit,
            window_s=config.dtmf_optout_window if window_s is None else window_s,
            notice_s=config.notice_seconds if notice_s is None else notice_s,
            inter_digit_s=config.dtmf_inter_digit if inter_digit_s is None else inter_digit_s,
            agent_channel=agent_channel(side, self.direction),
        )
        rules.validate()
        return rules

    # -- callbacks -----------------------------------------------------------------------

    def decide(self, caller: str | None, callee: str | None, at: datetime) -> bool:
        """Whether a call whose INVITE names these parties may be recorded at all (the
        full gate runs again when it is stored). A party that is not an E.164 number
        counts as of unknown jurisdiction: the strictest rule."""
        parties = [
            Participant("caller", phone=policy_number(caller), channel=0),
            Participant("callee", phone=policy_number(callee), channel=1),
        ]
        with self._lock:
            try:
                admit_one(
                    Context(self.config, self._vault),
                    parties,
                    name="call",
                    direction=self.direction,
                    started_at=at,
                    consent=self.consent,
                    context=self.context,
                    policy=self._policy,
                )
            except (RecordingRefused, ConsentRequired):
                return False
        return True

    def withdrawn(
        self,
        sip_call_id: str | None,
        channel: int,
        at_seconds: float,
        *,
        by: str = "dtmf",
        confidence: float | None = None,
    ) -> None:
        """A party withdrew consent `at_seconds` into the call, by key press ("dtmf") or
        by saying so ("speech", with the detector's confidence): audit it now."""
        details: dict[str, Any] = {
            "channel": channel,
            "at_seconds": round(at_seconds, 3),
            "mode": self.config.on_withdrawal,
            "by": by,
        }
        if confidence is not None:
            details["confidence"] = round(confidence, 3)
        with self._lock:
            if sip_call_id is not None:
                self._withdrawn.add(sip_call_id)
            self._vault.record_event(
                "capture.withdrawal", "capture", _digest(sip_call_id), details=details
            )

    def record(self, call: NetworkCall, **facts: Any) -> CapturedCallReport:
        """Store one finished call (or segment) through the policy gate; never raises."""
        with self._lock:
            try:
                report = self._record(call, **facts)
            except CallvaultError as exc:
                report = CapturedCallReport(call, "failed", reason=str(exc))
                log.warning("capture: a call could not be stored (%s)", type(exc).__name__)
            self.reports.append(report)
            return report

    # -- storing -------------------------------------------------------------------------

    def _record(
        self,
        call: NetworkCall,
        *,
        segment: int | None = None,
        withdrawn_at: float | None = None,
        pauses: tuple[LegPause, ...] = (),
    ) -> CapturedCallReport:
        key = call.call_id
        if withdrawn_at is not None or (key is not None and key in self._withdrawn):
            if self.config.on_withdrawal == "discard-call":
                self._discard_earlier_segments(key)
                return CapturedCallReport(
                    call, "discarded", reason="a party withdrew consent during the call"
                )
        report = self._gate.store(call, source=self.source, segment=segment)
        if key is not None and report.stored is not None:
            self._segments.setdefault(key, []).append(report.stored.call_id)
        if report.stored is not None:
            for pause in pauses:
                self._vault.record_event(
                    "capture.pci-pause",
                    "call",
                    report.stored.call_id,
                    details={
                        "channel": pause.channel,
                        "from_seconds": round(pause.start, 3),
                        "to_seconds": None if pause.end is None else round(pause.end, 3),
                        "segment": segment,
                    },
                )
        return report

    def _discard_earlier_segments(self, key: str | None) -> None:
        for call_id in self._segments.pop(key, []) if key is not None else []:
            erase_call(
                Context(self._vault.config, self._vault),
                call_id,
                reason="a party withdrew consent during the call",
            )
