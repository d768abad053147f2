"""Recording rules: matching, deny-lists, defaults and every configuration error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callvault.errors import ConfigError
from callvault.policy import (
    CallFacts,
    Jurisdiction,
    RuleSet,
    is_emergency_number,
    jurisdiction_of,
    load_rules,
    parse_rules,
)

MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def facts(*participants: str, at: datetime = MONDAY_NOON, **fields: str | None) -> CallFacts:
    numbers = participants or ("+12125550100",)
    return CallFacts(
        participants=numbers,
        # short numbers ("112") have no country; decide() gives them an unknown jurisdiction
        jurisdictions=tuple(
            jurisdiction_of(n) if n.startswith("+") else Jurisdiction("unknown") for n in numbers
        ),
        at=at,
        **fields,  # type: ignore[arg-type]
    )


def records(rules: RuleSet, call: CallFacts) -> bool:
    return rules.apply(call).record


def one_rule(**rule: Any) -> RuleSet:
    return parse_rules({"default": "do-not-record", "rule": [{"action": "record", **rule}]})


# Matching --------------------------------------------------------------------------------


def test_number_prefix() -> None:
    rules = one_rule(number="+4420")
    assert records(rules, facts("+442071234567"))
    assert not records(rules, facts("+441612345678"))


def test_number_glob_and_separators() -> None:
    rules = one_rule(number=["+1415555*", "+4416?2345678"])
    assert records(rules, facts("+1 415 555 0100"))
    assert records(rules, facts("+441612345678"))
    assert not records(rules, facts("+14155560100"))


def test_number_glob_ranges_keep_their_hyphen() -> None:
    rules = one_rule(number="+1 (415) 55[0-4]*")
    assert rules.rules[0].numbers == ("+141555[0-4]*",)
    assert records(rules, facts("+14155530100"))
    assert not records(rules, facts("+14155550100"))


def test_any_participant_may_match_a_number() -> None:
    assert records(one_rule(number="+4420"), facts("+12125550100", "+442071234567"))


@pytest.mark.parametrize("field", ["team", "group", "category"])
def test_text_fields(field: str) -> None:
    rules = one_rule(**{field: ["sales", "support"]})
    assert records(rules, facts(**{field: "support"}))
    assert not records(rules, facts(**{field: "legal"}))
    assert not records(rules, facts())  # the call says nothing: the rule does not match


def test_direction() -> None:
    rules = one_rule(direction="outbound")
    assert records(rules, facts(direction="outbound"))
    assert not records(rules, facts(direction="inbound"))
    assert not records(rules, facts(direction="internal"))


def test_jurisdiction_matches_region_or_country() -> None:
    by_state = one_rule(jurisdiction="US-CA")
    assert records(by_state, facts("+14155550100"))
    assert not records(by_state, facts("+12125550100"))
    assert records(one_rule(jurisdiction=["US"]), facts("+12125550100"))


def test_all_fields_must_match() -> None:
    rules = one_rule(team="sales", direction="inbound")
    assert records(rules, facts(team="sales", direction="inbound"))
    assert not records(rules, facts(team="sales", direction="outbound"))


def test_time_window_in_its_time_zone() -> None:
    rules = one_rule(time={"days": ["mon-fri"], "hours": "09:00-17:00", "timezone": "Asia/Tokyo"})
    tokyo = ZoneInfo("Asia/Tokyo")
    assert records(rules, facts(at=datetime(2026, 11, 23, 9, 0, tzinfo=tokyo)))
    assert not records(rules, facts(at=datetime(2026, 11, 23, 17, 0, tzinfo=tokyo)))
    # Monday 12:00 UTC is Monday 21:00 in Tokyo: outside
    assert not records(rules, facts(at=MONDAY_NOON))
    # Monday 01:00 UTC is Monday 10:00 in Tokyo: inside
    assert records(rules, facts(at=datetime(2026, 11, 23, 1, 0, tzinfo=UTC)))
    # Saturday in Tokyo
    assert not records(rules, facts(at=datetime(2026, 11, 28, 10, 0, tzinfo=tokyo)))


def test_time_window_across_midnight() -> None:
    rules = one_rule(time={"days": ["fri"], "hours": "22:00-06:00", "timezone": "Europe/Berlin"})
    berlin = ZoneInfo("Europe/Berlin")
    friday, saturday = datetime(2026, 11, 27, tzinfo=berlin), datetime(2026, 11, 28, tzinfo=berlin)
    assert records(rules, facts(at=friday.replace(hour=23, minute=30)))
    assert records(rules, facts(at=saturday.replace(hour=5, minute=59)))  # Friday's night
    assert not records(rules, facts(at=saturday.replace(hour=6)))
    assert not records(rules, facts(at=friday.replace(hour=2)))  # Thursday's night: not listed
    assert not records(rules, facts(at=saturday.replace(hour=23)))


def test_day_ranges_wrap_around_the_week() -> None:
    rules = one_rule(time={"days": ["sat-mon"], "hours": "00:00-12:00", "timezone": "UTC"})
    assert rules.rules[0].time is not None
    assert rules.rules[0].time.days == frozenset({5, 6, 0})


def test_first_matching_rule_wins() -> None:
    rules = parse_rules(
        {
            "default": "record",
            "rule": [
                {"name": "no legal", "action": "do-not-record", "team": "legal"},
                {"name": "everyone", "action": "record"},
            ],
        }
    )
    outcome = rules.apply(facts(team="legal"))
    assert not outcome.record
    assert [(r.rule, r.said) for r in outcome.reasons] == [("no legal", "do-not-record")]
    assert rules.apply(facts(team="sales")).reasons[0].rule == "everyone"


# Defaults --------------------------------------------------------------------------------


def test_default_record() -> None:
    outcome = parse_rules({"default": "record"}).apply(facts())
    assert outcome.record
    assert [(r.rule, r.said) for r in outcome.reasons] == [("default", "record: no rule matched")]


def test_missing_default_fails_closed() -> None:
    outcome = parse_rules({}).apply(facts())
    assert not outcome.record
    assert outcome.reasons[0].said == "do-not-record: no rule matched, no default set"


def test_default_retention_class() -> None:
    rules = parse_rules({"default": "record", "retention": "payment"})
    assert rules.apply(facts()).retention_class == "payment"


# Deny-lists ------------------------------------------------------------------------------


def test_denied_number_wins_over_a_record_rule() -> None:
    rules = parse_rules(
        {
            "default": "record",
            "deny": {"numbers": ["+4930901820", "+1900*"]},
            "rule": [{"action": "record", "number": "+49"}],
        }
    )
    outcome = rules.apply(facts("+12125550100", "+49 30 901820"))
    assert not outcome.record
    assert [(r.rule, r.participant) for r in outcome.reasons] == [("deny.numbers", 1)]
    assert not records(rules, facts("+19005550100"))
    assert records(rules, facts("+493012345678"))


def test_denied_categories_by_default() -> None:
    rules = parse_rules({"default": "record", "rule": [{"action": "record", "category": "hr"}]})
    for category in ("hr", "medical", "personal"):
        outcome = rules.apply(facts(category=category))
        assert not outcome.record
        assert outcome.reasons[0].rule == "deny.categories"
    assert records(rules, facts(category="sales"))


def test_denied_categories_can_be_replaced_or_emptied() -> None:
    assert not records(
        parse_rules({"default": "record", "deny": {"categories": ["legal"]}}),
        facts(category="legal"),
    )
    assert records(
        parse_rules({"default": "record", "deny": {"categories": []}}), facts(category="hr")
    )


@pytest.mark.parametrize(
    "number",
    [
        "112",
        "911",
        "999",
        "110",
        "000",
        "+49112",
        "+49 110",
        "+1911",
        "+44999",
        "+381192",
        "+381194",
        "+385193",
        "+33 15",
        "+34112",
        "+61000",
        "+4420 112",
    ],
)
def test_emergency_numbers_are_never_recorded(number: str) -> None:
    rules = parse_rules({"default": "record", "rule": [{"action": "record", "number": "+*"}]})
    if number == "+4420 112":  # not an emergency number: a London number that ends in 112
        assert not is_emergency_number(number)
        return
    assert is_emergency_number(number)
    outcome = rules.apply(facts(number, "+12125550100"))
    assert not outcome.record
    assert outcome.reasons[0].rule == "deny.emergency"
    assert outcome.reasons[0].participant == 0


def test_ordinary_numbers_are_not_emergency_numbers() -> None:
    for number in ("+12125550100", "+493012345678", "+381112345678", "2041", "+1212", "1120"):
        assert not is_emergency_number(number), number


def test_emergency_deny_can_be_turned_off() -> None:
    # a public-safety answering point must record its emergency lines
    rules = parse_rules({"default": "record", "deny": {"emergency": False}})
    assert records(rules, facts("+1911"))


# Loading from a file ---------------------------------------------------------------------

EXAMPLE = """\
default = "do-not-record"
retention = "standard"

