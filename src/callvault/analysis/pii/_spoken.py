"""Spoken forms of numbers, letters and dates as ASR writes them, turned into strings that
keep, for every character, the word it came from.

Whisper writes a card number as "4111 1111 1111 1111", "4111-1111-...", "four one one
one ...", "forty one eleven ...", "double one", "oh five" and mixes of these. A run of such
words becomes one digit string; `owners[i]` is the token that produced digit `i`, so a
match on the string maps back to exact words (and their times, which the audio mute uses).

English and German number words are known; other languages get written digits only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from callvault.analysis._data import read_words

__all__ = [
    "CONTEXT_KEYWORDS",
    "MONTHS",
    "AlnumRun",
    "DigitRun",
    "KeywordHit",
    "Token",
    "alnum_runs",
    "date_spans",
    "digit_runs",
    "find_keywords",
    "misheard_digit",
    "normalise",
    "numeric_weight",
]


@dataclass(frozen=True)
class Token:
    """One transcript word: where it is (`utt`, `word`), its text and its times."""

    utt: int
    word: int
    raw: str  # the word without surrounding whitespace
    norm: str  # lower case, without punctuation at either end
    start: float
    end: float


_EDGE_PUNCT = "\"'“”‘’«»„.,;:!?()[]{}…"


def normalise(text: str) -> str:
    return text.strip().strip(_EDGE_PUNCT).lower()


# Number words per language, as the recogniser writes them (data/numbers.toml).
_NUMBERS = read_words("callvault.analysis.pii", "numbers.toml")
_UNITS_EN: dict[str, int] = dict(_NUMBERS["en"]["units"])
_TEENS_EN: dict[str, int] = dict(_NUMBERS["en"]["teens"])
_TENS_EN: dict[str, int] = dict(_NUMBERS["en"]["tens"])
_UNITS_DE: dict[str, int] = dict(_NUMBERS["de"]["units"])
_TEENS_DE: dict[str, int] = dict(_NUMBERS["de"]["teens"])
_TENS_DE: dict[str, int] = dict(_NUMBERS["de"]["tens"])
_HUNDRED = set(_NUMBERS["any"]["hundred"])
_THOUSAND = set(_NUMBERS["any"]["thousand"])
_DOUBLE: dict[str, int] = dict(_NUMBERS["any"]["double"])
_OH = set(_NUMBERS["any"]["oh"])
_FILLERS = set(_NUMBERS["any"]["fillers"])
_DE_COMPOUND = re.compile(
    r"^(ein|zwei|drei|vier|fünf|fuenf|sechs|sieben|acht|neun)und"
    r"(zwanzig|dreißig|dreissig|vierzig|fünfzig|fuenfzig|sechzig|siebzig|achtzig|neunzig)$"
)
# "-1": Whisper writes digits read one by one ("four one one one") as "4 -1 -1 -1".
_WRITTEN = re.compile(r"^[+-]?\(?\d+(?:[)\-/. ]+\d+)*\)?$")
# What Whisper writes for a digit word it misheard inside a read-out number (see
# data/numbers.toml). Such a word counts as a digit only inside a run of numbers (see
# `_soft_ok`), never on its own.
_SOFT_EN: dict[str, str] = dict(_NUMBERS["en"]["soft"])
_SOFT_DE: dict[str, str] = dict(_NUMBERS["de"]["soft"])
_ORDINAL_DIGITS = re.compile(r"^(\d{1,2})(st|nd|rd|th|\.)$")

_DATES = read_words("callvault.analysis.pii", "dates.toml")
MONTHS: dict[str, int] = dict(_DATES["months"])
_ORDINALS = set(_DATES["words"]["ordinals"])


@dataclass(frozen=True)
class _Tables:
    units: dict[str, int]
    teens: dict[str, int]
    tens: dict[str, int]
    soft: dict[str, str]  # misheard digit words, digits only inside a run of numbers


_TABLES = {
    "en": _Tables(_UNITS_EN, _TEENS_EN, _TENS_EN, _SOFT_EN),
    "de": _Tables(_UNITS_DE, _TEENS_DE, _TENS_DE, _SOFT_DE),
}
_NO_WORDS = _Tables({}, {}, {}, {})


def _tables(language: str | None) -> _Tables:
    if language is None:
        return _TABLES["en"]
    return _TABLES.get(language, _NO_WORDS)


# A token's numeric reading: ("digits", "4111"), ("unit", "4"), ("teen", "11"),
# ("tens", "4") (the tens digit), ("hundred", ""), ("thousand", ""), ("double", "2"),
# ("oh", "0"), ("filler", "").
_Kind = tuple[str, str]


def _kind(token: Token, tables: _Tables) -> _Kind | None:
    norm = token.norm
    if not norm:
        return None
    if _WRITTEN.match(norm) and any(c.isdigit() for c in norm):
        return ("digits", "".join(c for c in norm if c.isdigit()))
    if norm in tables.units:
        return ("unit", str(tables.units[norm]))
    if norm in tables.teens:
        return ("teen", str(tables.teens[norm]))
    if norm in tables.tens:
        return ("tens", str(tables.tens[norm] // 10))
    if not tables.units:
        return None
    if "-" in norm:  # "twenty-seven", "forty-one"
        head, _, tail = norm.partition("-")
        if head in tables.tens and tail in tables.units and tables.units[tail] != 0:
            return ("digits", f"{tables.tens[head] // 10}{tables.units[tail]}")
    compound = _DE_COMPOUND.match(norm) if tables is _TABLES["de"] else None
    if compound:
        return ("digits", f"{tables.tens[compound[2]] // 10}{tables.units[compound[1]]}")
    if norm in _HUNDRED:
        return ("hundred", "")
    if norm in _THOUSAND:
        return ("thousand", "")
    if norm in _DOUBLE:
        return ("double", str(_DOUBLE[norm]))
    if norm in _OH and tables is _TABLES["en"]:
        return ("oh", "0")
    if norm in tables.soft:
        return ("soft", tables.soft[norm])
    if norm in _FILLERS:
        return ("filler", "")
    return None


_LOOSE_DIGITS = re.compile(r"\d")


def numeric_weight(norm: str, language: str | None) -> int:
    """About how many digits the word `norm` says, loosely: digits written in it, even
    with misheard letters around them ("-868i" is 3), or a spoken number word ("four" is
    1, "twelve" 2), or a misheard digit word ("I'm" 1); 0 for any other word."""
    written = len(_LOOSE_DIGITS.findall(norm))
    if written:
        return written
    kind = _kind(Token(0, 0, norm, norm, 0.0, 0.0), _tables(language))
    if kind is None or kind[0] in ("filler", "hundred", "thousand"):
        return 0
    if kind[0] == "double":
        return 1
    return max(1, len(kind[1]))


def misheard_digit(norm: str, language: str | None) -> bool:
    """Whether `norm` is a word the recogniser writes for a misheard digit ("won", "fine")."""
    return norm in _tables(language).soft


@dataclass(frozen=True)
class DigitRun:
    """Digits read from consecutive tokens `first..last` (positions in the scanned list)."""

    digits: str
    owners: tuple[int, ...]  # for each digit, the position of the token it came from
    first: int
    last: int
    groups: tuple[int, ...]  # digits contributed per token, in order (empty tokens left out)
    written: tuple[str, ...]  # the raw text of tokens written with digits ("078-05-1120")
    soft: frozenset[int] = frozenset()  # positions of misheard digit words ("I'm", "fine")

    def sub(self, lo: int, hi: int) -> DigitRun:
        """The run of digits `lo:hi`."""
        owners = self.owners[lo:hi]
        groups: list[int] = []
        previous = -1
        for owner in owners:
            if owner != previous:
                groups.append(0)
                previous = owner
            groups[-1] += 1
        return DigitRun(
            self.digits[lo:hi],
            owners,
            owners[0],
            owners[-1],
            tuple(groups),
            self.written,
            self.soft,
        )

    def boundaries(self) -> list[int]:
        """Digit offsets where a token's digits end (a match should end on one)."""
        return [
            i + 1
            for i in range(len(self.owners))
            if i + 1 == len(self.owners) or self.owners[i + 1] != self.owners[i]
        ]


