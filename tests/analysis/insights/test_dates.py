from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from callvault.analysis.insights._dates import resolve_due

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FRIDAY = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def at(year: int, month: int, day: int, hour: int = 17, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "reference", "due", "phrase"),
    [
        ("I'll send it today.", MONDAY, at(2026, 11, 23), "today"),
        ("I'll do it tonight", MONDAY, at(2026, 11, 23), "tonight"),
        ("you'll have it by EOD", MONDAY, at(2026, 11, 23), "by EOD"),
        ("by end of day", MONDAY, at(2026, 11, 23), "by end of day"),
        ("tomorrow works", MONDAY, at(2026, 11, 24), "tomorrow"),
        ("the day after tomorrow", MONDAY, at(2026, 11, 25), "the day after tomorrow"),
        ("by Friday", MONDAY, at(2026, 11, 27), "by Friday"),
        ("by Friday", FRIDAY, at(2026, 11, 20), "by Friday"),  # said on a Friday: today
        ("on Monday", MONDAY, at(2026, 11, 30), "on Monday"),  # said on a Monday: a week on
        ("on Wednesday", MONDAY, at(2026, 11, 25), "on Wednesday"),
        ("next Friday", MONDAY, at(2026, 12, 4), "next Friday"),
        ("next week", FRIDAY, at(2026, 11, 23), "next week"),
        ("by the end of the week", MONDAY, at(2026, 11, 27), "by the end of the week"),
        ("end of the week", datetime(2026, 11, 28, 9, tzinfo=UTC), at(2026, 12, 4), None),
        ("by the end of the month", MONDAY, at(2026, 11, 30), "by the end of the month"),
        ("in two days", MONDAY, at(2026, 11, 25), "in two days"),
        ("in 3 weeks", MONDAY, at(2026, 12, 14), "in 3 weeks"),
        ("in a couple of days", MONDAY, at(2026, 11, 25), "in a couple of days"),
        ("in 2 hours", MONDAY, at(2026, 11, 23, 12), "in 2 hours"),
        ("on March 3rd", MONDAY, at(2027, 3, 3), "on March 3rd"),  # passed: next year
        ("the 3rd of December", MONDAY, at(2026, 12, 3), "the 3rd of December"),
        ("December 24, 2027", MONDAY, at(2027, 12, 24), "December 24, 2027"),
        ("by 3/15", MONDAY, at(2027, 3, 15), "by 3/15"),
        ("by 12/1", MONDAY, at(2026, 12, 1), "by 12/1"),
        ("tomorrow by 3 pm", MONDAY, at(2026, 11, 24, 15), "tomorrow by 3 pm"),
        ("by 3:30 pm", MONDAY, at(2026, 11, 23, 15, 30), "by 3:30 pm"),
        ("by 9 am", MONDAY, at(2026, 11, 24, 9), "by 9 am"),  # 9 am has passed: tomorrow
    ],
)
def test_english(text: str, reference: datetime, due: datetime, phrase: str | None) -> None:
    found, said = resolve_due(text, reference, "en")
    assert found == due
    assert said == (phrase or text)


@pytest.mark.parametrize(
    ("text", "due", "phrase"),
    [
        ("Ich schicke es heute.", at(2026, 11, 23), "heute"),
        ("morgen", at(2026, 11, 24), "morgen"),
        ("übermorgen", at(2026, 11, 25), "übermorgen"),
        ("uebermorgen", at(2026, 11, 25), "uebermorgen"),
        ("bis Freitag", at(2026, 11, 27), "bis Freitag"),
        ("nächste Woche", at(2026, 11, 30), "nächste Woche"),
        ("naechste Woche", at(2026, 11, 30), "naechste Woche"),
        ("bis Ende der Woche", at(2026, 11, 27), "bis Ende der Woche"),
        ("Ende des Monats", at(2026, 11, 30), "Ende des Monats"),
        ("in zwei Tagen", at(2026, 11, 25), "in zwei Tagen"),
        ("am 3. März", at(2027, 3, 3), "am 3. März"),
        ("bis zum 15.12.", at(2026, 12, 15), "bis zum 15.12."),
        ("morgen um 15 Uhr", at(2026, 11, 24, 15), "morgen um 15 Uhr"),
        ("heute Abend", at(2026, 11, 23), "heute Abend"),
    ],
)
def test_german(text: str, due: datetime, phrase: str) -> None:
    assert resolve_due(text, MONDAY, "de") == (due, phrase)


def test_guten_morgen_is_not_tomorrow() -> None:
    assert resolve_due("Guten Morgen, Herr Meier", MONDAY, "de") == (None, None)


def test_no_phrase() -> None:
    assert resolve_due("I will send the deck", MONDAY, "en") == (None, None)


def test_without_reference_keeps_the_phrase() -> None:
    assert resolve_due("I'll send it by Friday", None, "en") == (None, "by Friday")


def test_keeps_the_time_zone_of_the_reference() -> None:
    berlin = timezone(timedelta(hours=1))
    due, _ = resolve_due("tomorrow", datetime(2026, 11, 23, 23, 30, tzinfo=berlin), "en")
    assert due == datetime(2026, 11, 24, 17, 0, tzinfo=berlin)


def test_unknown_language_tries_both() -> None:
    assert resolve_due("bis Freitag", MONDAY, None) == (at(2026, 11, 27), "bis Freitag")
    assert resolve_due("by Friday", MONDAY, "fr")[0] == at(2026, 11, 27)


def test_invalid_day_is_no_date() -> None:
    assert resolve_due("February 30th", MONDAY, "en") == (None, None)


def test_naive_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        resolve_due("today", datetime(2026, 11, 23), "en")
