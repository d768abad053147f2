"""Jurisdictions of numbers, the area-code data, the jurisdiction table and retention."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from importlib import resources
from pathlib import Path

import phonenumbers
import pytest

from callvault.errors import ConfigError, InputError
from callvault.policy import (
    CONSENT_LEVELS,
    Jurisdiction,
    is_known_jurisdiction,
    jurisdiction_of,
    load_jurisdiction_table,
    retention_classes,
    retention_period,
)


@pytest.mark.parametrize(
    ("number", "country", "region", "key"),
    [
        ("+14155550100", "US", "US-CA", "US-CA"),
        ("+12125550100", "US", "US-NY", "US-NY"),
        ("+12025550100", "US", "US-DC", "US-DC"),
        ("+12015550100", "US", "US-NJ", "US-NJ"),
        ("+14165550100", "CA", "CA-ON", "CA-ON"),
        ("+15145550100", "CA", "CA-QC", "CA-QC"),
        ("+18675550100", "CA", None, "CA"),  # Yukon, Northwest Territories and Nunavut
        ("+18005550100", "US", "unknown", "unknown"),  # toll-free
        ("+15005550100", "US", "unknown", "unknown"),  # personal communications
        ("+18765230123", "JM", None, "JM"),
        ("+17875550100", "PR", None, "PR"),
        ("+493012345678", "DE", None, "DE"),
        ("+381112345678", "RS", None, "RS"),
        ("+38512345678", "HR", None, "HR"),
        ("+1212555010", "unknown", None, "unknown"),  # invalid
        ("+3811", "unknown", None, "unknown"),  # does not parse
        ("+8008001234", "unknown", None, "unknown"),  # international freephone
        ("+999123456", "unknown", None, "unknown"),  # no such country code
    ],
)
def test_jurisdiction_of(number: str, country: str, region: str | None, key: str) -> None:
    jurisdiction = jurisdiction_of(number)
    assert jurisdiction == Jurisdiction(country, region)
    assert jurisdiction.key == key


@pytest.mark.parametrize("value", ["4930123456", "+", "++4930", "+49 30 abc", "tel:+4930123", ""])
def test_not_e164_is_an_input_error(value: str) -> None:
    with pytest.raises(InputError) as caught:
        jurisdiction_of(value)
    assert str(caught.value) == (
        f"{value!r} is not an E.164 phone number; write + and the country code followed by "
        "at most 15 digits, for example +442071234567"
    )


def test_more_than_fifteen_digits_is_an_input_error() -> None:
    with pytest.raises(InputError, match="at most 15 digits"):
        jurisdiction_of("+4930123456789012")


def _area_codes() -> dict[str, str]:
    text = resources.files("callvault.policy").joinpath("data/nanp_area_codes.csv").read_text()
    lines = (line for line in io.StringIO(text) if not line.startswith("#"))
    return {row["area_code"]: row["region"] for row in csv.DictReader(lines)}


def test_area_code_table_agrees_with_phonenumbers() -> None:
    codes = _area_codes()
    assert len(codes) > 400
    for area_code, region in codes.items():
        number = phonenumbers.parse(f"+1{area_code}2345678")
        assert phonenumbers.region_code_for_number(number) == region[:2], area_code
    states = {region for region in codes.values() if region.startswith("US-")}
    assert len(states) == 51  # 50 states and the District of Columbia
    provinces = {region for region in codes.values() if region.startswith("CA-")}
    assert provinces == {f"CA-{p}" for p in "AB BC MB NB NL ON QC SK".split()}
    for toll_free in ("800", "833", "844", "855", "866", "877", "888", "900", "500"):
        assert toll_free not in codes


def test_known_jurisdictions() -> None:
    for key in ("DE", "US", "US-CA", "CA-QC", "unknown"):
        assert is_known_jurisdiction(key)
    for key in ("XX", "US-XX", "de", "EU"):
        assert not is_known_jurisdiction(key)


# The jurisdiction table --------------------------------------------------------------------


def test_shipped_table() -> None:
    table = load_jurisdiction_table()
    all_party_states = "CA DE FL IL MD MA MT NV NH PA WA".split()
    for state in all_party_states:
        rule = table.rules[f"US-{state}"]
        assert (rule.consent, rule.notice, rule.legal_review) == ("all-party", True, True)
        assert rule.note
    assert table.rules["US"].consent == "one-party"
    assert table.rules["CA"].consent == "one-party"
    assert "recommended" in table.rules["CA"].note
    eea_and_uk = (
        "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
        "IS LI NO GB RS"
    ).split()
    for country in eea_and_uk:
        rule = table.rules[country]
        assert (rule.consent, rule.notice) == ("all-party", True), country
        assert rule.lawful_basis
    assert "§201 StGB" in table.rules["DE"].lawful_basis
    assert table.rules["unknown"].consent == CONSENT_LEVELS[-1]


def test_table_fallbacks() -> None:
    table = load_jurisdiction_table()
    assert table.rule_for(Jurisdiction("US", "US-NY")).key == "US"
    assert table.rule_for(Jurisdiction("JP")).key == "unknown"
    assert table.rule_for(Jurisdiction("US", "unknown")).key == "unknown"


def test_user_table_is_merged_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "jurisdictions.toml"
    path.write_text(
        '"US-NY" = { consent = "all-party", notice = true, lawful_basis = "House rule." }\n'
        "US = { notice = true }\n"
        'JP = { consent = "one-party", notice = true, lawful_basis = "Reviewed by counsel." }\n'
    )
    table = load_jurisdiction_table(path)
    assert table.rules["US-NY"].consent == "all-party"
    assert (table.rules["US"].consent, table.rules["US"].notice) == ("one-party", True)
    assert table.rule_for(Jurisdiction("JP")).consent == "one-party"
    assert table.rules["DE"].consent == "all-party"  # untouched


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'DE = { consent = "two-party" }',
            "[DE].consent: unknown consent level 'two-party'; allowed values are none, "
            "one-party, all-party",
        ),
        (
            "DE = { notise = true }",
            "[DE]: unknown key 'notise'; allowed keys are consent, notice, lawful_basis, "
            "legal_review, note",
        ),
        (
            'XX = { consent = "none", notice = false, lawful_basis = "-" }',
            "[XX]: unknown jurisdiction 'XX'; use an ISO 3166-1 country code",
        ),
        ('JP = { consent = "none" }', "[JP]: missing notice, lawful_basis; add them"),
        ('DE = { notice = "yes" }', "[DE].notice: expected a bool, got 'yes'"),
        (
            'unknown = { consent = "one-party" }',
            '[unknown]: must stay consent = "all-party" and notice = true',
        ),
        ('DE = "all-party"', "[DE]: expected a table of consent, notice"),
    ],
)
def test_table_errors_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_jurisdiction_table(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


# Retention ---------------------------------------------------------------------------------


def test_retention_periods() -> None:
    assert list(retention_classes()) == ["standard", "mifid-5y", "mifid-7y", "payment"]
    assert retention_period("standard") >= timedelta(days=2 * 365)
    assert retention_period("mifid-5y") >= timedelta(days=5 * 365 + 1)
    assert retention_period("mifid-7y") >= timedelta(days=7 * 365 + 1)
    assert retention_period("payment") == timedelta(days=90)


def test_unknown_retention_class() -> None:
    with pytest.raises(ConfigError) as caught:
        retention_period("forever")
    assert str(caught.value) == (
        "retention: unknown retention class 'forever'; allowed values are standard, mifid-5y, "
        "mifid-7y, payment"
    )
