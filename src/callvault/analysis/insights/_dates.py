"""Due dates said in words: "by Friday", "end of the month", "am 3. März", "by 3 pm".

`resolve_due(text, reference, language)` finds the first due-date phrase in a text (an
action item's sentence) and resolves it against `reference`, the time the call started
(aware). A due date is the resolved day at 17:00 in the reference's time zone unless a
time is said ("by 3 pm", "um 15 Uhr"). Without a reference the phrase is still returned,
with no date.

Rules. "today", "tonight", "end of day"/"EOD": the reference day. "tomorrow", "the day
after tomorrow". "by Friday": the next Friday, today when the call is on a Friday; "on
Monday"/"Monday": the next Monday, a week on when today is Monday; "next Friday": the
Friday of next week (Monday-based). "next week": Monday of next week. "end of the week":
Friday of this week (next week's on a weekend). "end of the month": its last day. "in two
days", "in 3 weeks", "in a month", "in 2 hours" (this one keeps the clock). Explicit days:
"March 3rd", "3rd of March", "3 March", "3/15" (month/day in English), "15.3." and "am 3.
März" (German); a day without a year that has passed this year means next year. German:
"heute", "heute Abend", "morgen", "übermorgen", "bis Freitag", "nächste Woche", "Ende der
Woche", "Ende des Monats", "in zwei Tagen". Umlauts may be written ae/oe/ue.

Limits. English and German only (another language tries both). "Next Friday" is
ambiguous in speech and is read as the Friday of next week. Holidays and business days are
not known. "Guten Morgen" and "heute Morgen" are not read as "tomorrow".
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from callvault.analysis._data import read_words

__all__ = ["resolve_due"]

DEFAULT_HOUR = 17

# Spoken counts, weekdays and months, English and German (data/dates.toml).
_WORDS = read_words("callvault.analysis.insights", "dates.toml")
_NUMBERS: dict[str, int] = dict(_WORDS["numbers"])
_WEEKDAYS: dict[str, int] = dict(_WORDS["weekdays"])
_MONTHS: dict[str, int] = dict(_WORDS["months"])


def _alt(words: Iterable[str]) -> str:
    items = sorted(words, key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in items)


_NUM = _alt(_NUMBERS) + r"|\d{1,3}"
_WD = _alt(_WEEKDAYS)
_MON = _alt(_MONTHS)
_ORD = r"(?:st|nd|rd|th)?"


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    day: date | None  # None: a clock time only, or a relative offset with `delta`
    delta: timedelta | None = None


_Rule = Callable[["re.Match[str]", datetime], "_Found | None"]


def _day(ref: datetime, days: int) -> date:
    return ref.date() + timedelta(days=days)


def _weekday_ahead(ref: datetime, weekday: int, *, today_counts: bool) -> date:
    ahead = (weekday - ref.weekday()) % 7
    if ahead == 0 and not today_counts:
        ahead = 7
    return _day(ref, ahead)


def _next_week_monday(ref: datetime) -> date:
    return _day(ref, 7 - ref.weekday())


def _end_of_week(ref: datetime) -> date:
    if ref.weekday() <= 4:
        return _day(ref, 4 - ref.weekday())
    return _day(ref, 11 - ref.weekday())


def _end_of_month(ref: datetime) -> date:
    last = calendar.monthrange(ref.year, ref.month)[1]
    return date(ref.year, ref.month, last)


def _number(text: str) -> int:
    key = " ".join(text.casefold().split())
    return _NUMBERS[key] if key in _NUMBERS else int(key)


def _unit_delta(unit: str, count: int, ref: datetime) -> tuple[date | None, timedelta | None]:
    unit = unit.casefold()
    if unit.startswith(("hour", "stunde")):
        return None, timedelta(hours=count)
    if unit.startswith(("day", "tag")):
        return _day(ref, count), None
    if unit.startswith(("week", "woche")):
        return _day(ref, 7 * count), None
    if unit.startswith(("month", "monat")):
        month = ref.month - 1 + count
        year = ref.year + month // 12
        month = month % 12 + 1
        last = calendar.monthrange(year, month)[1]
        return date(year, month, min(ref.day, last)), None
    return None, None


def _explicit(ref: datetime, month: int, day_: int, year: int | None) -> date | None:
    try:
        if year is not None:
            if year < 100:
                year += 2000
            return date(year, month, day_)
        found = date(ref.year, month, day_)
        if found < ref.date():
            found = date(ref.year + 1, month, day_)
        return found
    except ValueError:
        return None  # "February 30th": not a day


@functools.lru_cache(maxsize=8)
def _rules(language: str) -> list[tuple[re.Pattern[str], _Rule]]:
    flags = re.IGNORECASE
    en: list[tuple[str, _Rule]] = [
        (
            r"\b(?:by\s+|at\s+)?(?:the\s+)?end\s+of\s+(?:the\s+)?(?:business\s+)?day\b|\b(?:by\s+)?(?:eod|cob)\b",
            lambda m, r: _Found(m.start(), m.end(), r.date()),
        ),
        (
            r"\b(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?week\b",
            lambda m, r: _Found(m.start(), m.end(), _end_of_week(r)),
        ),
        (
            r"\b(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?month\b",
            lambda m, r: _Found(m.start(), m.end(), _end_of_month(r)),
        ),
        (
            r"\b(?:the\s+)?day\s+after\s+tomorrow\b",
            lambda m, r: _Found(m.start(), m.end(), _day(r, 2)),
        ),
        (r"\b(?:by\s+)?tomorrow\b", lambda m, r: _Found(m.start(), m.end(), _day(r, 1))),
        (r"\b(?:by\s+)?(?:today|tonight)\b", lambda m, r: _Found(m.start(), m.end(), r.date())),
        (
            r"\b(?:by\s+|on\s+)?next\s+week\b",
            lambda m, r: _Found(m.start(), m.end(), _next_week_monday(r)),
        ),
        (
            rf"\bnext\s+({_WD})\b",
            lambda m, r: _Found(
                m.start(),
                m.end(),
                _next_week_monday(r) + timedelta(days=_WEEKDAYS[m.group(1).casefold()]),
            ),
        ),
        (
            rf"\bby\s+({_WD})\b",
            lambda m, r: _Found(
                m.start(),
                m.end(),
                _weekday_ahead(r, _WEEKDAYS[m.group(1).casefold()], today_counts=True),
            ),
        ),
        (
            rf"\b(?:on\s+|this\s+)?({_WD})\b",
            lambda m, r: _Found(
                m.start(),
                m.end(),
                _weekday_ahead(r, _WEEKDAYS[m.group(1).casefold()], today_counts=False),
            ),
        ),
        (
            rf"\bin\s+({_NUM})\s+(hours?|days?|weeks?|months?)\b",
            lambda m, r: _Found(
                m.start(), m.end(), *_unit_delta(m.group(2), _number(m.group(1)), r)
            ),
        ),
        (
            rf"\b(?:on\s+|by\s+)?(?:the\s+)?(\d{{1,2}}){_ORD}\s+(?:of\s+)?({_MON})\b\.?"
            r"(?:,?\s+(\d{4}))?",
            lambda m, r: _found_explicit(
                m, r, _MONTHS[m.group(2).casefold()], int(m.group(1)), m.group(3)
            ),
        ),
        (
            rf"\b(?:on\s+|by\s+)?({_MON})\.?\s+(?:the\s+)?(\d{{1,2}}){_ORD}\b(?:,?\s+(\d{{4}}))?",
            lambda m, r: _found_explicit(
                m, r, _MONTHS[m.group(1).casefold()], int(m.group(2)), m.group(3)
            ),
        ),
        (
            r"\b(?:on\s+|by\s+)?(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?\b",
            lambda m, r: _found_explicit(m, r, int(m.group(1)), int(m.group(2)), m.group(3)),
        ),
    ]
    de: list[tuple[str, _Rule]] = [
        (
            r"\b(?:bis\s+)?(?:zum\s+)?(?:ende\s+des\s+tages|feierabend|tagesende)\b",
            lambda m, r: _Found(m.start(), m.end(), r.date()),
        ),
        (
            r"\b(?:bis\s+)?(?:zum\s+)?ende\s+(?:der|dieser)\s+woche\b",
            lambda m, r: _Found(m.start(), m.end(), _end_of_week(r)),
        ),
        (
            r"\b(?:bis\s+)?(?:zum\s+)?(?:ende\s+(?:des|dieses)\s+monats|monatsende)\b",
            lambda m, r: _Found(m.start(), m.end(), _end_of_month(r)),
        ),
        (
            r"\b(?:bis\s+)?(?:übermorgen|uebermorgen)\b",
            lambda m, r: _Found(m.start(), m.end(), _day(r, 2)),
        ),
        (
            r"\b(?:bis\s+)?heute(?:\s+(?:abend|nachmittag|morgen|mittag))?\b",
            lambda m, r: _Found(m.start(), m.end(), r.date()),
        ),
        (
            r"(?<!guten\s)(?<!am\s)\b(?:bis\s+)?morgen\b",
            lambda m, r: _Found(m.start(), m.end(), _day(r, 1)),
        ),
        (
            r"\b(?:bis\s+)?(?:nächste|naechste|kommende)[nr]?\s+woche\b",
            lambda m, r: _Found(m.start(), m.end(), _next_week_monday(r)),
        ),
        (
            rf"\b(?:nächsten|naechsten|kommenden)\s+({_WD})\b",
            lambda m, r: _Found(
                m.start(),
                m.end(),
                _next_week_monday(r) + timedelta(days=_WEEKDAYS[m.group(1).casefold()]),
            ),
        ),
        (
            rf"\bbis\s+(?:zum\s+)?({_WD})\b",
            lambda m, r: _Found(
                m.start(),
                m.end(),
                _weekday_ahead(r, _WEEKDAYS[m.group(1).casefold()], today_counts=True),
            ),
        ),
        (
            rf"\b(?:am\s+)?({_WD})\b",
            lambda m, r: _Found(
                m.start(),
                m.end(),
                _weekday_ahead(r, _WEEKDAYS[m.group(1).casefold()], today_counts=False),
            ),
        ),
        (
            rf"\bin\s+({_NUM})\s+(stunden?|tage?n?|wochen?|monate?n?)\b",
            lambda m, r: _Found(
                m.start(), m.end(), *_unit_delta(m.group(2), _number(m.group(1)), r)
            ),
        ),
        (
            rf"\b(?:am\s+|bis\s+(?:zum\s+)?|zum\s+)?(\d{{1,2}})\.\s*({_MON})\b(?:\s+(\d{{4}}))?",
            lambda m, r: _found_explicit(
                m, r, _MONTHS[m.group(2).casefold()], int(m.group(1)), m.group(3)
            ),
        ),
        (
            r"\b(?:am\s+|bis\s+(?:zum\s+)?|zum\s+)?(\d{1,2})\.(\d{1,2})\.(\d{2,4})?",
            lambda m, r: _found_explicit(m, r, int(m.group(2)), int(m.group(1)), m.group(3)),
        ),
    ]
    chosen = {"en": en, "de": de}.get(language, en + de)
    return [(re.compile(pattern, flags), rule) for pattern, rule in chosen]


def _found_explicit(
    m: re.Match[str], ref: datetime, month: int, day_: int, year: str | None
) -> _Found | None:
    if not 1 <= month <= 12:
        return None
    found = _explicit(ref, month, day_, int(year) if year else None)
    return None if found is None else _Found(m.start(), m.end(), found)


_CLOCK_EN = re.compile(
    r"\b(?:by|at|before|until)\s+(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?(?!\w)"
    r"|\b(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)(?!\w)|\bnoon\b",
    re.IGNORECASE,
)
_CLOCK_DE = re.compile(
    r"\b(?:bis|um|gegen|vor)\s+(\d{1,2})(?:[:.](\d{2}))?\s*uhr\b|\b(\d{1,2})[:.](\d{2})\s*uhr\b",
    re.IGNORECASE,
)


def _clock(text: str, language: str) -> tuple[int, int, int, int] | None:
    """(hour, minute, start, end) of a clock time said in the text."""
    if language != "de":
        for m in _CLOCK_EN.finditer(text):
            if m.group(0).casefold() == "noon":
                return 12, 0, m.start(), m.end()
            hour_s, minute_s, ampm = (
                (m.group(1), m.group(2), m.group(3))
                if m.group(1) is not None
                else (m.group(4), m.group(5), m.group(6))
            )
            if ampm is None and minute_s is None:
                continue  # "by 5" alone is too vague ("by 5 people")
            hour, minute = int(hour_s), int(minute_s or 0)
            if ampm is not None:
                if not 1 <= hour <= 12:
                    continue
                hour = hour % 12 + (12 if ampm.casefold().startswith("p") else 0)
            if hour < 24 and minute < 60:
                return hour, minute, m.start(), m.end()
    if language != "en":
        for m in _CLOCK_DE.finditer(text):
            hour_s, minute_s = (
                (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
            )
            hour, minute = int(hour_s), int(minute_s or 0)
            if hour < 24 and minute < 60:
                return hour, minute, m.start(), m.end()
    return None


def resolve_due(
    phrase_or_text: str, reference: datetime | None, language: str | None
) -> tuple[datetime | None, str | None]:
    """The due time said in a text and the phrase that says it.

    Returns (None, None) when no due phrase is found and (None, phrase) when there is no
    reference. `reference` must be aware; the result has its time zone.
    """
    if reference is not None and reference.tzinfo is None:
        raise ValueError("reference must be an aware datetime")
    key = (language or "").split("-")[0].split("_")[0].casefold()
    anchor = reference or datetime(2000, 1, 3, 12, 0)  # finds phrases; dates are dropped
    best: _Found | None = None
    for pattern, rule in _rules(key):
        for m in pattern.finditer(phrase_or_text):
            found = rule(m, anchor)
            if found is None:
                continue
            if best is None or (found.start, -found.end) < (best.start, -best.end):
                best = found
            break
    clock = _clock(phrase_or_text, key)
    if best is None and clock is None:
        return None, None
    spans = [(s, e) for s, e in ([(best.start, best.end)] if best else [])]
    if clock is not None and (best is None or _near(best, clock[2], clock[3])):
        spans.append((clock[2], clock[3]))
    else:
        clock = None
    start = min(s for s, _ in spans)
    end = max(e for _, e in spans)
    phrase = phrase_or_text[start:end].strip()
    if reference is None:
        return None, phrase
    if best is not None and best.delta is not None:
        return reference + best.delta, phrase
    day = best.day if best is not None and best.day is not None else reference.date()
    hour, minute = (clock[0], clock[1]) if clock is not None else (DEFAULT_HOUR, 0)
    due = datetime.combine(day, time(hour, minute), tzinfo=reference.tzinfo)
    if best is None and due < reference:
        due += timedelta(days=1)  # "by 3 pm" said after 3 pm: tomorrow
    return due, phrase


def _near(found: _Found, start: int, end: int) -> bool:
    return start - found.end <= 12 and found.start - end <= 12
