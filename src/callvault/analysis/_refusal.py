"""Spoken refusals of the recording: "I don't want to be recorded", "bitte nicht
aufnehmen", "arrêtez l'enregistrement", in every language callvault transcribes.

`detect_refusals(words, language=...)` takes one speaker's recognised words in time order
(`analysis.Word` of a batch transcript or `analysis.live.LiveWord` of a streaming leg)
and returns a `Refusal` for each place the speaker refuses the recording: they do not
want (the call / the conversation / themselves / it) recorded, they ask to stop or turn
off the recording, they do not agree or consent to it, they object to it or refuse it.

Method. The phrase data (`data/refusal.toml`, one table per language) declares word
classes (NEG = "don't", "nicht", "ne", ...; REC = "record*", "aufnehm*", "enregistr*",
...) and token patterns over them, such as ``NEG WANT ~ BE REC`` ("I don't want this call
to be recorded"). A pattern element is a class (upper case), a literal word (lower case,
``*`` at the end matches any ending, ``a|b`` either word), ``x?`` an optional element, or
``~``: up to four *glue* words of the language ("this", "call", "to", "really",
"please", ...). Allowing only glue words between the parts, never any word, is what keeps
"I don't want to be charged for recorded delivery" or "ich möchte keinen Kredit
aufnehmen" out. Words are folded before matching: case, apostrophes and umlauts as the
trackers fold them (`insights._matching.fold`, so "don't", "dont" and "do not" meet),
then the remaining accents (é, č, ž, ...: recognisers of Serbian and Croatian often
drop them), and French and Italian elisions are split ("l'enregistrement" is "l" +
"enregistrement").

Then each match is checked against what must not count, also from the data file:

* an offer or a condition before it in the same clause ("if you do not want to be
  recorded", "wenn Sie nicht aufgenommen werden möchten", "ako ne želite");
* a question offering the choice ("do you want ...", "would you prefer not to be
  recorded?"), while a request put as a question ("could you stop recording?") counts;
* another subject right before it ("customers who do not want to be recorded", "you
  don't want ..."): the words must be the speaker's own refusal, the agent reading the
  notice is not one;
* for a pattern without its own negation ("stop recording", "I object to the
  recording"), a negation shortly before it ("don't stop recording", "I don't object to
  being recorded", "ich habe nichts dagegen"): double negation is consent;
* "record" in its other senses ("for the record", "off the record", "record sales", "a
  record number", "your records", "recorded delivery", "track record"): listed
  collocations of the matched recording word.

A clause ends at ".", "!", "?", ";" or ":" in a word's text, or at a pause of more than
1.5 s between two words; a comma ends a clause only for the subject check.

Confidence: the pattern's directness (1.0 for "I don't want to be recorded", less for
"no recording please" or "I'd rather not be recorded") times the mean recogniser
confidence of the matched words. Matches that overlap are one refusal (the most confident).
`language` is the primary subtag of the transcript's language ("en", "de-AT" works too);
None, or a language without phrase data, tries every language and reports the one that
matched.

Limits. Patterns, not understanding: a refusal in words the data does not foresee is
missed ("this is nobody's business, switch that thing off"), and so is one spread over
two turns ("Is this recorded?" - "Yes." - "I don't want that."). Irony, reported speech
("my wife said she doesn't want to be recorded") and a refusal that is later withdrawn are
taken at their words. Serbian is matched in Latin script only. Figures: ``bench/refusal.py``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from callvault.analysis._data import read_words
from callvault.analysis.insights._matching import fold, words_of

__all__ = ["REFUSAL_LANGUAGES", "Refusal", "WordLike", "detect_refusals"]

_GAP = 4  # glue words "~" may stand for ("this phone call to")
_PAUSE = 1.5  # seconds of silence that end a clause
_LOOKBACK = 12  # tokens searched back for a condition, an offer or a negation
_NEG_BEFORE = 4  # tokens before a non-negated pattern searched for a negation
_NEG_AFTER = 2  # and tokens after it
_CLAUSE_END = re.compile(r"[.!?;:…]['\")\]]*$")


class WordLike(Protocol):
    """A recognised word: `analysis.Word` or `analysis.live.LiveWord`."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def text(self) -> str: ...
    @property
    def confidence(self) -> float: ...


@dataclass(frozen=True)
class Refusal:
    """A spoken refusal of the recording: the words (call time, seconds) and which
    pattern of `data/refusal.toml` they matched."""

    start: float  # start of the refusal words
    end: float  # end of the refusal words
    text: str  # the words as said
    confidence: float  # 0..1: directness of the wording times the recogniser's confidence
    phrase: str  # the id of the matched pattern in refusal.toml
    language: str | None


