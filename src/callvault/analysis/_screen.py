"""Catch what Whisper makes up: the hallucination screen after speech recognition.

Whisper writes text where there is none to hear, most of all on band-limited telephone
audio and in languages its small models know less well: the same words over and over,
runs of single letters ("h h h h h h"), fragments in a script the language does not use,
and whole segments it was unsure of. faster-whisper already re-decodes a window at higher
temperatures when its text compresses too well or its log-probability is low; what still
looks made up after that is removed here, word by word where the rest of the segment is
sound, and counted by rule (`ScreenStats`), so a transcript says how much was dropped.

Rules, in order (each names its count):

- ``loop``: a segment whose text compresses more than 2.4 times (Whisper's own threshold
  for a decoding loop) is dropped, unless a quarter of its words or more are digits,
  number words or what the recogniser writes for them ("fine" for five): a card number
  read aloud ("five five five five, five five five five, ...") compresses as well as a
  loop, and dropping its words would leave it audible (redaction cuts the audio under the
  words it finds);
- ``unsure``: a segment with an average log-probability below -1.0 (Whisper's fallback
  threshold) *and* a no-speech probability above 0.5 is dropped: Whisper thought there
  was no speech and then guessed;
- ``script``: a word with letters of a script the language is not written in (Cyrillic
  or CJK in an English call) is dropped;
- ``letters``: a run of four or more single-letter words is dropped;
- ``repeat``: a phrase of one to four words said four or more times in a row keeps its
  first saying. Digits and number words (misheard ones too) are exempt: "one one one
  one" or "fine fine fine fine" is part of a card number read aloud, not a loop.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from callvault.analysis._data import read_words
from callvault.analysis._records import Word

__all__ = ["RULES", "ScreenStats", "ScreenedSegment", "is_looping", "screen_segment"]

RULES = ("loop", "unsure", "script", "letters", "repeat", "redecoded")

# Whisper's own test for a decoding stuck in a loop: text that compresses too well.
LOOP_RATIO = 2.4
_LOOP_MIN_CHARS = 40
UNSURE_LOGPROB = -1.0
UNSURE_NO_SPEECH = 0.5
LETTER_RUN = 4
REPEATS = 4
_LONGEST_PHRASE = 4

_WORDS = read_words("callvault.analysis", "screen.toml")
# The scripts each language is written in (Unicode character names start with these).
# A language not listed is not screened for script (data/screen.toml).
_SCRIPTS: dict[str, tuple[str, ...]] = {
    **{lang: ("LATIN",) for lang in _WORDS["scripts"]["latin"]},
    **{lang: tuple(scripts) for lang, scripts in _WORDS["scripts"]["mixed"].items()},
}
# Digit words, and what the recogniser writes for them on telephone audio ("fine" for
# five, "won" for one, "nero" for zero; German "nun" for null). The screen must never
# drop a number read aloud: redaction finds a card number in the words, and cuts the
# audio under the words it finds.
_NUMBER_WORDS = frozenset(_WORDS["numbers"]["words"])
# A segment that compresses like a loop is dropped only when fewer than this share of
# its words could be digits.
_LOOP_MOST_NUMERIC = 0.25


def is_looping(text: str) -> bool:
    """Whether a segment's text repeats itself as a decoding loop does (its gzip
    compression ratio above Whisper's threshold of 2.4); short texts never count."""
    data = text.strip().encode()
    if len(data) < _LOOP_MIN_CHARS:
        return False
    return len(data) / len(zlib.compress(data)) > LOOP_RATIO


@dataclass(frozen=True)
class ScreenedSegment:
    """A segment's words after the screen (empty when the segment was dropped)."""

    words: tuple[Word, ...]
    dropped: bool  # some words or the whole segment were removed


class ScreenStats(Counter[str]):
    """How many words each rule removed (a dropped segment counts its words); the
    recogniser adds `redecoded`, the words it recovered from skipped speech."""

    def to_json(self) -> dict[str, int]:
        return {rule: self[rule] for rule in RULES if self[rule]}


def _bare(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _numeric(word: str) -> bool:
    bare = _bare(word)
    return bool(bare) and (any(ch.isdigit() for ch in bare) or bare in _NUMBER_WORDS)


def _foreign(text: str, scripts: tuple[str, ...]) -> bool:
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            if not name.startswith(scripts):
                return True
    return False


def screen_segment(
    words: Sequence[Word],
    text: str,
    *,
    language: str | None,
    avg_logprob: float,
    no_speech_prob: float,
    stats: ScreenStats,
) -> ScreenedSegment:
    """`words` of one segment (whose text is `text`) without what looks made up."""
    numeric = sum(_numeric(w.text) for w in words)
    if is_looping(text) and numeric < _LOOP_MOST_NUMERIC * len(words):
        stats["loop"] += len(words)
        return ScreenedSegment((), True)
    if avg_logprob < UNSURE_LOGPROB and no_speech_prob > UNSURE_NO_SPEECH:
        stats["unsure"] += len(words)
        return ScreenedSegment((), True)
    kept = list(words)
    scripts = _SCRIPTS.get((language or "").split("-")[0].lower())
    if scripts is not None:
        before = len(kept)
        kept = [w for w in kept if not _foreign(w.text, scripts)]
        stats["script"] += before - len(kept)
    kept = _without_letter_runs(kept, stats)
    kept = _without_repeats(kept, stats)
    return ScreenedSegment(tuple(kept), len(kept) < len(words))


def _without_letter_runs(words: list[Word], stats: ScreenStats) -> list[Word]:
    single = [len(_bare(w.text)) == 1 and _bare(w.text).isalpha() for w in words]
    kept: list[Word] = []
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and single[j]:
            j += 1
        if j - i >= LETTER_RUN:
            stats["letters"] += j - i
            i = j
            continue
        kept.extend(words[i : max(j, i + 1)])
        i = max(j, i + 1)
    return kept


def _without_repeats(words: list[Word], stats: ScreenStats) -> list[Word]:
    keys = [_bare(w.text) for w in words]
    kept: list[Word] = []
    i = 0
    while i < len(words):
        for size in range(1, _LONGEST_PHRASE + 1):
            phrase = keys[i : i + size]
            if len(phrase) < size or not all(phrase) or all(_numeric(w) for w in phrase):
                continue
            count = 1
            while keys[i + count * size : i + (count + 1) * size] == phrase:
                count += 1
            if count >= REPEATS:
                kept.extend(words[i : i + size])
                stats["repeat"] += (count - 1) * size
                i += count * size
                break
        else:
            kept.append(words[i])
            i += 1
    return kept