def _combine(kinds: list[tuple[int, _Kind]]) -> tuple[str, list[int]]:
    """Digits and their owner positions for one run of numeric tokens."""
    digits: list[str] = []
    owners: list[int] = []

    def emit(text: str, positions: list[int]) -> None:
        # Spread the digits over the tokens that said them, in order.
        for i, char in enumerate(text):
            digits.append(char)
            owners.append(
                positions[min(i * len(positions) // max(len(text), 1), len(positions) - 1)]
            )

    i = 0
    while i < len(kinds):
        pos, (kind, value) = kinds[i]
        nxt = kinds[i + 1][1] if i + 1 < len(kinds) else None
        nxt2 = kinds[i + 2][1] if i + 2 < len(kinds) else None
        if kind == "double" and nxt is not None and nxt[0] in ("unit", "oh"):
            emit(nxt[1] * int(value), [pos, kinds[i + 1][0]])
            i += 2
        elif kind == "unit" and nxt is not None and nxt[0] in ("hundred", "thousand"):
            width = 2 if nxt[0] == "hundred" else 3
            positions = [pos, kinds[i + 1][0]]
            rest = ""
            j = i + 2
            if nxt2 is not None and nxt2[0] == "teen":
                rest, j = nxt2[1], i + 3
            elif nxt2 is not None and nxt2[0] == "tens":
                after = kinds[i + 3][1] if i + 3 < len(kinds) else None
                if after is not None and after[0] == "unit" and after[1] != "0":
                    rest, j = nxt2[1] + after[1], i + 4
                else:
                    rest, j = nxt2[1] + "0", i + 3
            elif nxt2 is not None and nxt2[0] == "unit":
                rest, j = nxt2[1], i + 3
            positions += [kinds[k][0] for k in range(i + 2, j)]
            emit(value + rest.rjust(width, "0"), positions)
            i = j
        elif kind == "tens":
            if nxt is not None and nxt[0] == "unit" and nxt[1] != "0":
                emit(value + nxt[1], [pos, kinds[i + 1][0]])
                i += 2
            else:
                emit(value + "0", [pos])
                i += 1
        elif kind in ("unit", "teen", "digits", "oh", "soft"):
            emit(value, [pos])
            i += 1
        else:  # a filler, or "hundred"/"double" without a number: says no digit
            i += 1
    return "".join(digits), owners


def digit_runs(tokens: Sequence[Token], language: str | None) -> list[DigitRun]:
    """Maximal runs of numeric tokens, each read as one digit string."""
    tables = _tables(language)
    kinds = [_kind(t, tables) for t in tokens]

    runs: list[DigitRun] = []
    i = 0
    while i < len(tokens):
        if not _starts(kinds, i):
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and _continues(kinds, j + 1):
            j += 1
        while kinds[j] == ("filler", ""):
            j -= 1
        end = j
        if not _soft_ok(kinds, i, j):  # stray soft words at the edges are words, not digits
            while i <= j and (kinds[i] or ("", ""))[0] in ("soft", "filler"):
                i += 1
            while j >= i and (kinds[j] or ("", ""))[0] in ("soft", "filler"):
                j -= 1
            if j < i or not _soft_ok(kinds, i, j):
                i = end + 1
                continue
        items = [(k, kind) for k in range(i, j + 1) if (kind := kinds[k]) is not None]
        digits, owners = _combine(items)
        if digits:
            groups: list[int] = []
            previous = -1
            for owner in owners:
                if owner != previous:
                    groups.append(0)
                    previous = owner
                groups[-1] += 1
            written = tuple(
                tokens[k].raw for k in range(i, j + 1) if (kinds[k] or ("", ""))[0] == "digits"
            )
            soft = frozenset(k for k in range(i, j + 1) if (kinds[k] or ("", ""))[0] == "soft")
            runs.append(
                DigitRun(digits, tuple(owners), owners[0], owners[-1], tuple(groups), written, soft)
            )
        i = end + 1
    return runs


def _soft_ok(kinds: list[_Kind | None], i: int, j: int) -> bool:
    """Whether the run `i..j` may read its misheard digit words as digits: it has at least
    two tokens written or said as numbers, or three misheard ones ("fine, fine, fine"), or
    none at all."""
    names = [(kinds[k] or ("", ""))[0] for k in range(i, j + 1)]
    soft = names.count("soft")
    hard = sum(1 for n in names if n not in ("soft", "filler", "hundred", "thousand", "double"))
    return soft == 0 or hard >= 2 or soft >= 3


def _starts(kinds: list[_Kind | None], i: int) -> bool:
    kind = kinds[i]
    if kind is None or kind[0] == "filler":
        return False
    if kind[0] == "oh":  # "oh" is a zero only next to other digits
        return i + 1 < len(kinds) and _is_numeric(kinds[i + 1])
    return True


def _continues(kinds: list[_Kind | None], i: int) -> bool:
    kind = kinds[i]
    if kind is None:
        return False
    if kind[0] == "filler":  # "four one uh one one": go on only if digits follow
        return i + 1 < len(kinds) and _is_numeric(kinds[i + 1])
    return True


def _is_numeric(kind: _Kind | None) -> bool:
    return kind is not None and kind[0] not in ("filler", "oh", "hundred", "thousand", "soft")


@dataclass(frozen=True)
class AlnumRun:
    """Letters and digits read from consecutive tokens (spelled IBANs, e-mail names)."""

    text: str  # upper-case letters and digits
    owners: tuple[int, ...]

    def boundaries(self) -> list[int]:
        return [
            i + 1
            for i in range(len(self.owners))
            if i + 1 == len(self.owners) or self.owners[i + 1] != self.owners[i]
        ]


_LETTERS = re.compile(r"^[A-Za-z]$|^[A-Z]{2,4}$|^[A-Z]{2}\d+$|^[A-Z]{1,4}\d[A-Z\d]*$")


def alnum_runs(tokens: Sequence[Token], language: str | None) -> list[AlnumRun]:
    """Maximal runs of letter and number tokens ("D E eight nine 3704 ...")."""
    tables = _tables(language)
    runs: list[AlnumRun] = []
    text: list[str] = []
    owners: list[int] = []
    numeric: list[tuple[int, _Kind]] = []

    def flush_numbers() -> None:
        if numeric:
            digits, positions = _combine(numeric)
            text.extend(digits)
            owners.extend(positions)
            numeric.clear()

    def flush() -> None:
        flush_numbers()
        if text:
            runs.append(AlnumRun("".join(text), tuple(owners)))
        text.clear()
        owners.clear()

    for i, token in enumerate(tokens):
        raw = token.raw.strip(_EDGE_PUNCT)
        kind = _kind(token, tables)
        if kind is not None and kind[0] not in ("filler", "soft") and not _LETTERS.match(raw):
            numeric.append((i, kind))
        elif raw and _LETTERS.match(raw):
            flush_numbers()
            text.extend(raw.upper())
            owners.extend([i] * len(raw))
        else:
            flush()
    flush()
    return runs


@dataclass(frozen=True)
class KeywordHit:
    category: str
    first: int  # token positions
    last: int


# Context words, by what they announce (data/context.toml). Multi-word keywords win over
# their parts ("card number" is card context, not phone context); "*" ends a prefix match.
CONTEXT_KEYWORDS: dict[str, tuple[str, ...]] = {
    category: tuple(words)
    for category, words in read_words("callvault.analysis.pii", "context.toml")["keywords"].items()
}

_KEYWORDS: list[tuple[tuple[str, ...], str]] = sorted(
    ((tuple(k.split()), category) for category, ks in CONTEXT_KEYWORDS.items() for k in ks),
    key=lambda item: -len(item[0]),
)
_BY_FIRST: dict[str, list[tuple[tuple[str, ...], str]]] = {}
_PREFIXED: list[tuple[tuple[str, ...], str]] = []
for _words, _category in _KEYWORDS:
    if _words[0].endswith("*"):
        _PREFIXED.append((_words, _category))
    else:
        _BY_FIRST.setdefault(_words[0], []).append((_words, _category))


_PREFIX_HEADS = {words[0][:3] for words, _ in _PREFIXED}


def _word_matches(pattern: str, word: str) -> bool:
    if pattern.endswith("*"):
        return word.startswith(pattern[:-1])
    return word == pattern


def find_keywords(norms: Sequence[str]) -> list[KeywordHit]:
    """Context keywords in a list of normalised words, longest match first."""
    hits: list[KeywordHit] = []
    i = 0
    while i < len(norms):
        candidates = _BY_FIRST.get(norms[i], [])
        if norms[i][:3] in _PREFIX_HEADS:
            candidates = candidates + _PREFIXED
        best: tuple[int, str] | None = None
        for words, category in candidates:
            n = len(words)
            if i + n <= len(norms) and all(
                _word_matches(p, w) for p, w in zip(words, norms[i : i + n], strict=True)
            ):
                if best is None or n > best[0]:
                    best = (n, category)
        if best is None:
            i += 1
            continue
        hits.append(KeywordHit(best[1], i, i + best[0] - 1))
        i += best[0]
    return hits


_NUMERIC_DATE = re.compile(r"^\d{1,4}[/.\-]\d{1,2}(?:[/.\-]\d{2,4})?$")
_DATE_GLUE = set(_DATES["words"]["glue"])


def date_spans(tokens: Sequence[Token], language: str | None) -> list[tuple[int, int, bool]]:
    """Date-like stretches `(first, last, has_month)`: a month name or a written date
    ("05/05/1980") with the day and year words around it."""
    tables = _tables(language)
    spans: list[tuple[int, int, bool]] = []

    def dateish(i: int) -> bool:
        norm = tokens[i].norm
        if norm in MONTHS or norm in _ORDINALS or _ORDINAL_DIGITS.match(norm):
            return True
        if _NUMERIC_DATE.match(norm):
            return True
        if norm.endswith(("th", "st", "nd", "rd")) and "-" in norm:  # "twenty-first"
            return True
        kind = _kind(tokens[i], tables)
        return kind is not None and kind[0] not in ("filler", "double", "soft")

    i = 0
    while i < len(tokens):
        if not dateish(i):
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and (
            dateish(j + 1)
            or (tokens[j + 1].norm in _DATE_GLUE and j + 2 < len(tokens) and dateish(j + 2))
        ):
            j += 1
        anchor = any(
            tokens[k].norm in MONTHS or _NUMERIC_DATE.match(tokens[k].norm) for k in range(i, j + 1)
        )
        has_month = any(tokens[k].norm in MONTHS for k in range(i, j + 1))
        # "may" alone is a verb far more often than a month: it needs a number beside it.
        if anchor and j > i or (anchor and _NUMERIC_DATE.match(tokens[i].norm)):
            spans.append((i, j, has_month))
        i = j + 1
    return spans