# --- phrase data ----------------------------------------------------------------------


# Serbian Cyrillic as Serbian Latin (then folded like it): Whisper often writes Serbian
# in Cyrillic, the phrase data is in Latin.
_CYRILLIC = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "dj", "е": "e", "ж": "z",
        "з": "z", "и": "i", "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n",
        "њ": "nj", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "ћ": "c", "у": "u",
        "ф": "f", "х": "h", "ц": "c", "ч": "c", "џ": "dz", "ш": "s",
    }
)  # fmt: skip


def normalise(text: str) -> str:
    """One folded word as the matcher compares it: `fold`, accents dropped, Serbian
    Cyrillic written in Latin letters."""
    folded = fold(text).translate(_CYRILLIC)
    decomposed = unicodedata.normalize("NFD", folded)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.replace("đ", "dj").replace("ł", "l").replace("ø", "o").replace("œ", "oe")


@dataclass(frozen=True)
class _Element:
    words: frozenset[str]  # exact words
    prefixes: tuple[str, ...]  # words ending in "*"
    optional: bool
    gap: bool  # "~"
    recording: bool  # the element is a recording word (class REC or RECN)

    def accepts(self, token: str) -> bool:
        return token in self.words or any(token.startswith(p) for p in self.prefixes)


@dataclass(frozen=True)
class _Pattern:
    id: str
    elements: tuple[_Element, ...]
    directness: float
    negated: bool  # the pattern carries its own negation (a word of the class NEG)
    imperative: bool  # "don't record ...": no pronoun may be its subject
    any_subject: bool  # "you don't have my permission to record": any subject


@dataclass(frozen=True)
class _Language:
    code: str
    patterns: tuple[_Pattern, ...]
    glue: frozenset[str]
    negations: _Element
    conditions: tuple[tuple[str, ...], ...]
    offers: tuple[tuple[str, ...], ...]
    subjects: frozenset[str]
    other_senses: tuple[tuple[str, ...], ...]
    elisions: frozenset[str]
    skip: frozenset[str]
    openers: frozenset[str]
    requests: frozenset[tuple[str, ...]]
    recording: _Element  # every recording word of the language's patterns
    reach: int  # the most tokens a match can span


