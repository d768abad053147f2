"""Context words of a whole transcript, and the candidate findings (`Hit`) that the
recognizers (`_recognizers`, `_presidio`) return before overlaps are resolved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from callvault.analysis._data import read_words
from callvault.analysis.pii._spoken import KeywordHit, Token, find_keywords

__all__ = ["Context", "Hit", "nearest"]


@dataclass(frozen=True)
class Hit:
    """A candidate finding: global token positions (sorted), before overlaps are resolved."""

    entity: str
    positions: tuple[int, ...]
    confidence: float
    recognizer: str


# --- context ------------------------------------------------------------------------------


class Context:
    """Context keywords of a whole transcript and how far each is from a stretch of words.

    A keyword counts when it was said (by anyone) before the stretch within
    `seconds`, or shortly after it in the same utterance ("... is my card number").
    """

    AFTER = 6  # words after a stretch that may still name it

    def __init__(self, tokens: Sequence[Token], seconds: float) -> None:
        self.tokens = tokens
        self.seconds = seconds
        self.hits: list[KeywordHit] = find_keywords([t.norm for t in tokens])

    def near(self, first: int, last: int) -> dict[str, int]:
        """Distance in words from the stretch `first..last` to each category's nearest keyword.

        A bare "number" ("the number is ...") names no kind of number: when a card keyword
        was said before it (same sentence, or the other party's question), the stretch is
        card context first ("card" gets the distance of "number").
        """
        out, generic = self._near(first, last)
        if generic is not None and "card" in out and self._card_before(generic):
            out["card"] = min(out["card"], out["phone"] - 1)
        return out

    def _card_before(self, number: KeywordHit) -> bool:
        """A card keyword before the bare "number" in its sentence, or anywhere in the
        utterance before it (the other party's "which card?")."""
        tokens = self.tokens
        utt = tokens[number.first].utt
        for hit in self.hits:
            if hit.category != "card" or hit.last >= number.first:
                continue
            if tokens[hit.last].utt == utt - 1:
                return True
            if tokens[hit.last].utt == utt and not any(
                tokens[k].raw.endswith((".", "?", "!")) for k in range(hit.last, number.first)
            ):
                return True
        return False

    def _near(self, first: int, last: int) -> tuple[dict[str, int], KeywordHit | None]:
        tokens = self.tokens
        since = tokens[first].start - self.seconds
        out: dict[str, int] = {}
        generic: KeywordHit | None = None
        for hit in self.hits:
            if hit.last < first:
                if tokens[hit.last].end < since:
                    continue
                distance = first - hit.last
            elif hit.first > last:
                if hit.first - last > self.AFTER or tokens[hit.first].utt != tokens[last].utt:
                    continue
                distance = hit.first - last + 1  # before wins a tie
            else:
                continue
            if distance < out.get(hit.category, 1 << 30):
                out[hit.category] = distance
                if hit.category == "phone":
                    bare = hit.first == hit.last and tokens[hit.first].norm in _BARE_NUMBER
                    generic = hit if bare else None
        return out, generic


# A bare "number" names no kind of number (data/context.toml).
_BARE_NUMBER = set(read_words("callvault.analysis.pii", "context.toml")["bare"]["number"])


def nearest(near: dict[str, int], among: Sequence[str]) -> str | None:
    found = [(near[c], c) for c in among if c in near]
    return min(found)[1] if found else None
