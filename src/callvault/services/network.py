"""Use case: record calls as they finish on the network (live capture, SIPREC).

`NetworkRecorder` is what the capture loops call back: `decide` at a call's first INVITE
(is its media kept at all?), `withdrawn` when a party withdraws consent during the call
(the DTMF withdrawal key), and `record` for every finished call or segment, which goes
through the policy gate and into the vault like a file would.

A party's withdrawal during a live call follows `on_withdrawal`: with `discard-call`
nothing of that call is stored, and segments of it stored earlier are erased; with
`keep-before` what was captured before the moment is stored (the capture keeps nothing
after it). Both are audited (`capture.withdrawal`, ids and times only).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import datetime
from typing import Any

from callvault.capture import Direction, Participant
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

    def withdrawn(self, sip_call_id: str | None, channel: int, at_seconds: float) -> None:
        """A party withdrew consent `at_seconds` into the call: audit it now."""
        with self._lock:
            if sip_call_id is not None:
                self._withdrawn.add(sip_call_id)
            self._vault.record_event(
                "capture.withdrawal",
                "capture",
                _digest(sip_call_id),
                details={
                    "channel": channel,
                    "at_seconds": round(at_seconds, 3),
                    "mode": self.config.on_withdrawal,
                },
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
        return report

    def _discard_earlier_segments(self, key: str | None) -> None:
        for call_id in self._segments.pop(key, []) if key is not None else []:
            erase_call(
                Context(self._vault.config, self._vault),
                call_id,
                reason="a party withdrew consent during the call",
            )