def _word_set(words: Sequence[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    exact = {normalise(w) for w in words if not w.endswith("*")}
    prefixes = tuple(sorted({normalise(w[:-1]) for w in words if w.endswith("*")}))
    return frozenset(exact), prefixes


def _element(spec: str, classes: Mapping[str, Sequence[str]], pattern_id: str) -> _Element:
    optional = spec.endswith("?") and spec != "?"
    name = spec[:-1] if optional else spec
    if name == "~":
        return _Element(frozenset(), (), True, True, False)
    if name.isupper():
        if name not in classes:
            raise ValueError(f"refusal.toml: pattern {pattern_id} names unknown class {name}")
        exact, prefixes = _word_set(classes[name])
        return _Element(exact, prefixes, optional, False, name.startswith("REC"))
    exact, prefixes = _word_set(name.split("|"))
    return _Element(exact, prefixes, optional, False, False)


def _phrases(items: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(normalise(w) for w in item.split()) for item in items)


def _language(code: str, table: Mapping[str, Any]) -> _Language:
    classes: Mapping[str, Sequence[str]] = table["classes"]
    for entry in table["patterns"]:
        if not str(entry["id"]).startswith(f"{table.get('code', code)}-"):
            raise ValueError(f"refusal.toml: pattern {entry['id']} must start with its language")
    negations, _ = _word_set(classes["NEG"])
    patterns: list[_Pattern] = []
    for entry in table["patterns"]:
        for text in entry["match"]:
            elements = tuple(_element(s, classes, entry["id"]) for s in text.split())
            if not any(e.recording for e in elements):
                raise ValueError(f"refusal.toml: pattern {entry['id']} has no REC word")
            patterns.append(
                _Pattern(
                    id=f"{code}-{entry['id'].split('-', 1)[1]}",
                    elements=elements,
                    directness=float(entry.get("directness", 1.0)),
                    negated=any(e.words & negations for e in elements),
                    imperative=bool(entry.get("imperative", False)),
                    any_subject=bool(entry.get("any_subject", False)),
                )
            )
    glue, _ = _word_set(table["glue"])
    rec_words = frozenset(w for p in patterns for e in p.elements if e.recording for w in e.words)
    rec_prefixes = tuple(
        sorted({x for p in patterns for e in p.elements if e.recording for x in e.prefixes})
    )
    reach = max(sum(_GAP if e.gap else 1 for e in p.elements) for p in patterns)
    exact, prefixes = _word_set(classes["NEG"])
    return _Language(
        code=code,
        patterns=tuple(patterns),
        glue=glue,
        negations=_Element(exact, prefixes, False, False, False),
        conditions=_phrases(table.get("conditions", [])),
        offers=_phrases(table.get("offers", [])),
        subjects=frozenset(normalise(w) for w in table.get("subjects", [])),
        other_senses=_phrases(table.get("other_senses", [])),
        elisions=frozenset(normalise(w) for w in table.get("elisions", [])),
        skip=frozenset(normalise(w) for w in table.get("skip", [])),
        openers=frozenset(normalise(w) for w in table.get("openers", [])),
        requests=frozenset(_phrases(table.get("requests", []))),
        recording=_Element(rec_words, rec_prefixes, False, False, True),
        reach=reach,
    )


@functools.cache
def _languages() -> dict[str, _Language]:
    data = read_words("callvault.analysis", "refusal.toml")
    return {
        code: _language(code, {**data[table["same_as"]], "code": table["same_as"]})
        if "same_as" in table
        else _language(code, table)
        for code, table in data.items()
    }


REFUSAL_LANGUAGES: tuple[str, ...] = tuple(_languages())


# --- tokens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str
    word: int  # index of the word it comes from
    clause: int  # sentence-level clause number
    part: int  # comma-level part number


_APOSTROPHE = re.compile(r"['’ʼ`]")


@functools.lru_cache(maxsize=16384)
def _pieces(text: str, elisions: frozenset[str]) -> tuple[str, ...]:
    """A word's folded pieces, an elided article or pronoun split off ("l'appel")."""
    out: list[str] = []
    for chunk in text.split():
        parts = _APOSTROPHE.split(chunk)
        if len(parts) == 2 and elisions and normalise(parts[0]) in elisions and parts[1]:
            out.extend(normalise(p) for p in words_of(parts[0]))
            out.extend(normalise(p) for p in words_of(parts[1]))
        else:
            out.extend(normalise(p) for p in words_of(chunk))
    return tuple(out)


def _tokens(words: Sequence[WordLike], elisions: frozenset[str]) -> list[_Token]:
    tokens: list[_Token] = []
    clause = part = 0
    previous: WordLike | None = None
    for index, word in enumerate(words):
        if previous is not None:
            ended = _CLAUSE_END.search(previous.text.strip()) is not None
            if ended or word.start - previous.end > _PAUSE:
                clause += 1
                part += 1
            elif previous.text.strip().endswith(","):
                part += 1
        tokens.extend(_Token(p, index, clause, part) for p in _pieces(word.text, elisions))
        previous = word
    return tokens


# --- matching -------------------------------------------------------------------------


def _match(
    elements: Sequence[_Element], tokens: Sequence[_Token], at: int, glue: frozenset[str]
) -> list[tuple[int, int]] | None:
    """(token, element) indices of the words matched from `at` on, or None."""
    clause = tokens[at].clause

    def step(e: int, t: int, used: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
        if e == len(elements):
            return used if used else None
        element = elements[e]
        if element.gap:
            for skip in range(_GAP + 1):
                last = t + skip - 1
                if skip and (
                    last >= len(tokens)
                    or tokens[last].text not in glue
                    or tokens[last].clause != clause
                ):
                    break
                if not used and skip:
                    break  # a pattern never starts with glue
                found = step(e + 1, t + skip, used)
                if found is not None:
                    return found
            return None
        if t < len(tokens) and tokens[t].clause == clause and element.accepts(tokens[t].text):
            found = step(e + 1, t + 1, [*used, (t, e)])
            if found is not None:
                return found
        if element.optional:
            return step(e + 1, t, used)
        return None

    found = step(0, at, [])
    return found if found is not None and found[0][0] == at else None


def _occurs(phrase: Sequence[str], texts: Sequence[str]) -> bool:
    n = len(phrase)
    return any(tuple(texts[i : i + n]) == tuple(phrase) for i in range(len(texts) - n + 1))


def _clause_before(tokens: Sequence[_Token], first: int) -> list[str]:
    clause = tokens[first].clause
    lo = first
    while lo > 0 and first - lo < _LOOKBACK and tokens[lo - 1].clause == clause:
        lo -= 1
    return [t.text for t in tokens[lo:first]]


def _subject(lang: _Language, tokens: Sequence[_Token], first: int) -> tuple[str, str]:
    """The word before the match (auxiliaries and adverbs skipped) and the word right
    before that one, within the same comma-level part ("" where there is none)."""
    part = tokens[first].part
    i = first - 1
    while i >= 0 and tokens[i].part == part and tokens[i].text in lang.skip:
        i -= 1
    if i < 0 or tokens[i].part != part:
        return "", ""
    previous = tokens[i - 1].text if i > 0 and tokens[i - 1].part == part else ""
    return tokens[i].text, previous


def _rejected(
    lang: _Language,
    pattern: _Pattern,
    words: Sequence[WordLike],
    tokens: Sequence[_Token],
    matched: Sequence[tuple[int, int]],
) -> bool:
    first, last = matched[0][0], matched[-1][0]
    before = _clause_before(tokens, first)
    said = [t.text for t in tokens[first : last + 1]]
    if any(_occurs(c, before) for c in lang.conditions):
        return True  # "if you do not want to be recorded"
    if any(_occurs(o, before + said) for o in lang.offers):
        return True  # "do you want me to stop the recording?", "you can object"
    subject, previous = _subject(lang, tokens, first)
    request = (previous, subject) in lang.requests or (subject,) in lang.requests
    if not request:
        if subject in lang.subjects and not pattern.any_subject:
            return True  # "customers who do not want to be recorded", "it stops recording"
        if pattern.imperative and subject and subject not in lang.openers:
            return True  # "we don't record card numbers" is no "don't record me"
    if not pattern.negated:
        # In the same comma-level part: "No, stop the recording" is no double negation.
        part, end = tokens[first].part, tokens[last].part
        near = [t.text for t in tokens[max(0, first - _NEG_BEFORE) : first] if t.part == part]
        after = [t.text for t in tokens[last + 1 : last + 1 + _NEG_AFTER] if t.part == end]
        if any(lang.negations.accepts(w) for w in near + after):
            return True  # "I don't object to being recorded", "ich widerspreche ... nicht"
    texts = [t.text for t in tokens]
    for index, element in matched:
        if not pattern.elements[element].recording:
            continue
        for sense in lang.other_senses:
            n = len(sense)
            for lo in range(max(0, index - n + 1), index + 1):
                if tuple(texts[lo : lo + n]) == sense:
                    return True  # "for the record", "recorded delivery"
    return False


def _detect_one(words: Sequence[WordLike], lang: _Language) -> list[Refusal]:
    tokens = _tokens(words, lang.elisions)
    found: list[Refusal] = []
    # Every pattern has a recording word: only starts within reach of one are tried, so a
    # leg without one costs a scan of its tokens.
    starts: set[int] = set()
    for i, token in enumerate(tokens):
        if lang.recording.accepts(token.text):
            starts.update(range(max(0, i - lang.reach + 1), i + 1))
    for at in sorted(starts):
        for pattern in lang.patterns:
            matched = _match(pattern.elements, tokens, at, lang.glue)
            if matched is None or _rejected(lang, pattern, words, tokens, matched):
                continue
            said = words[tokens[matched[0][0]].word : tokens[matched[-1][0]].word + 1]
            asr = sum(max(0.0, min(1.0, float(w.confidence))) for w in said) / len(said)
            found.append(
                Refusal(
                    start=float(said[0].start),
                    end=float(said[-1].end),
                    text=" ".join(w.text.strip() for w in said),
                    confidence=round(pattern.directness * asr, 3),
                    phrase=pattern.id,
                    language=lang.code,
                )
            )
    return found


def _merge(found: Sequence[Refusal], words: Sequence[WordLike]) -> list[Refusal]:
    """One refusal per group of overlapping matches: their words together, with the
    phrase, language and confidence of the most confident (then longest) of them."""
    groups: list[list[Refusal]] = []
    for refusal in sorted(found, key=lambda r: (r.start, r.end)):
        if groups and refusal.start < max(r.end for r in groups[-1]):
            groups[-1].append(refusal)
        else:
            groups.append([refusal])
    out: list[Refusal] = []
    for group in groups:
        best = max(group, key=lambda r: (r.confidence, r.end - r.start))
        start = min(r.start for r in group)
        end = max(r.end for r in group)
        said = [w for w in words if w.start >= start and w.end <= end]
        text = " ".join(w.text.strip() for w in said) if said else best.text
        out.append(
            Refusal(start, end, text, best.confidence, best.phrase, best.language),
        )
    return out


def detect_refusals(words: Sequence[WordLike], *, language: str | None) -> list[Refusal]:
    """The refusals of the recording in one speaker's words (in time order).

    `language` is the transcript's language ("en", "de-AT", ...); None or a language
    without phrase data tries every language in `REFUSAL_LANGUAGES`.
    """
    if not words:
        return []
    languages = _languages()
    key = language.split("-")[0].split("_")[0].casefold() if language else None
    chosen = [languages[key]] if key in languages else list(languages.values())
    found: list[Refusal] = []
    for lang in chosen:
        found.extend(_detect_one(words, lang))
    return _merge(found, words)
