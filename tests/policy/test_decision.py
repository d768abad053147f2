"""decide(): consent, notice and language for single and multi-party calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from callvault.errors import InputError
from callvault.policy import (
    DECISION_SCHEMA,
    Decision,
    JurisdictionTable,
    NoticeOptions,
    RuleSet,
    decide,
    load_jurisdiction_table,
    parse_rules,
)

AT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)

CA_SF = "+14155550100"  # San Francisco: California, all-party
NY = "+12125550100"  # New York: federal one-party
TORONTO = "+14165550100"  # Ontario: one-party
MONTREAL = "+15145550100"  # Quebec: one-party, French
TOLL_FREE = "+18005550100"
BERLIN = "+493012345678"
BELGRADE = "+381112345678"
ZAGREB = "+38512345678"
LONDON = "+442071234567"
PARIS = "+33142685300"
MADRID = "+34912345678"
VIENNA = "+43158858"
ZURICH = "+41446681800"
BRUSSELS = "+3212345678"
MEXICO = "+522001234567"
TOKYO = "+81312345678"
KINGSTON = "+18765230123"  # Jamaica, a NANP country without a table entry

# participants, expected consent, notice required, notice language
CASES: list[tuple[list[str], str, bool, str]] = [
    ([CA_SF], "all-party", True, "en"),
    ([NY], "one-party", False, "en"),
    ([TORONTO], "one-party", False, "en"),
    ([MONTREAL], "one-party", False, "fr"),
    ([TOLL_FREE], "all-party", True, "en"),
    (["+18885550100"], "all-party", True, "en"),
    (["+19005550100"], "all-party", True, "en"),
    ([BERLIN], "all-party", True, "de"),
    ([BELGRADE], "all-party", True, "sr-Latn"),
    ([ZAGREB], "all-party", True, "hr"),
    ([LONDON], "all-party", True, "en"),
    ([PARIS], "all-party", True, "fr"),
    ([MADRID], "all-party", True, "es"),
    ([VIENNA], "all-party", True, "de"),
    ([ZURICH], "all-party", True, "de"),  # no table entry: strictest
    ([BRUSSELS], "all-party", True, "fr"),
    ([MEXICO], "all-party", True, "es"),  # no table entry: strictest
    ([TOKYO], "all-party", True, "en"),
    ([KINGSTON], "all-party", True, "en"),
    (["+12155550100"], "all-party", True, "en"),  # Pennsylvania
    (["+12065550100"], "all-party", True, "en"),  # Washington
    (["+17025550100"], "all-party", True, "en"),  # Nevada
    (["+16035550100"], "all-party", True, "en"),  # New Hampshire
    (["+14065550100"], "all-party", True, "en"),  # Montana
    (["+13025550100"], "all-party", True, "en"),  # Delaware
    (["+13125550100"], "all-party", True, "en"),  # Illinois
    (["+14105550100"], "all-party", True, "en"),  # Maryland
    (["+16175550100"], "all-party", True, "en"),  # Massachusetts
    (["+13055550100"], "all-party", True, "en"),  # Florida
    (["+12145550100"], "one-party", False, "en"),  # Texas
    (["+16045550100"], "one-party", False, "en"),  # British Columbia
    (["+19025550100"], "one-party", False, "en"),  # Nova Scotia / PEI (shared code)
    (["+1212555010"], "all-party", True, "en"),  # one digit short: invalid, unknown
    (["+44207"], "all-party", True, "en"),  # too short for the UK: unknown
    (["+3811"], "all-party", True, "en"),  # does not even parse: unknown
    (["+999123456"], "all-party", True, "en"),  # no such country code
    (["+8008001234"], "all-party", True, "en"),  # international freephone
    (["+1 212 555 0100"], "one-party", False, "en"),  # separators are fine
    # multi-party: the strictest participant wins
    ([NY, CA_SF], "all-party", True, "en"),
    ([NY, TORONTO], "one-party", False, "en"),
    ([TORONTO, BERLIN], "all-party", True, "en"),
    ([BERLIN, NY], "all-party", True, "de"),
    ([BELGRADE, ZAGREB], "all-party", True, "sr-Latn"),
    ([ZAGREB, BELGRADE], "all-party", True, "hr"),
    ([NY, TOLL_FREE], "all-party", True, "en"),
    ([NY, "+1212555010"], "all-party", True, "en"),
    ([MONTREAL, NY, TORONTO], "one-party", False, "fr"),
    (["+44207", PARIS], "all-party", True, "fr"),  # unknown first: next known country
    ([NY, NY, LONDON], "all-party", True, "en"),
    (["2041", NY], "all-party", True, "en"),  # internal extension: unknown, strictest
]


@pytest.fixture(scope="module")
def table() -> JurisdictionTable:
    return load_jurisdiction_table()


def _decide(participants: list[str], table: JurisdictionTable, **kwargs: object) -> Decision:
    options: dict[str, object] = {
        "direction": None,
        "team": None,
        "group": None,
        "category": None,
        "at": AT,
        "rules": parse_rules({"default": "record"}),
        "table": table,
        "organisation": "Acme",
        **kwargs,
    }
    return decide(participants, **options)  # type: ignore[arg-type]


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(("participants", "consent", "notice", "language"), CASES)
def test_consent_notice_and_language(
    participants: list[str], consent: str, notice: bool, language: str, table: JurisdictionTable
) -> None:
    decision = _decide(participants, table)
    assert (decision.consent, decision.notice_required, decision.notice_language) == (
        consent,
        notice,
        language,
    )
    assert decision.record
    assert len(decision.jurisdictions) == len(participants)
    jurisdiction_reasons = [r for r in decision.reasons if r.rule.startswith("jurisdiction ")]
    assert [r.participant for r in jurisdiction_reasons] == list(range(len(participants)))


def test_reasons_name_the_table_entry_and_fallback(table: JurisdictionTable) -> None:
    decision = _decide([CA_SF, TOKYO], table)
    assert [(r.rule, r.participant, r.said) for r in decision.reasons] == [
        ("jurisdiction US-CA", 0, "all-party consent, notice required"),
        ("jurisdiction unknown", 1, "all-party consent, notice required (no entry for JP)"),
        ("default", None, "record: no rule matched"),
        ("notice.language", None, "en: default for US-CA"),
    ]
    assert decision.legal_review  # California is flagged for legal review


def test_language_asked_for_wins_over_the_country(table: JurisdictionTable) -> None:
    assert _decide([NY], table, language="de-AT").notice_language == "de"
    assert _decide([BERLIN], table, language="sr").notice_language == "sr-Latn"
    assert _decide([BERLIN], table, language="sr-Cyrl-RS").notice_language == "sr-Cyrl"
    assert _decide([BERLIN], table, language="es-MX").notice_language == "es"


def test_unsupported_language_falls_back_to_the_country(table: JurisdictionTable) -> None:
    decision = _decide([PARIS], table, language="ja")
    assert decision.notice_language == "fr"
    assert decision.reasons[-1].said == "fr: ja has no notice; language of FR"


def test_malformed_language_is_an_input_error(table: JurisdictionTable) -> None:
    with pytest.raises(InputError, match=r"language '!!' is not a BCP 47 language tag"):
        _decide([NY], table, language="!!")


def test_notice_text_is_filled_in(table: JurisdictionTable) -> None:
    decision = _decide(
        [BERLIN],
        table,
        organisation="Beispiel GmbH",
        notice_options=NoticeOptions(contact="datenschutz@example.de", opt_out_key="5"),
    )
    assert "Beispiel GmbH" in decision.notice_text
    assert "datenschutz@example.de" in decision.notice_text
    assert "Taste 5" in decision.notice_text
    assert "{" not in decision.notice_text


def test_no_notice_when_the_call_is_not_recorded(table: JurisdictionTable) -> None:
    decision = _decide([BERLIN], table, rules=RuleSet())  # no default: do not record
    assert not decision.record
    assert decision.consent == "all-party"
    assert not decision.notice_required


def test_emergency_short_number_is_never_recorded(table: JurisdictionTable) -> None:
    decision = _decide(["112", NY], table)
    assert not decision.record
    assert decision.jurisdictions[0].key == "unknown"
    assert ("deny.emergency", 0) in [(r.rule, r.participant) for r in decision.reasons]


def test_retention_class_comes_from_the_rule(table: JurisdictionTable) -> None:
    rules = parse_rules(
        {
            "default": "record",
            "rule": [{"action": "record", "group": "desk", "retention": "mifid-5y"}],
        }
    )
    assert _decide([NY], table, rules=rules, group="desk").retention_class == "mifid-5y"
    assert _decide([NY], table, rules=rules, group="other").retention_class == "standard"


def test_to_json_has_a_stable_shape(table: JurisdictionTable) -> None:
    data = json.loads(_decide([MONTREAL, BERLIN], table).to_json())
    assert list(data) == [
        "schema",
        "record",
        "consent",
        "notice_required",
        "notice_language",
        "notice_text",
        "retention_class",
        "legal_review",
        "jurisdictions",
        "reasons",
    ]
    assert data["schema"] == DECISION_SCHEMA
    assert data["jurisdictions"] == [
        {"country": "CA", "region": "CA-QC", "key": "CA-QC"},
        {"country": "DE", "region": None, "key": "DE"},
    ]
    assert data["reasons"][0] == {
        "rule": "jurisdiction CA",
        "participant": 0,
        "said": "one-party consent, notice not required (no entry for CA-QC)",
    }
    # the numbers themselves are not repeated in the decision
    assert "+1514" not in json.dumps(data)


def test_no_number_at_all_is_the_strictest_rule(table: JurisdictionTable) -> None:
    decision = _decide([], table)
    assert (decision.consent, decision.notice_required) == ("all-party", True)
    assert [j.key for j in decision.jurisdictions] == ["unknown"]


@pytest.mark.parametrize(
    ("participants", "kwargs", "message"),
    [
        ("+12125550100", {}, "participants must be a list of phone numbers, not one string"),
        ([NY], {"at": datetime(2026, 1, 1)}, "the call time has no time zone"),
        ([NY], {"direction": "sideways"}, "direction 'sideways' is not one of inbound"),
        (["0301234567"], {}, "'0301234567' is not an E.164 phone number"),
    ],
)
def test_bad_input(
    participants: list[str], kwargs: dict[str, object], message: str, table: JurisdictionTable
) -> None:
    with pytest.raises(InputError) as caught:
        _decide(participants, table, **kwargs)
    assert message in str(caught.value)
