"""Phonetic matching of competitor names the recogniser mis-hears.

A speech recogniser writes a name it does not know as the nearest words it does know:
"Acme Dialer" comes out as "Hackman Iler", "Zentra" as "Sentra" or "zentral". This
module says how much a run of recognised words sounds like a name, so the trackers stage
can report it at a confidence below an exact hit's.

Method. The letters of the name's words, and of the recognised words, are joined (a name
may be heard split or merged at another place: "acmedialer" / "hackmaniler") and spelt
by sound (`sounds`): "sch"/"sh"/"ch" -> "x", "ph" -> "f", "th" -> "t", "ck"/"q" -> "k",
"c" -> "s" before e/i/y and "k" otherwise, "x" -> "ks", "z" -> "s", "y" -> "i", "h"
dropped (recognisers add and drop it: "Acme" -> "Hackman"), doubled sounds once. The
*key* (`key`) is that spelling's consonant skeleton with voiced and voiceless pairs merged
(b/p, d/t, g/k, v/f) and an opening vowel kept as "a", as in Metaphone: "AKMTLR" for
"Acme Dialer", "AKMNLR" for "Hackman Iler". A run of words matches a name when

- the keys start with the same sound and differ in at most a quarter of their length
  (key similarity, 1 - edit distance / longer key, at least `KEY_SIMILARITY`);
- the sound spellings are similar (`difflib` ratio at least `SPELLING_SIMILARITY`: this
  keeps "Sandra", whose key equals "Zentra"'s, from matching);
- the run holds no function word of the call's language (`function_words`: YAKE's
  stopwords, "actually" among them) nor a redaction placeholder's word, and not only
  everyday words (`everyday_words`: "mentor", "central", "center", "dealer", ...); a word
  of the name itself is neither: "Hackman Iler", "acne dealer" and "Acme dialler" may be
  "Acme Dialer"; "mentor", "central" and "center dealer" never are, however they sound;
- the run has as many words as the name, or one more or one fewer (a name heard split or
  merged), and is not the name with a plural "s" or "es" (a name does not inflect); the
  name's key has at least `MIN_KEY` sounds (shorter names match exactly only).

The confidence is `PHONETIC_MAX` (0.75, below an inflection variant's 0.8) times the mean
of the two similarities.

Limits. The spelling rules are English-leaning; "w" and "v" sound the same in German but
not here. The word lists are short (YAKE's stopwords plus the hand-made everyday words
below), so an everyday word missing from them that sounds like a name is reported. A
mishearing that shares no sounds with the name ("Acme Dialer quoted us" heard as "I'll
work with us") is not found; neither is one that starts with another sound ("Zentra" heard
as "mentor"). The words of the call's language and English's count (English words are
everywhere in business calls); of a call of unknown language, English's and German's. So
"zentral" is reported as "Zentra" in an English call (a German word there is no everyday
word) at about 0.65, never in a German call or one of unknown language.
"""

from __future__ import annotations

import difflib
import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import yake

__all__ = [
    "KEY_SIMILARITY",
    "MIN_KEY",
    "PHONETIC_MAX",
    "SPELLING_SIMILARITY",
    "PhoneticName",
    "common_words",
    "everyday_words",
    "find",
    "function_words",
    "key",
    "sounds",
]

PHONETIC_MAX = 0.75
KEY_SIMILARITY = 0.75
SPELLING_SIMILARITY = 0.7
MIN_KEY = 3

_VOWELS = frozenset("aeiou")
_VOICE = str.maketrans({"b": "p", "d": "t", "g": "k", "v": "f", "j": "x"})

