"""De-identification of one transcript's text for a training export (issue 22), pure.

The stored transcript is already redacted at processing (`[CREDIT_CARD]`, ...). For a
training set each utterance is further scrubbed, in order:

1. the PII detector again over the whole transcript, word by word with its context (the
   caller does this: `analysis.pii`), for what an older detector version or a
   rectification left;
2. every name known for the call (participants' names, the agent's username, and each
   part of a name of 3 letters or more) becomes `[PERSON]`;
3. every run of digits (with the separators of a written number) becomes `[NUMBER]`, and
   so does a run of 3 or more spoken digits ("four one five"): numbers are dropped
   whatever they are (a phone number, an account, a date).

Each step counts what it replaced, by placeholder, for the data sheet.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["PLACEHOLDER", "Scrubber", "placeholders"]

PLACEHOLDER = re.compile(r"\[([A-Z][A-Z_]*)\]")
_DIGITS = re.compile(r"\+?\d(?:[\d\s().\-/]*\d)?")
_SPOKEN = (
    "zero|oh|one|two|three|four|five|six|seven|eight|nine|"
    "null|eins|zwei|drei|vier|fünf|sechs|sieben|acht|neun"
)
_SPOKEN_RUN = re.compile(rf"\b(?:(?:{_SPOKEN})[\s,.-]+){{2,}}(?:{_SPOKEN})\b", re.IGNORECASE)


def placeholders(text: str) -> Counter[str]:
    """The placeholders in `text`, by entity."""
    return Counter(PLACEHOLDER.findall(text))


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    parts: set[str] = set()
    for name in names:
        cleaned = name.strip()
        if not cleaned:
            continue
        parts.add(cleaned)
        parts.update(p for p in re.split(r"[\s._-]+", cleaned) if len(p) >= 3)
    if not parts:
        return None
    ordered = sorted(parts, key=len, reverse=True)  # the full name before its parts
    alternatives = "|".join(re.escape(p) for p in ordered)
    return re.compile(rf"(?<![\w\[])(?:{alternatives})(?![\w\]])", re.IGNORECASE)


@dataclass
class Scrubber:
    """Scrubs the utterances of one call and counts what it replaced."""

    names: tuple[str, ...]
    names_dropped: int = 0
    numbers_dropped: int = 0

    @classmethod
    def of(cls, names: Iterable[str]) -> Scrubber:
        return cls(tuple(n for n in names if n and n.strip()))

    def scrub(self, text: str) -> str:
        pattern = _name_pattern(self.names)
        if pattern is not None:
            text, n = pattern.subn("[PERSON]", text)
            self.names_dropped += n
        text, n = _DIGITS.subn("[NUMBER]", text)
        self.numbers_dropped += n
        text, n = _SPOKEN_RUN.subn("[NUMBER]", text)
        self.numbers_dropped += n
        return text