[deny]
numbers = ["+4930901820", "+1900*"]
emergency = true
categories = ["hr", "medical", "personal"]

[[rule]]
name = "trading desk"
action = "record"
group = "trading"
retention = "mifid-5y"

[[rule]]
name = "uk sales, office hours"
action = "record"
number = ["+4420", "+44161*"]
team = "sales"
direction = ["inbound", "outbound"]
time = { days = ["mon-fri"], hours = "08:00-18:00", timezone = "Europe/London" }
"""


def test_load_rules_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(EXAMPLE)
    rules = load_rules(path)
    assert [rule.name for rule in rules.rules] == ["trading desk", "uk sales, office hours"]
    desk = rules.apply(facts(group="trading"))
    assert desk.record and desk.retention_class == "mifid-5y"
    sales = facts("+442071234567", team="sales", direction="inbound")
    assert rules.apply(sales).record
    assert rules.apply(sales).retention_class == "standard"
    assert not records(rules, facts("+442071234567", team="sales", direction="internal"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rules.toml: no such file; check the path"):
        load_rules(tmp_path / "rules.toml")


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('default = "record"\n[[rule]\n')
    with pytest.raises(ConfigError, match=r"rules.toml: is not valid TOML: .*line 2"):
        load_rules(path)


# Configuration errors: each names the key and the allowed values -------------------------

ERRORS: list[tuple[dict[str, Any], str]] = [
    (
        {"defualt": "record"},
        "rules: top level: unknown key 'defualt'; allowed keys are default, retention, deny, rule",
    ),
    (
        {"default": "maybe"},
        "rules: default: unknown action 'maybe'; allowed values are record, do-not-record",
    ),
    (
        {"retention": "forever"},
        "rules: retention: unknown retention class 'forever'; allowed values are standard, "
        "mifid-5y, mifid-7y, payment",
    ),
    (
        {"deny": {"number": ["+1900*"]}},
        "rules: [deny]: unknown key 'number'; allowed keys are numbers, emergency, categories",
    ),
    ({"deny": {"emergency": "yes"}}, "rules: [deny].emergency: expected true or false"),
    (
        {"rule": [{"action": "record", "colour": "red"}]},
        "rules: [[rule]] #1: unknown key 'colour'; allowed keys are name, action, number, team, "
        "group, direction, category, jurisdiction, time, retention",
    ),
    (
        {"rule": [{"action": "record"}, {"name": "night", "action": "keep"}]},
        "rules: [[rule]] #2 ('night').action: unknown action 'keep'; allowed values are record, "
        "do-not-record",
    ),
    (
        {"rule": [{"team": "sales"}]},
        "rules: [[rule]] #1: missing action; use record or do-not-record",
    ),
    (
        {"rule": [{"action": "record", "direction": ["inbound", "sideways"]}]},
        "rules: [[rule]] #1.direction: unknown value 'sideways'; allowed values are inbound, "
        "outbound, internal",
    ),
    (
        {"rule": [{"action": "record", "retention": "mifid-10y"}]},
        "rules: [[rule]] #1.retention: unknown retention class 'mifid-10y'; allowed values are "
        "standard, mifid-5y, mifid-7y, payment",
    ),
    (
        {"rule": [{"action": "record", "jurisdiction": ["DE", "US-XX"]}]},
        "rules: [[rule]] #1.jurisdiction: unknown jurisdiction 'US-XX'; use an ISO 3166-1 "
        'country code ("DE"), a US state or Canadian province ("US-CA", "CA-QC") or "unknown"',
    ),
    (
        {"rule": [{"action": "record", "number": "44 20 abc"}]},
        "rules: [[rule]] #1.number: '4420abc' is not a number pattern",
    ),
    (
        {"rule": [{"action": "record", "team": 7}]},
        "rules: [[rule]] #1.team: expected a text or a list of texts, got 7",
    ),
    (
        {"rule": [{"action": "record", "time": {"hours": "9-17", "timezone": "UTC"}}]},
        "rules: [[rule]] #1.time.hours: '9-17' is not a time window; write HH:MM-HH:MM",
    ),
    (
        {"rule": [{"action": "record", "time": {"hours": "09:00-09:00", "timezone": "UTC"}}]},
        "rules: [[rule]] #1.time.hours: '09:00-09:00' starts and ends at the same time",
    ),
    (
        {"rule": [{"action": "record", "time": {"hours": "09:00-17:00", "timezone": "Mars/Base"}}]},
        "rules: [[rule]] #1.time.timezone: unknown time zone 'Mars/Base'; use an IANA name",
    ),
    (
        {"rule": [{"action": "record", "time": {"hours": "09:00-17:00"}}]},
        "rules: [[rule]] #1.time: missing timezone; add it",
    ),
    (
        {
            "rule": [
                {
                    "action": "record",
                    "time": {"days": ["mon", "funday"], "hours": "09:00-17:00", "timezone": "UTC"},
                }
            ]
        },
        "rules: [[rule]] #1.time.days: unknown day 'funday'; use mon, tue, wed, thu, fri, sat, sun",
    ),
    (
        {"rule": [{"action": "record", "time": {"hours": "09:00-17:00", "tz": "UTC"}}]},
        "rules: [[rule]] #1.time: unknown key 'tz'; allowed keys are days, hours, timezone",
    ),
    ({"rule": {"action": "record"}}, "rules: rule: write each rule as a [[rule]] table"),
]


@pytest.mark.parametrize(("data", "message"), ERRORS)
def test_configuration_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules(data)
    assert message in str(caught.value)


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\naction = "record"\ndirection = "up"\n')
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}: [[rule]] #1.direction: unknown value 'up'")
