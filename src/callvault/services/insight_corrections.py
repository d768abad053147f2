"""Use case: a user corrects an insight, and the correction outlives a re-run.

A correction names an insight by its section and an *anchor* that a re-run of the
stages on the same transcript gives again (the utterances an action item cites, the
tracker and utterances of a hit, a keyword's text, ...), not by its position in a list.
Corrections are kept encrypted with their history (`Vault.correct_insight`, old and new
value, who, why) and applied each time the insights are read (`apply_corrections`):
a re-run replaces the stored insights, and the corrections apply to the new ones
wherever their anchor is found again; one whose anchor is gone is listed as not applied.

Fields that can be corrected, per section:

| section | list | anchor | fields |
|---|---|---|---|
| actions | actions.items | kind and cited utterances | owner, text, due, removed |
| summary | summary.points | cited utterances | text, removed |
| trackers | trackers.hits | tracker and utterances | removed |
| keywords | keywords.keywords | text, case-folded | removed |
| sentiment | sentiment.items | utterance | label |
| compliance | trackers.compliance.checks | check name | passed |

`add_action` adds an action item the stages missed (anchored to its own id).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callvault.errors import InputError
from callvault.services._context import Context
from callvault.vault import CorrectionRecord, Vault

__all__ = ["SECTIONS", "add_action", "apply_corrections", "correct_insight"]

_MAX_TEXT = 500


def _utterances(item: dict[str, Any]) -> str:
    return ",".join(str(u) for u in item.get("utterances", []))


def _text(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise InputError("the new text is empty")
    if len(text) > _MAX_TEXT:
        raise InputError(f"the new text has {len(text)} characters; keep it to {_MAX_TEXT}")
    return text


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise InputError(f"expected true or false, not {value!r}")


def _due(value: str) -> str | None:
    if value.strip().lower() in ("", "none", "null"):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(
            f"the due date {value!r} is not ISO 8601 (e.g. 2026-03-06 or 2026-03-06T17:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(hour=when.hour or 17, tzinfo=UTC)
    return when.astimezone(UTC).isoformat()


def _label(value: str) -> str:
    label = value.strip().lower()
    if label not in ("positive", "negative", "neutral"):
        raise InputError(f"a sentiment label is positive, negative or neutral, not {value!r}")
    return label


@dataclass(frozen=True)
class Section:
    path: tuple[str, ...]  # keys down to the list in the insights document
    anchor: Callable[[dict[str, Any]], str]
    fields: dict[str, Callable[[str], Any]]

    def items(self, insights: dict[str, Any]) -> list[dict[str, Any]] | None:
        node: Any = insights
        for key in self.path:
            if not isinstance(node, dict) or node.get(key) is None:
                return None
            node = node[key]
        return node if isinstance(node, list) else None


SECTIONS: dict[str, Section] = {
    "actions": Section(
        ("actions", "items"),
        lambda item: f"{item.get('kind', '')}:{_utterances(item)}",
        {"owner": _text, "text": _text, "due": _due, "removed": _flag},
    ),
    "summary": Section(("summary", "points"), _utterances, {"text": _text, "removed": _flag}),
    "trackers": Section(
        ("trackers", "hits"),
        lambda item: f"{item.get('tracker', '')}:{_utterances(item)}",
        {"removed": _flag},
    ),
    "keywords": Section(
        ("keywords", "keywords"),
        lambda item: str(item.get("text", "")).casefold(),
        {"removed": _flag},
    ),
    "sentiment": Section(
        ("sentiment", "items"), lambda item: str(item.get("utterance")), {"label": _label}
    ),
    "compliance": Section(
        ("trackers", "compliance", "checks"),
        lambda item: str(item.get("name", "")),
        {"passed": _flag},
    ),
}

_ADDED = "+"  # anchors of items a user added start with this


def _key(section: str, anchor: str, field: str) -> str:
    return f"{section}/{anchor}/{field}"


def _parse_key(key: str) -> tuple[str, str, str]:
    section, _, rest = key.partition("/")
    anchor, _, field = rest.rpartition("/")
    return section, anchor, field


def apply_corrections(
    insights: dict[str, Any] | None, corrections: Sequence[CorrectionRecord]
) -> dict[str, Any] | None:
    """The insights document with the corrections applied, oldest first (a later one wins);
    corrected items say `"corrected": true`, removed ones are left out, and
    `corrections` lists each with whether it applied (the values are in the items and in
    `insights history`)."""
    if insights is None:
        return None
    out = copy.deepcopy(insights)
    listed: list[dict[str, Any]] = []
    for record in corrections:
        if record.target != "insight":
            continue
        section_name, anchor, field = _parse_key(record.key)
        if section_name == "scorecard":
            continue  # a reviewer's score override: applied to the scorecard (services.scorecards)
        section = SECTIONS.get(section_name)
        items = section.items(out) if section is not None else None
        applied = False
        if section is not None and items is not None:
            value = json.loads(record.new)
            if anchor.startswith(_ADDED) and field == "item" and isinstance(value, dict):
                items.append({**value, "corrected": True, "added": True})
                applied = True
            else:
                for item in items:
                    if section.anchor(item) == anchor or item.get("anchor") == anchor:
                        item[field] = value
                        item["corrected"] = True
                        applied = True
        listed.append(
            {
                "id": record.id,
                "section": section_name,
                "field": field,
                "applied": applied,
                "actor": record.actor,
                "reason": record.reason,
                "created_at": record.created_at.isoformat(),
            }
        )
    for section in SECTIONS.values():
        items = section.items(out)
        if items is not None:
            items[:] = [item for item in items if item.get("removed") is not True]
    out["corrections"] = listed
    return out


def _current(vault: Vault, call_id: str, actor: str | None) -> dict[str, Any]:
    document = vault.artifacts.read_insights(call_id, actor=actor, purpose="insight correction")
    if document is None:
        raise InputError(
            f"call {call_id} has no insights yet; process it first (`callvault process {call_id}`)"
        )
    insights = json.loads(document)["insights"]
    corrections = vault.corrections.corrections(call_id, actor=actor, purpose="insight correction")
    corrected = apply_corrections(insights, corrections)
    assert corrected is not None
    return corrected


def correct_insight(
    ctx: Context,
    call_id: str,
    section: str,
    index: int,
    field: str,
    value: str,
    *,
    reason: str,
    actor: str | None = None,
) -> CorrectionRecord:
    """Correct `field` of item `index` (0-based, as `show --json` lists it after earlier
    corrections) of an insight section."""
    vault = ctx.vault
    spec = SECTIONS.get(section)
    if spec is None:
        raise InputError(f"unknown section {section!r}; use one of {', '.join(SECTIONS)}")
    if field not in spec.fields:
        raise InputError(
            f"{section} items have no correctable field {field!r}; use one of "
            f"{', '.join(spec.fields)}"
        )
    new = spec.fields[field](value)
    items = spec.items(_current(vault, call_id, actor)) or []
    if not 0 <= index < len(items):
        valid = f"0 to {len(items) - 1}" if items else "none: the list is empty"
        raise InputError(f"call {call_id} has no {section} item {index} (items {valid})")
    item = items[index]
    anchor = item.get("anchor") or spec.anchor(item)
    old = item.get(field)
    if old == new:
        raise InputError(f"{section} item {index} already has that {field}; nothing to correct")
    return vault.artifacts.correct_insight(
        call_id,
        _key(section, anchor, field),
        {"value": json.dumps(old)},
        {"value": json.dumps(new)},
        reason,
        actor=actor,
    )


def add_action(
    ctx: Context,
    call_id: str,
    *,
    utterance: int,
    owner: str,
    text: str,
    due: str | None = None,
    reason: str,
    actor: str | None = None,
) -> CorrectionRecord:
    """Add an action item the stages missed, citing the utterance it comes from."""
    vault = ctx.vault
    document = vault.transcripts.read_transcript(call_id, actor=actor, purpose="insight correction")
    count = len(json.loads(document)["utterances"]) if document is not None else 0
    if not 0 <= utterance < count:
        raise InputError(f"call {call_id} has no utterance {utterance} ({count} utterances)")
    anchor = f"{_ADDED}{uuid.uuid4().hex[:12]}"
    item = {
        "owner": _text(owner),
        "text": _text(text),
        "due": _due(due) if due else None,
        "due_text": None,
        "kind": "added",
        "speaker": None,
        "confidence": 1.0,
        "utterances": [utterance],
        "anchor": anchor,
    }
    return vault.artifacts.correct_insight(
        call_id,
        _key("actions", anchor, "item"),
        {"value": json.dumps(None)},
        {"value": json.dumps(item)},
        reason,
        actor=actor,
    )
