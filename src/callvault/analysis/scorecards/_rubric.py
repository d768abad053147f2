"""Scorecard rubrics: sections of weighted questions, each scored from evidence rules.

A rubric is a TOML file (docs/scorecards.md). Loading it fails closed: an unknown key, a
value of the wrong type or out of range, a duplicate id or an unknown metric is a
`ConfigError` that names the file, the section, the question and the key, never a rule
silently off. The rubric is parsed once into frozen records; scoring (`_score`) reads
them.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from callvault.errors import ConfigError

__all__ = [
    "CALL_METRICS",
    "COMPLIANCE_CHECKS",
    "DEFAULT_RUBRIC",
    "ROLES",
    "SPEAKER_METRICS",
    "ComplianceRule",
    "MetricBand",
    "MetricRule",
    "PhraseRule",
    "Question",
    "Rubric",
    "RubricSection",
    "Rule",
    "TrackerRule",
    "default_rubric",
    "load_rubric",
    "parse_rubric",
]

DEFAULT_RUBRIC = "default"
ROLES = ("agent", "customer", "any")
COMPLIANCE_CHECKS = ("disclosure", "prohibited")
# The metrics a rule may name: call-level ones, and a speaker's as "ROLE.NAME" (the
# speakers of that role in the stored insights' metrics section, docs/json.md).
CALL_METRICS = ("duration", "total_talk", "overlap", "silence_share", "interactivity")
SPEAKER_METRICS = (
    "talk_share",
    "talk_to_listen",
    "longest_monologue",
    "words_per_minute",
    "fillers_per_minute",
    "questions",
    "question_rate",
    "patience",
    "interruptions",
)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_MAX_PHRASES = 200


@dataclass(frozen=True)
class TrackerRule:
    """At least `min` hits of the tracker `tracker` (the stored trackers section) score
    `found`; fewer score `missing`, or give no evidence when `missing` is None."""

    tracker: str
    min: int = 1
    found: int | None = None
    missing: int | None = None
    weight: float = 1.0
    kind: str = "tracker"


@dataclass(frozen=True)
class PhraseRule:
    """One of `phrases` said by `role` (agent, customer or any), optionally within the
    first or last `within_first`/`within_last` seconds of the call, matched as trackers
    match (case-insensitive, inflections and a word more between tolerated)."""

    phrases: tuple[str, ...]
    role: str = "any"
    within_first: float | None = None
    within_last: float | None = None
    min: int = 1
    found: int | None = None
    missing: int | None = None
    weight: float = 1.0
    kind: str = "phrase"


@dataclass(frozen=True)
class MetricBand:
    """Values from `low` (inclusive) to `high` (exclusive) score `score`."""

    low: float
    high: float
    score: int


@dataclass(frozen=True)
class MetricRule:
    """A talk metric ("agent.talk_share", "silence_share", ...) mapped to a score by
    bands; a value near a band's edge (within `margin`) lowers the confidence."""

    metric: str
    bands: tuple[MetricBand, ...]
    margin: float | None = None
    weight: float = 1.0
    kind: str = "metric"


@dataclass(frozen=True)
class ComplianceRule:
    """A compliance check ("disclosure", "prohibited") that passed scores `found`; one that
    failed scores `missing` (or gives no evidence when `missing` is None)."""

    check: str
    found: int | None = None
    missing: int | None = None
    weight: float = 1.0
    kind: str = "compliance"


Rule = TrackerRule | PhraseRule | MetricRule | ComplianceRule


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    weight: float
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class RubricSection:
    id: str
    title: str
    weight: float
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Rubric:
    """A parsed rubric; `source` is where it was read from (a path, or "default")."""

    name: str
    version: str
    scale_min: int
    scale_max: int
    sections: tuple[RubricSection, ...]
    source: str

    def questions(self) -> list[tuple[RubricSection, Question]]:
        return [(section, q) for section in self.sections for q in section.questions]

    def question(self, question_id: str) -> Question | None:
        for _, question in self.questions():
            if question.id == question_id:
                return question
        return None


# -- validation -----------------------------------------------------------------------


class _Where:
    """Names the place of a value in a rubric file, for error messages."""

    def __init__(self, source: str, *parts: str) -> None:
        self.source = source
        self.parts = parts

    def at(self, part: str) -> _Where:
        return _Where(self.source, *self.parts, part)

    def error(self, key: str, problem: str) -> ConfigError:
        place = " ".join((*self.parts, f"key {key!r}")) if key else " ".join(self.parts)
        where = f"{place}: " if place else ""
        return ConfigError(f"rubric {self.source}: {where}{problem}")


