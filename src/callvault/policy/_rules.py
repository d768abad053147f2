"""Recording rules: which calls the organisation wants recorded, read from a TOML file.

The file holds ordered `[[rule]]` tables (the first that matches decides), a `[deny]`
table that always wins over any rule, and the `default` for calls no rule matches. Every
key is checked when the file is loaded (`load_rules` is the `validate()`; `RuleSet.apply`
only evaluates): an unknown key, action, direction, retention class, day, time zone or
jurisdiction is a `ConfigError` naming it, never a silently skipped rule.

    default = "do-not-record"      # also what a file without `default` means (fail closed)
    retention = "standard"         # retention class when the deciding rule names none

    [deny]                          # wins over every rule
    numbers = ["+4930901820", "+1900*"]
    emergency = true                # default: emergency numbers are never recorded
    categories = ["hr", "medical", "personal"]   # default when the key is absent

    [[rule]]
    name = "trading desk"
    action = "record"
    group = "trading"
    retention = "mifid-5y"

    [[rule]]
    name = "uk sales, office hours"
    action = "record"
    number = ["+4420", "+44161*"]   # E.164 prefix, or a glob when it has * ? or [
    team = "sales"
    direction = ["inbound", "outbound"]
    time = { days = ["mon-fri"], hours = "08:00-18:00", timezone = "Europe/London" }
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callvault.errors import ConfigError
from callvault.policy._emergency import is_emergency_number
from callvault.policy._files import check_keys, read_toml
from callvault.policy._jurisdiction import Jurisdiction, is_known_jurisdiction
from callvault.policy._retention import DEFAULT_RETENTION, check_retention

__all__ = [
    "ACTIONS",
    "DIRECTIONS",
    "Action",
    "CallFacts",
    "DenyList",
    "Direction",
    "Reason",
    "Rule",
    "RuleSet",
    "TimeWindow",
    "load_rules",
    "parse_rules",
]

Action = Literal["record", "do-not-record"]
ACTIONS: tuple[Action, ...] = ("record", "do-not-record")
Direction = Literal["inbound", "outbound", "internal"]
DIRECTIONS: tuple[Direction, ...] = ("inbound", "outbound", "internal")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_DENIED_CATEGORIES = ("hr", "medical", "personal")

_TOP_KEYS = ("default", "retention", "deny", "rule")
_DENY_KEYS = ("numbers", "emergency", "categories")
_RULE_KEYS = (
    "name",
    "action",
    "number",
    "team",
    "group",
    "direction",
    "category",
    "jurisdiction",
    "time",
    "retention",
)
_TIME_KEYS = ("days", "hours", "timezone")
_NUMBER_PATTERN = re.compile(r"\+?[0-9*?\[\]!\-]+")
_HOURS = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])")
_SEPARATORS = str.maketrans("", "", " .()-")


@dataclass(frozen=True)
class Reason:
    """Why a decision came out as it did: one rule or table entry and what it said.

    `participant` is the index of the participant it is about (None: the whole call); the
    number itself is not repeated, so reasons can be logged and stored as they are.
    """

    rule: str
    said: str
    participant: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "participant": self.participant, "said": self.said}


@dataclass(frozen=True)
class CallFacts:
    """What the rules can match on, for one call."""

    participants: tuple[str, ...]
    jurisdictions: tuple[Jurisdiction, ...]
    at: datetime
    direction: str | None = None
    team: str | None = None
    group: str | None = None
    category: str | None = None


def _number_matches(pattern: str, number: str) -> bool:
    if any(char in pattern for char in "*?["):
        return fnmatchcase(number, pattern)
    return number.startswith(pattern)


def _any_number_matches(patterns: Sequence[str], numbers: Sequence[str]) -> int | None:
    """The index of the first participant matching one of `patterns`."""
    for index, number in enumerate(numbers):
        plain = number.translate(_SEPARATORS)
        if any(_number_matches(pattern, plain) for pattern in patterns):
            return index
    return None


@dataclass(frozen=True)
class TimeWindow:
    """Days of the week and a time of day in one time zone.

    A window whose end is not after its start runs across midnight ("22:00-06:00"); the
    hours after midnight belong to the day the window started on, so `days = ["fri"]`
    with "22:00-06:00" covers Friday 22:00 to Saturday 06:00.
    """

    days: frozenset[int]  # 0 is Monday, as datetime.weekday()
    start: time
    end: time
    timezone: str

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        now, day = local.time().replace(tzinfo=None), local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        started_yesterday = (local - timedelta(days=1)).weekday() in self.days
        return (day in self.days and now >= self.start) or (started_yesterday and now < self.end)

    def describe(self) -> str:
        days = ",".join(DAYS[day] for day in sorted(self.days))
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M} {self.timezone}"


@dataclass(frozen=True)
class Rule:
    """One `[[rule]]`: every match field that is set must match (empty means any)."""

    name: str
    action: Action
    numbers: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    time: TimeWindow | None = None
    retention: str | None = None

    def matches(self, call: CallFacts) -> bool:
        if self.numbers and _any_number_matches(self.numbers, call.participants) is None:
            return False
        for wanted, value in (
            (self.teams, call.team),
            (self.groups, call.group),
            (self.directions, call.direction),
            (self.categories, call.category),
        ):
            if wanted and value not in wanted:
                return False
        if self.jurisdictions and not any(
            j.key in self.jurisdictions or j.country in self.jurisdictions
            for j in call.jurisdictions
        ):
            return False
        return self.time is None or self.time.contains(call.at)


@dataclass(frozen=True)
class DenyList:
    """Calls that are never recorded, whatever the rules say."""

    numbers: tuple[str, ...] = ()
    emergency: bool = True
    categories: tuple[str, ...] = DEFAULT_DENIED_CATEGORIES

    def refusals(self, call: CallFacts) -> tuple[Reason, ...]:
        reasons: list[Reason] = []
        if self.emergency:
            reasons += [
                Reason("deny.emergency", "do-not-record: an emergency number", index)
                for index, number in enumerate(call.participants)
                if is_emergency_number(number)
            ]
        if self.numbers:
            index = _any_number_matches(self.numbers, call.participants)
            if index is not None:
                reasons.append(Reason("deny.numbers", "do-not-record: a denied number", index))
        if call.category is not None and call.category in self.categories:
            reasons.append(Reason("deny.categories", f"do-not-record: category {call.category!r}"))
        return tuple(reasons)


@dataclass(frozen=True)
class Outcome:
    """What the rules say about one call."""

    record: bool
    retention_class: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class RuleSet:
    """The validated recording rules of an organisation."""

    rules: tuple[Rule, ...] = ()
    deny: DenyList = field(default_factory=DenyList)
    default: Action = "do-not-record"
    retention: str = DEFAULT_RETENTION
    source: str = "rules"
    default_configured: bool = False  # False: `default` is the fail-closed fallback

    def apply(self, call: CallFacts) -> Outcome:
        """Deny-lists first, then the first matching rule, then the default."""
        refusals = self.deny.refusals(call)
        if refusals:
            return Outcome(False, self.retention, refusals)
        for rule in self.rules:
            if rule.matches(call):
                retention = rule.retention or self.retention
                return Outcome(
                    rule.action == "record", retention, (Reason(rule.name, rule.action),)
                )
        why = "no rule matched" if self.default_configured else "no rule matched, no default set"
        return Outcome(
            self.default == "record", self.retention, (Reason("default", f"{self.default}: {why}"),)
        )


# Loading and validation ------------------------------------------------------------------


def _strings(source: str, where: str, value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
        raise ConfigError(f"{source}: {where}: expected a text or a list of texts, got {value!r}")
    return tuple(items)


def _choices(source: str, where: str, value: object, allowed: Sequence[str]) -> tuple[str, ...]:
    values = _strings(source, where, value)
    for item in values:
        if item not in allowed:
            raise ConfigError(
                f"{source}: {where}: unknown value {item!r}; allowed values are "
                f"{', '.join(allowed)}"
            )
    return values


def _action(source: str, where: str, value: object) -> Action:
    for action in ACTIONS:
        if value == action:
            return action
    raise ConfigError(
        f"{source}: {where}: unknown action {value!r}; allowed values are {', '.join(ACTIONS)}"
    )


def _without_separators(pattern: str) -> str:
    """`pattern` without spaces, dots, brackets and hyphens, keeping `[0-5]` glob ranges."""
    parts = re.split(r"(\[[^\]]*\])", pattern)
    return "".join(p if p.startswith("[") else p.translate(_SEPARATORS) for p in parts)


def _numbers(source: str, where: str, value: object) -> tuple[str, ...]:
    patterns = tuple(_without_separators(item) for item in _strings(source, where, value))
    for pattern in patterns:
        if not _NUMBER_PATTERN.fullmatch(pattern):
            raise ConfigError(
                f"{source}: {where}: {pattern!r} is not a number pattern; write an E.164 "
                'prefix such as "+4420" or a glob such as "+1415555*"'
            )
    return patterns


def _jurisdictions(source: str, where: str, value: object) -> tuple[str, ...]:
    keys = _strings(source, where, value)
    for key in keys:
        if not is_known_jurisdiction(key):
            raise ConfigError(
                f"{source}: {where}: unknown jurisdiction {key!r}; use an ISO 3166-1 country "
                'code ("DE"), a US state or Canadian province ("US-CA", "CA-QC") or "unknown"'
            )
    return keys


def _days(source: str, where: str, value: object) -> frozenset[int]:
    days: set[int] = set()
    for item in _strings(source, where, value):
        first, _, last = item.lower().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ConfigError(
                f"{source}: {where}: unknown day {item!r}; use {', '.join(DAYS)} or a range "
                'such as "mon-fri"'
            )
        start, end = DAYS.index(first), DAYS.index(last or first)
        days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return frozenset(days)


def _time_window(source: str, where: str, value: object) -> TimeWindow:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{source}: {where}: expected a table with {', '.join(_TIME_KEYS)}, got {value!r}"
        )
    check_keys(source, where, value, _TIME_KEYS)
    for required in ("hours", "timezone"):
        if required not in value:
            raise ConfigError(f"{source}: {where}: missing {required}; add it")
    hours = value["hours"]
    match = _HOURS.fullmatch(hours) if isinstance(hours, str) else None
    if match is None:
        raise ConfigError(
            f"{source}: {where}.hours: {hours!r} is not a time window; write HH:MM-HH:MM "
            'such as "08:00-18:00" (or "22:00-06:00" across midnight)'
        )
    start = time(int(match.group(1)), int(match.group(2)))
    end = time(int(match.group(3)), int(match.group(4)))
    if start == end:
        raise ConfigError(
            f"{source}: {where}.hours: {hours!r} starts and ends at the same time; for a whole "
            "day leave out `time`"
        )
    zone = value["timezone"]
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ConfigError(
            f"{source}: {where}.timezone: unknown time zone {zone!r}; use an IANA name such "
            'as "Europe/Berlin" or "UTC"'
        ) from None
    days = _days(source, f"{where}.days", value["days"]) if "days" in value else range(7)
    return TimeWindow(frozenset(days), start, end, zone)


def _rule(source: str, index: int, data: object) -> Rule:
    where = f"[[rule]] #{index}"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: {where}: expected a table")
    name = data.get("name", f"rule #{index}")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: {where}.name: expected a text, got {name!r}")
    if "name" in data:
        where = f"{where} ({name!r})"
    check_keys(source, where, data, _RULE_KEYS)
    if "action" not in data:
        raise ConfigError(f"{source}: {where}: missing action; use {' or '.join(ACTIONS)}")

    def get(key: str, parse: Any, *extra: Any) -> Any:
        return parse(source, f"{where}.{key}", data[key], *extra) if key in data else ()

    retention = data.get("retention")
    if retention is not None:
        if not isinstance(retention, str):
            raise ConfigError(f"{source}: {where}.retention: expected a text, got {retention!r}")
        check_retention(retention, where=f"{source}: {where}.retention")
    return Rule(
        name=name,
        action=_action(source, f"{where}.action", data["action"]),
        numbers=get("number", _numbers),
        teams=get("team", _strings),
        groups=get("group", _strings),
        directions=get("direction", _choices, DIRECTIONS),
        categories=get("category", _strings),
        jurisdictions=get("jurisdiction", _jurisdictions),
        time=_time_window(source, f"{where}.time", data["time"]) if "time" in data else None,
        retention=retention,
    )


def _deny(source: str, data: object) -> DenyList:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: [deny]: expected a table of {', '.join(_DENY_KEYS)}")
    check_keys(source, "[deny]", data, _DENY_KEYS)
    emergency = data.get("emergency", True)
    if not isinstance(emergency, bool):
        raise ConfigError(f"{source}: [deny].emergency: expected true or false")
    categories = data.get("categories", list(DEFAULT_DENIED_CATEGORIES))
    return DenyList(
        numbers=_numbers(source, "[deny].numbers", data["numbers"]) if "numbers" in data else (),
        emergency=emergency,
        categories=() if categories == [] else _strings(source, "[deny].categories", categories),
    )


def parse_rules(data: Mapping[str, Any], *, source: str = "rules") -> RuleSet:
    """Validate parsed TOML (`source` names it in errors) and build the rule set."""
    check_keys(source, "top level", data, _TOP_KEYS)
    default = _action(source, "default", data["default"]) if "default" in data else None
    retention = data.get("retention", DEFAULT_RETENTION)
    if not isinstance(retention, str):
        raise ConfigError(f"{source}: retention: expected a text, got {retention!r}")
    check_retention(retention, where=f"{source}: retention")
    rules = data.get("rule", [])
    if not isinstance(rules, list):
        raise ConfigError(f"{source}: rule: write each rule as a [[rule]] table")
    return RuleSet(
        rules=tuple(_rule(source, index, rule) for index, rule in enumerate(rules, start=1)),
        deny=_deny(source, data["deny"]) if "deny" in data else DenyList(),
        default=default or "do-not-record",  # no default: fail closed
        retention=retention,
        source=source,
        default_configured=default is not None,
    )


def load_rules(path: Path) -> RuleSet:
    """The recording rules in the TOML file at `path`, validated."""
    return parse_rules(read_toml(path), source=str(path))