# Everyday words that sound like made-up company names, besides YAKE's stopwords. Folded
# like tracker tokens (umlauts as ae/oe/ue, ß as ss).
_EVERYDAY = {
    "en": (
        "able account accounts action actually address agent agree already answer app "
        "area around asking back bank basic best better bill billing bit board book boss "
        "budget business busy buy call called calling calls card care case cell center "
        "centers central centre century certainly chance change check client close cloud "
        "code company contact contract cost costs could course credit customer customers "
        "data date day days deal dealer dealers deals demo dial dialer dialing dialler "
        "digital direct doctor done email end enter entry every fine first follow free friday "
        "full general gentle good great group happy hear hello help helping here home hour "
        "idea illegal important info issue item kind know later leader letter line list "
        "little local lot mail major manager market matter maybe mean meantime meeting "
        "mention mentioned mentor menu minute minutes moment monday money month mentors "
        "name need never news next nice number offer office okay order other owner paper "
        "partner people person phone plan platform please point portal power price pricing "
        "problem product quarter question quick quote quoted rate ready really record "
        "recorded report right sales saturday say second send sender senior sense sentence "
        "sentry service set setting share short sign simple since sir sorry sound speaker "
        "special start still stuff sunday support sure system talk team tell tenant term "
        "thank thanks thing think thursday time today tomorrow total trial tuesday under "
        "user value vendor wait want way wednesday week well work world yeah year yes"
    ),
    "de": (
        "aber abteilung alles also angebot anruf anrufen auftrag bitte budget chef danke "
        "dann daten dienstag donnerstag eben eigentlich einfach entschuldigung firma "
        "freitag frage fragen gerne genau gespraech gut hallo handel haendler heute jahr "
        "jetzt kosten kunde kunden leider lizenz mal mentor mittwoch moment montag morgen "
        "nummer partner preis produkt rechnung richtig sache samstag schon sender sonntag "
        "system team telefon termin uhr vertrag vielleicht vielen wirklich woche zentral "
        "zentrale zentralen zentraler zentrum zentren zeit ziel zusammen"
    ),
}

# The words of redaction placeholders ("[CREDIT_CARD]" -> "credit", "card").
_PLACEHOLDER_WORDS = frozenset(
    "credit card cvv expiry us ssn iban email phone date of birth person address dtmf "
    "text redacted".split()
)


def _ascii_letters(text: str) -> str:
    """Lower-case a-z only: accents dropped, anything else removed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if "a" <= c <= "z")


@functools.lru_cache(maxsize=16384)
def sounds(text: str) -> str:
    """The letters of `text` spelt by sound (module doc): vowels kept, doubles once."""
    s = _ascii_letters(text)
    out: list[str] = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        nxt = s[i + 1] if i + 1 < n else ""
        step = 1
        if c in _VOWELS:
            sound = c
        elif c == "y":
            sound = "i"
        elif c == "s" and s.startswith("sch", i):
            sound, step = "x", 3
        elif c in "sc" and nxt == "h":
            sound, step = "x", 2
        elif c == "c":
            if nxt == "k":
                sound, step = "k", 2
            else:
                sound = "s" if nxt in ("e", "i", "y") else "k"
        elif c == "p" and nxt == "h":
            sound, step = "f", 2
        elif c == "t" and nxt == "h":
            sound, step = "t", 2
        elif c == "h":
            sound = ""
        elif c == "q":
            sound = "k"
        elif c == "x":
            sound = "ks" if out else "s"
        elif c == "z":
            sound = "s"
        else:
            sound = c
        for part in sound:
            if not out or out[-1] != part:
                out.append(part)
        i += step
    return "".join(out)


@functools.lru_cache(maxsize=16384)
def key(text: str) -> str:
    """The consonant skeleton of `text`'s sound spelling, voicing merged, an opening
    vowel as "A", in capitals: "Acme Dialer" -> "AKMTLR"."""
    spelt = sounds(text)
    if not spelt:
        return ""
    out: list[str] = ["A"] if spelt[0] in _VOWELS else []
    for index, c in enumerate(spelt):
        if c in _VOWELS:
            continue
        if c == "w" and not (index + 1 < len(spelt) and spelt[index + 1] in _VOWELS):
            continue  # "w" after a vowel is part of it ("Howe")
        code = c.translate(_VOICE).upper()
        if not out or out[-1] != code:
            out.append(code)
    return "".join(out)


def _distance(a: str, b: str) -> int:
    """Levenshtein edit distance."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _similarity(a: str, b: str) -> float:
    longer = max(len(a), len(b))
    return 1.0 - _distance(a, b) / longer if longer else 0.0


def _fold(word: str) -> str:
    # The same folding as tracker tokens (callvault.analysis.insights._matching.fold).
    folded = unicodedata.normalize("NFC", word).casefold()
    for old, new in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("'", ""), ("’", "")):
        folded = folded.replace(old, new)
    return folded


def _code(language: str | None) -> str | None:
    return language.split("-")[0].split("_")[0].casefold() if language else None


def _languages(language: str | None) -> list[str]:
    """The languages whose common words count in a call of `language`: its own and
    English (English words are everywhere in business calls); English and German when the
    language is unknown."""
    code = _code(language)
    return sorted({"en", "de"} if code is None else {"en", code})


