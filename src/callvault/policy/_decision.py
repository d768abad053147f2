"""The recording decision for one call: whether to record, what consent and notice it
needs, which notice to play and how long to keep the recording.

`decide` only computes; the vault carries the decision out. `record` says what the
organisation's rules want; `consent` says what must be obtained before the recording may
be kept (the strictest requirement among all participants' jurisdictions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callvault.errors import InputError
from callvault.policy._jurisdiction import UNKNOWN, Jurisdiction, jurisdiction_of
from callvault.policy._notices import NoticeOptions, choose_language, render_notice
from callvault.policy._rules import DIRECTIONS, CallFacts, Reason, RuleSet
from callvault.policy._table import Consent, JurisdictionTable, stricter

__all__ = ["DECISION_SCHEMA", "Decision", "decide"]

DECISION_SCHEMA = "callvault.policy.decision/1"
# A PBX often reports emergency and internal numbers without a country code ("112",
# "2041"); such short numbers get an unknown jurisdiction, hence the strictest rule.
_SHORT_NUMBER = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class Decision:
    """What the policy decided for one call, and why."""

    record: bool
    consent: Consent
    notice_required: bool
    notice_language: str
    notice_text: str
    retention_class: str
    jurisdictions: tuple[Jurisdiction, ...]
    reasons: tuple[Reason, ...]
    legal_review: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict whose keys and their order do not change within a schema."""
        return {
            "schema": DECISION_SCHEMA,
            "record": self.record,
            "consent": self.consent,
            "notice_required": self.notice_required,
            "notice_language": self.notice_language,
            "notice_text": self.notice_text,
            "retention_class": self.retention_class,
            "legal_review": self.legal_review,
            "jurisdictions": [j.to_dict() for j in self.jurisdictions],
            "reasons": [reason.to_dict() for reason in self.reasons],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)


def _jurisdiction(participant: str) -> Jurisdiction:
    if _SHORT_NUMBER.fullmatch(participant):
        return Jurisdiction(UNKNOWN)
    return jurisdiction_of(participant)


def _said(consent: Consent, notice: bool) -> str:
    return f"{consent} consent, notice {'required' if notice else 'not required'}"


def decide(
    participants: Sequence[str],
    *,
    direction: str | None,
    team: str | None,
    group: str | None,
    category: str | None,
    at: datetime,
    rules: RuleSet,
    table: JurisdictionTable,
    language: str | None = None,
    organisation: str,
    notice_options: NoticeOptions | None = None,
) -> Decision:
    """Decide whether and how one call may be recorded.

    `participants` are E.164 numbers (or short numbers such as "112"), the party who
    hears the notice first: the notice language follows the first participant whose
    country is known unless `language` (BCP 47) names one callvault has. No number at all
    stands for parties of unknown jurisdiction: the strictest rule applies.
    """
    if isinstance(participants, str):
        raise InputError("participants must be a list of phone numbers, not one string")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError("the call time has no time zone; pass an aware datetime")
    if direction is not None and direction not in DIRECTIONS:
        raise InputError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")

    # No number known (a recording of unknown parties): one party of unknown jurisdiction,
    # whose rule is the strictest.
    jurisdictions = tuple(_jurisdiction(p) for p in participants) or (Jurisdiction(UNKNOWN),)
    reasons: list[Reason] = []
    consent: Consent = "none"
    notice = legal_review = False
    for index, jurisdiction in enumerate(jurisdictions):
        entry = table.rule_for(jurisdiction)
        consent = stricter(consent, entry.consent)
        notice = notice or entry.notice
        legal_review = legal_review or entry.legal_review
        said = _said(entry.consent, entry.notice)
        if entry.key != jurisdiction.key:
            said += f" (no entry for {jurisdiction.key})"
        reasons.append(Reason(f"jurisdiction {entry.key}", said, index))

    outcome = rules.apply(
        CallFacts(tuple(participants), jurisdictions, at, direction, team, group, category)
    )
    reasons += outcome.reasons
    notice_language, why = choose_language(language, jurisdictions)
    reasons.append(Reason("notice.language", why))
    notice_text = render_notice(
        notice_language, organisation=organisation, options=notice_options
    ).spoken
    return Decision(
        record=outcome.record,
        consent=consent,
        notice_required=outcome.record and notice,
        notice_language=notice_language,
        notice_text=notice_text,
        retention_class=outcome.retention_class,
        jurisdictions=jurisdictions,
        reasons=tuple(reasons),
        legal_review=legal_review,
    )
