"""Spoken card and identity data in a call in progress, for the "pii" alert rules and
the PCI pause (`_monitor`).

Method. The recent words of every leg (final ones, plus the partial tail of the leg just
updated) become the pii package's tokens in time order, a new utterance at a change of
leg or a pause of more than `UTTERANCE_GAP` s. The pii package's spoken-form recognizers
(`pii._recognizers.spoken_hits`: digit runs read as card numbers with Luhn, security
codes, expiry dates, PINs, SSNs, spelled IBANs, dates of birth) read the leg's current
*stretch*: its words back to a pause of more than `JOIN_GAP` s or to another leg saying
more than `BACKCHANNEL_WORDS` words ("and the expiry?"), as the batch detector joins a
speaker's utterances; context words ("card number", "security code") count from any leg
within `CONTEXT_S` s. So what fires live is what the batch redaction would cut.

Limits. The batch detector's "asked-for" rule (an answer to "what's your date of birth?"
cut whatever was recognised in it) and presidio's written-number recognizers are not run
live; a card number read with a pause longer than `JOIN_GAP` s is two findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from callvault.analysis.live._events import LiveWord
from callvault.analysis.pii import CARD_EXPIRY, CREDIT_CARD, CVV, DATE_OF_BIRTH, IBAN, PIN, US_SSN
from callvault.analysis.pii._context import Context
from callvault.analysis.pii._recognizers import spoken_hits
from callvault.analysis.pii._spoken import Token, normalise, numeric_weight

__all__ = [
    "BACKCHANNEL_WORDS",
    "CONTEXT_S",
    "JOIN_GAP",
    "UTTERANCE_GAP",
    "SpokenData",
    "find_spoken_data",
    "masked",
    "pii_language",
    "says_more_than_a_backchannel",
]

JOIN_GAP = 5.0  # the pii package's join_gap: a number read across a pause is one
CONTEXT_S = 30.0  # the pii package's context_seconds
UTTERANCE_GAP = 1.5
BACKCHANNEL_WORDS = 3  # words of another leg that do not end a stretch ("mm-hm")

# Words that are no more than a backchannel while a number is read.
_BACKCHANNEL = frozenset(
    "mhm mm mmm hm hmm uh um uhhuh uh-huh okay ok yes yeah yep yup right sure alright "
    "aha ah oh go on ja genau gut".split()
)

_LABEL = {
    CREDIT_CARD: "card number",
    CVV: "security code",
    CARD_EXPIRY: "card expiry",
    PIN: "PIN",
    US_SSN: "social security number",
    IBAN: "bank account (IBAN)",
    DATE_OF_BIRTH: "date of birth",
}


@dataclass(frozen=True)
class SpokenData:
    """A finding on the leg: its entity, the words' times, how many digits (characters,
    for an IBAN) were said, the recogniser's confidence, and whether partial words count."""

    entity: str
    start: float
    end: float
    digits: int
    confidence: float
    partial: bool


def pii_language(language: str | None) -> str | None:
    """The pii package's language code ("en", "de"; None: unknown, English words)."""
    if language is None:
        return None
    return language.lower().replace("_", "-").split("-")[0]


def masked(entity: str, digits: int, *, early: bool = False) -> str:
    """What an alert says of a finding: what it is and how long, never the digits."""
    label = _LABEL.get(entity, entity.lower().replace("_", " "))
    unit = "characters" if entity == IBAN else "digits"
    return f"{label} ({digits} {unit})" + (" being read" if early else "")


def says_more_than_a_backchannel(word: LiveWord, language: str | None) -> bool:
    """Whether `word` is speech of its own: neither a backchannel ("mhm", "okay") nor a
    digit (an agent reading the number back)."""
    norm = normalise(word.text)
    return bool(norm) and norm not in _BACKCHANNEL and not numeric_weight(norm, language)


def find_spoken_data(
    legs: Iterable[tuple[int, Sequence[LiveWord]]],
    channel: int,
    partial: Sequence[LiveWord],
    *,
    now: float,
    language: str | None,
) -> list[SpokenData]:
    """Card and identity data in the current stretch of leg `channel` (module doc).

    `legs` are (channel, final words) of every leg; `partial` is the leg's partial tail.
    """
    horizon = now - CONTEXT_S - JOIN_GAP
    items: list[tuple[float, int, LiveWord, bool]] = []
    for leg, words in legs:
        items += [(w.start, leg, w, False) for w in words if w.end >= horizon]
    items += [(w.start, channel, w, True) for w in partial]
    items.sort(key=lambda item: (item[0], item[1]))
    tokens: list[Token] = []
    utt, index = -1, 0
    previous: tuple[int, float] | None = None
    for _, leg, word, _ in items:
        if previous is None or previous[0] != leg or word.start - previous[1] > UTTERANCE_GAP:
            utt, index = utt + 1, 0
        raw = word.text.strip()
        tokens.append(Token(utt, index, raw, normalise(raw), word.start, word.end))
        index += 1
        previous = (leg, word.end)
    window: list[int] = []
    between = 0
    for p in range(len(items) - 1, -1, -1):
        if items[p][1] != channel:
            between += 1
            if window and between > BACKCHANNEL_WORDS:
                break
            continue
        if window and tokens[window[-1]].start - tokens[p].end > JOIN_GAP:
            break
        between = 0
        window.append(p)
    window.reverse()
    if not window:
        return []
    code = pii_language(language)
    found: list[SpokenData] = []
    hits = spoken_hits(window, tokens, Context(tokens, CONTEXT_S), code)
    for hit in sorted(hits, key=lambda h: h.positions):
        said = [items[p] for p in hit.positions]
        found.append(
            SpokenData(
                entity=hit.entity,
                start=min(item[2].start for item in said),
                end=max(item[2].end for item in said),
                digits=sum(numeric_weight(tokens[p].norm, code) for p in hit.positions),
                confidence=hit.confidence,
                partial=any(item[3] for item in said),
            )
        )
    return found