@functools.lru_cache(maxsize=32)
def _stopwords(language: str) -> frozenset[str]:
    return frozenset(_fold(w) for w in yake.KeywordExtractor(lan=language).stopword_set)


@functools.lru_cache(maxsize=32)
def function_words(language: str | None) -> frozenset[str]:
    """Words never part of a phonetic hit in a call of `language` ("en", "de-DE", None):
    YAKE's stopwords of the languages that count, and redaction placeholder words."""
    words: set[str] = set(_PLACEHOLDER_WORDS)
    for code in _languages(language):
        words |= _stopwords(code)
    return frozenset(words)


@functools.lru_cache(maxsize=32)
def everyday_words(language: str | None) -> frozenset[str]:
    """Everyday words that are no phonetic hit on their own, nor together with other
    everyday words, in a call of `language`."""
    return frozenset(w for code in _languages(language) for w in _EVERYDAY.get(code, "").split())


def common_words(language: str | None) -> frozenset[str]:
    """Every word that is never a phonetic hit alone in a call of `language`."""
    return function_words(language) | everyday_words(language)


@dataclass(frozen=True)
class PhoneticName:
    """A competitor name prepared for phonetic matching: its folded words, sound
    spelling and key. `usable` is False for a name too short to match by sound."""

    name: str
    words: tuple[str, ...]
    spelt: str
    key: str

    @property
    def joined(self) -> str:
        return "".join(self.words)

    @classmethod
    def of(cls, name: str, words: Sequence[str]) -> PhoneticName:
        joined = "".join(words)
        return cls(name, tuple(words), sounds(joined), key(joined))

    @property
    def usable(self) -> bool:
        return len(self.key) >= MIN_KEY

    def lengths(self) -> range:
        """How many recognised words may stand for the name: as many, one more, or
        (for a name of several words) one fewer."""
        count = len(self.words)
        return range(max(1, count - 1), count + 2)

    def score(self, heard: Sequence[str], language: str | None) -> float:
        """The confidence that the folded words `heard`, said in a call of `language`,
        are this name mis-heard; 0.0 when they are not (module doc)."""
        joined = "".join(heard)
        heard_key = key(joined)
        # Cheap tests first: the first sound, and the difference in length (the edit
        # distance is at least that).
        if not heard_key or heard_key[0] != self.key[0]:
            return 0.0
        longer = max(len(heard_key), len(self.key))
        if 1.0 - abs(len(heard_key) - len(self.key)) / longer < KEY_SIMILARITY:
            return 0.0
        if tuple(heard) == self.words or joined in (self.joined + "s", self.joined + "es"):
            return 0.0  # the name itself, or with a plural: a name does not inflect
        others = [word for word in heard if word not in self.words]
        function = function_words(language)
        if any(word in function or not _ascii_letters(word) for word in others):
            return 0.0
        everyday = everyday_words(language)
        if len(others) == len(heard) and all(word in everyday for word in others):
            return 0.0  # only everyday words, none of the name's
        key_similarity = _similarity(heard_key, self.key)
        if key_similarity < KEY_SIMILARITY:
            return 0.0
        spelling = difflib.SequenceMatcher(None, sounds(joined), self.spelt).ratio()
        if spelling < SPELLING_SIMILARITY:
            return 0.0
        return PHONETIC_MAX * (key_similarity + spelling) / 2


def find(
    names: Sequence[PhoneticName], words: Sequence[str], language: str | None
) -> list[tuple[float, int, int, PhoneticName]]:
    """(confidence, first word, word count, name) of every run of `words` (the folded
    words of one utterance) that sounds like one of `names`, overlapping runs included."""
    by_sound: dict[str, list[PhoneticName]] = {}
    for name in names:
        if name.usable:
            by_sound.setdefault(name.key[0], []).append(name)
    lengths = sorted({n for group in by_sound.values() for name in group for n in name.lengths()})
    found: list[tuple[float, int, int, PhoneticName]] = []
    for length in lengths:
        for at in range(len(words) - length + 1):
            heard = words[at : at + length]
            heard_key = key("".join(heard))
            for name in by_sound.get(heard_key[:1], ()):
                if length in name.lengths():
                    confidence = name.score(heard, language)
                    if confidence:
                        found.append((confidence, at, length, name))
    return found