def _table(raw: Any, where: _Where, key: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise where.error(key, "must be a table")
    return raw


def _keys(raw: Mapping[str, Any], allowed: Sequence[str], where: _Where) -> None:
    for key in raw:
        if key not in allowed:
            raise where.error(str(key), f"unknown key; expected {', '.join(sorted(allowed))}")


def _required(raw: Mapping[str, Any], key: str, where: _Where) -> Any:
    if key not in raw:
        raise where.error(key, "is missing")
    return raw[key]


def _str(raw: Mapping[str, Any], key: str, where: _Where, default: str | None = None) -> str:
    value = raw.get(key, default) if default is not None else _required(raw, key, where)
    if not isinstance(value, str) or not value.strip():
        raise where.error(key, "must be a non-empty string")
    return value.strip()


def _id(raw: Mapping[str, Any], key: str, where: _Where) -> str:
    value = _str(raw, key, where)
    if not _ID.match(value):
        raise where.error(
            key, f"{value!r} is not an id (lower-case letters, digits, '-' or '_', 63 at most)"
        )
    return value


def _number(raw: Mapping[str, Any], key: str, where: _Where, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(key, f"must be a number, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise where.error(key, f"must be a finite number >= 0, not {value!r}")
    return float(value)


def _optional_positive(raw: Mapping[str, Any], key: str, where: _Where) -> float | None:
    if key not in raw:
        return None
    value = _number(raw, key, where, 0.0)
    if value <= 0:
        raise where.error(key, "must be more than 0")
    return value


def _score(raw: Mapping[str, Any], key: str, where: _Where, scale: tuple[int, int]) -> int | None:
    if key not in raw:
        return None
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(key, f"must be a whole number, not {value!r}")
    if not scale[0] <= value <= scale[1]:
        raise where.error(key, f"{value} is outside the scale {scale[0]}..{scale[1]}")
    return value


def _count(raw: Mapping[str, Any], key: str, where: _Where) -> int:
    value = raw.get(key, 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.error(key, f"must be a whole number of at least 1, not {value!r}")
    return value


def _scores(
    raw: Mapping[str, Any], where: _Where, scale: tuple[int, int]
) -> tuple[int | None, int | None]:
    found = _score(raw, "found", where, scale)
    missing = _score(raw, "missing", where, scale)
    if found is None and missing is None:
        raise where.error("found", "give found or missing (the score when it holds or not)")
    return found, missing


_RULE_KEYS = {
    "tracker": ("kind", "tracker", "min", "found", "missing", "weight"),
    "phrase": (
        "kind",
        "phrases",
        "role",
        "within_first",
        "within_last",
        "min",
        "found",
        "missing",
        "weight",
    ),
    "metric": ("kind", "metric", "bands", "margin", "weight"),
    "compliance": ("kind", "check", "found", "missing", "weight"),
}


def _metric_name(raw: Mapping[str, Any], where: _Where) -> str:
    name = _str(raw, "metric", where)
    role, dot, field = name.partition(".")
    if not dot and name in CALL_METRICS:
        return name
    if dot and role in ("agent", "customer") and field in SPEAKER_METRICS:
        return name
    raise where.error(
        "metric",
        f"unknown metric {name!r}; use one of {', '.join(CALL_METRICS)}, or agent.NAME or "
        f"customer.NAME with NAME one of {', '.join(SPEAKER_METRICS)}",
    )


def _bands(raw: Mapping[str, Any], where: _Where, scale: tuple[int, int]) -> tuple[MetricBand, ...]:
    value = _required(raw, "bands", where)
    if not isinstance(value, list) or not value:
        raise where.error("bands", "must be a non-empty list of [low, high, score]")
    out: list[MetricBand] = []
    for i, band in enumerate(value):
        if (
            not isinstance(band, list)
            or len(band) != 3
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in band)
            or not isinstance(band[2], int)
        ):
            raise where.error("bands", f"band {i} must be [low, high, score] (numbers)")
        low, high, score = float(band[0]), float(band[1]), int(band[2])
        if math.isnan(low) or math.isnan(high) or not low < high:
            raise where.error("bands", f"band {i}: low {band[0]} must be less than high {band[1]}")
        if not scale[0] <= score <= scale[1]:
            raise where.error("bands", f"band {i}: score {score} is outside {scale[0]}..{scale[1]}")
        if out and low < out[-1].high:
            raise where.error("bands", f"band {i} overlaps band {i - 1}; list them in order")
        out.append(MetricBand(low, high, score))
    return tuple(out)


def _rule(raw: Any, where: _Where, scale: tuple[int, int]) -> Rule:
    table = _table(raw, where, "")
    kind = _str(table, "kind", where)
    if kind not in _RULE_KEYS:
        raise where.error("kind", f"unknown kind {kind!r}; use one of {', '.join(_RULE_KEYS)}")
    _keys(table, _RULE_KEYS[kind], where)
    weight = _number(table, "weight", where, 1.0)
    if weight <= 0:
        raise where.error("weight", "must be more than 0")
    if kind == "tracker":
        found, missing = _scores(table, where, scale)
        return TrackerRule(
            _str(table, "tracker", where), _count(table, "min", where), found, missing, weight
        )
    if kind == "phrase":
        phrases = _required(table, "phrases", where)
        if (
            not isinstance(phrases, list)
            or not phrases
            or len(phrases) > _MAX_PHRASES
            or not all(isinstance(p, str) and p.strip() for p in phrases)
        ):
            raise where.error("phrases", f"must be a list of 1 to {_MAX_PHRASES} phrases")
        role = _str(table, "role", where, "any")
        if role not in ROLES:
            raise where.error("role", f"must be one of {', '.join(ROLES)}, not {role!r}")
        first = _optional_positive(table, "within_first", where)
        last = _optional_positive(table, "within_last", where)
        if first is not None and last is not None:
            raise where.error("within_last", "give within_first or within_last, not both")
        found, missing = _scores(table, where, scale)
        return PhraseRule(
            tuple(p.strip() for p in phrases),
            role,
            first,
            last,
            _count(table, "min", where),
            found,
            missing,
            weight,
        )
    if kind == "metric":
        margin = _optional_positive(table, "margin", where)
        return MetricRule(_metric_name(table, where), _bands(table, where, scale), margin, weight)
    check = _str(table, "check", where)
    if check not in COMPLIANCE_CHECKS:
        raise where.error(
            "check", f"unknown check {check!r}; use one of {', '.join(COMPLIANCE_CHECKS)}"
        )
    found, missing = _scores(table, where, scale)
    return ComplianceRule(check, found, missing, weight)


def _question(raw: Any, where: _Where, scale: tuple[int, int]) -> Question:
    table = _table(raw, where, "")
    _keys(table, ("id", "text", "weight", "evidence"), where)
    qid = _id(table, "id", where)
    here = where.at(f"question {qid!r}")
    weight = _number(table, "weight", here, 1.0)
    evidence = _required(table, "evidence", here)
    if not isinstance(evidence, list) or not evidence:
        raise here.error("evidence", "must be a non-empty list of rules ([[...evidence]])")
    rules = tuple(_rule(r, here.at(f"evidence {i}"), scale) for i, r in enumerate(evidence))
    return Question(qid, _str(table, "text", here), weight, rules)


def _section(raw: Any, where: _Where, scale: tuple[int, int]) -> RubricSection:
    table = _table(raw, where, "")
    _keys(table, ("id", "title", "weight", "questions"), where)
    sid = _id(table, "id", where)
    here = where.at(f"section {sid!r}")
    questions = _required(table, "questions", here)
    if not isinstance(questions, list) or not questions:
        raise here.error("questions", "must be a non-empty list of questions")
    return RubricSection(
        sid,
        _str(table, "title", here),
        _number(table, "weight", here, 1.0),
        tuple(_question(q, here, scale) for q in questions),
    )


def parse_rubric(text: str, source: str) -> Rubric:
    """A rubric from TOML text; `source` names it in errors."""
    top = _Where(source)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"rubric {source} is not valid TOML: {exc}") from None
    _keys(raw, ("name", "version", "scale", "sections"), top)
    scale_raw = raw.get("scale", [1, 5])
    if (
        not isinstance(scale_raw, list)
        or len(scale_raw) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in scale_raw)
        or not 0 <= scale_raw[0] < scale_raw[1] <= 100
    ):
        raise top.error("scale", f"must be [low, high], whole numbers 0..100, not {scale_raw!r}")
    scale = (int(scale_raw[0]), int(scale_raw[1]))
    version = raw.get("version", "1")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not version.strip():
        raise top.error("version", 'must be a string such as "1"')
    sections_raw = _required(raw, "sections", top)
    if not isinstance(sections_raw, list) or not sections_raw:
        raise top.error("sections", "must be a non-empty list of sections ([[sections]])")
    sections = tuple(_section(s, top, scale) for s in sections_raw)
    seen: set[str] = set()
    for section in sections:
        if section.id in seen:
            raise top.error("", f"section id {section.id!r} is used twice")
        seen.add(section.id)
    seen.clear()
    for section in sections:
        for question in section.questions:
            if question.id in seen:
                raise top.error("", f"question id {question.id!r} is used twice")
            seen.add(question.id)
    name = _id(raw, "name", top)
    if sum(s.weight for s in sections) <= 0:
        raise top.error("sections", "every section has weight 0; nothing would count")
    return Rubric(name, version.strip(), scale[0], scale[1], sections, source)


def load_rubric(path: Path) -> Rubric:
    """A rubric from a TOML file; a `ConfigError` names the file and the key at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"rubric {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"rubric {path} is not UTF-8 text") from None
    return parse_rubric(text, str(path))


@functools.cache
def default_rubric() -> Rubric:
    """The bundled rubric (data/default.toml): opening, discovery, objection handling,
    next steps, compliance."""
    text = resources.files("callvault.analysis.scorecards").joinpath("data", "default.toml")
    return parse_rubric(text.read_text("utf-8"), DEFAULT_RUBRIC)
