"""Trackers and compliance checks: find phrases in what was said, and who said them when.

Method. Each utterance becomes a list of tokens: NFC text, case-folded, apostrophes
dropped ("can't" -> "cant"), German umlauts and ß folded ("ä" -> "ae", "ß" -> "ss"),
split at anything that is not a letter or digit. A token keeps the start time of the
recognised word it came from (or an evenly spaced time when an utterance has no words).
A phrase is tokenised the same way and matches a run of consecutive tokens, word for
word: exactly (confidence 1.0), or with simple inflection variants (plural -s/-es, and
-ed <-> -ing for a phrase word that ends so; confidence 0.8). "*" in a phrase matches any
one word. Several phrases of one tracker hitting the same place count once (the exact,
longer one wins).

Trackers are built in for English and German (objections, buying signals) plus
competitor names from the parameters and user-defined `TrackerSpec`s. A competitor name
matches exactly only (a name does not inflect), and also by sound, when the recogniser
wrote it as other words ("Acme Dialer" as "Hackman Iler": `_phonetic`, confidence at most
0.75, `match` "phonetic"); every hit says how it matched. A tracker with a
`speaker_role` (objections: "customer") only looks at that role's speech when the call
facts know who has it; when they do not, every speaker counts and the confidence is
multiplied by 0.7.

Compliance. "disclosure" passes when the agent says a recording disclosure that starts
within the first `disclosure_within_s` seconds. ASR output varies ("this call will be
recorded", "recording"), so disclosure phrases match fuzzily: the content words of the
phrase (stopwords dropped) must appear in order, each with its inflection variants, and
between two of them there may be at most one more word than the phrase has there. When
no speaker has the role "agent", any speaker counts and the check says so (confidence
0.5). "prohibited" lists every exact/variant hit of a prohibited phrase by the agent (by
anyone, at confidence 0.5, when no agent is known) and passes when there is none.

Limits. Matching is lexical: negation ("it is not too expensive") and sarcasm still hit;
German compounds ("Budgetfreigabe") do not match their parts; the stopword lists are
short and hand-made. Phrases for a language other than the call's are not used when the
call's language is known and the tracker has phrases for it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from callvault.analysis._records import Transcript, Utterance
from callvault.analysis.insights import _phonetic
from callvault.analysis.insights._records import AGENT, CUSTOMER, CallFacts, StageStamp
from callvault.errors import ConfigError

__all__ = [
    "BUILTIN_TRACKERS",
    "COMPLIANCE_STAGE",
    "KINDS",
    "MATCHES",
    "STAGE",
    "ComplianceCheck",
    "ComplianceHit",
    "ComplianceParams",
    "ComplianceResult",
    "TrackerHit",
    "TrackerParams",
    "TrackerSpec",
    "TrackersResult",
    "check_compliance",
    "run",
    "tokens_of",
    "tracker_from_config",
]

STAGE = "trackers"
COMPLIANCE_STAGE = "compliance"
# 2: German disclosures with words between; 3: loose tracker phrases; 4: competitor names
# heard by sound (_phonetic), and every hit says how it matched
VERSION = "4"
COMPLIANCE_VERSION = "4"  # 2: German disclosures with words between; 4: more wordings

KINDS = ("objection", "buying-signal", "competitor", "custom")

EXACT = 1.0
VARIANT = 0.8
LOOSE = 0.7  # a tracker phrase with another word between its words
UNKNOWN_ROLE_FACTOR = 0.7  # a role-bound tracker run on a call whose roles are unknown
WILDCARD = "*"

STOPWORDS = frozenset(
    # English
    "a an the and or but if of to in on at for with by from as is are was were be been being "
    "am do does did have has had i me my we us our you your he she it its they them their "
    "this that these those there here so not no yes just very can could will would shall "
    "should may might must what which who whom when where why how all any some than then "
    "too also about into out up down over again only own same such s t ll re ve d m "
    # German (folded: umlauts as ae/oe/ue, ß as ss)
    "der die das den dem des ein eine einer eines einem einen und oder aber wenn von zu im "
    "in an auf fuer mit bei aus als ist sind war waren sein bin bist hat haben hatte ich mich "
    "mir wir uns unser sie ihr ihnen er es man dies diese dieser dieses da hier so nicht nein "
    "ja doch noch nur sehr kann koennen wird werden wuerde soll sollte muss was wer wie wo "
    "warum wann alle auch schon dann denn dass ob um am zum zur".split()
)

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "’": "", "'": "", "ʼ": ""})
_SPLIT = re.compile(r"[^\w]+|_")


def fold(text: str) -> str:
    """Case-folded, umlaut-folded text without apostrophes (punctuation kept)."""
    return unicodedata.normalize("NFC", text).casefold().translate(_FOLD)


_APOSTROPHES = str.maketrans({"’": "", "'": "", "ʼ": ""})


def words_of(text: str, *, as_said: bool = False) -> list[str]:
    """The folded words of a text, punctuation dropped; "*" is kept as a wildcard word.

    `as_said` keeps umlauts (only case and apostrophes are folded), for display.
    """
    if as_said:
        folded = unicodedata.normalize("NFC", text).casefold().translate(_APOSTROPHES)
    else:
        folded = fold(text)
    out: list[str] = []
    for piece in folded.split():
        if piece == WILDCARD:
            out.append(WILDCARD)
        else:
            out.extend(part for part in _SPLIT.split(piece) if part)
    return out


@dataclass(frozen=True)
class Token:
    """One folded word of an utterance and the time its recognised word starts."""

    text: str
    start: float


def tokens_of(utterance: Utterance) -> list[Token]:
    """Folded tokens of an utterance with start times.

    Times come from the recogniser's words; without words they are spread evenly over
    the utterance.
    """
    if utterance.words:
        return [Token(part, word.start) for word in utterance.words for part in words_of(word.text)]
    parts = words_of(utterance.text)
    span = max(utterance.end - utterance.start, 0.0)
    step = span / len(parts) if parts else 0.0
    return [Token(part, utterance.start + i * step) for i, part in enumerate(parts)]


@functools.lru_cache(maxsize=8192)
def variants(word: str) -> frozenset[str]:
    """Inflection variants of a folded phrase word (not the word itself)."""
    if word == WILDCARD or len(word) < 2:
        return frozenset()
    out = {word + "s", word + "es"}
    if word.endswith("s") and len(word) > 3:
        out.add(word[:-1])
    if word.endswith("ed") and len(word) > 4:
        stem = word[:-2]
        out |= {stem, stem + "s", stem + "ing", stem + "e", stem + "es"}
    if word.endswith("ing") and len(word) > 5:
        stem = word[:-3]
        out |= {stem, stem + "s", stem + "ed", stem + "e", stem + "es", stem + "ed"}
    if word.endswith("e") and len(word) > 3:
        out |= {word + "d", word[:-1] + "ing"}
    out.discard(word)
    return frozenset(out)


def _word_score(pattern: str, token: str) -> float:
    """1.0 for an exact (or wildcard) match, 0.8 for a variant, 0.0 otherwise."""
    if pattern == WILDCARD or pattern == token:
        return EXACT
    if token in variants(pattern):
        return VARIANT
    return 0.0


def _may_occur(word: str, present: set[str]) -> bool:
    return word in present or not variants(word).isdisjoint(present)


def match_at(pattern: Sequence[str], tokens: Sequence[Token], at: int) -> float:
    """Confidence of `pattern` matching the tokens from `at` on, word for word (0: none)."""
    if at + len(pattern) > len(tokens):
        return 0.0
    confidence = EXACT
    for offset, word in enumerate(pattern):
        score = _word_score(word, tokens[at + offset].text)
        if not score:
            return 0.0
        confidence = min(confidence, score)
    return confidence


def fuzzy_find(pattern: Sequence[str], tokens: Sequence[Token]) -> tuple[int, float] | None:
    """First place the content words of `pattern` occur in order, loosely (see module doc).

    Returns the index of the first matched token and the match confidence (1.0 when the
    phrase occurs word for word, else 0.8), or None.
    """
    exact = [i for i in range(len(tokens)) if match_at(pattern, tokens, i) == EXACT]
    if exact:
        return exact[0], EXACT
    content = [(i, w) for i, w in enumerate(pattern) if w not in STOPWORDS and w != WILDCARD]
    if not content:
        return None
    for start in range(len(tokens)):
        if not _word_score(content[0][1], tokens[start].text):
            continue
        position = start
        ok = True
        for (prev_i, _), (next_i, word) in zip(content, content[1:], strict=False):
            allowed = next_i - prev_i  # the phrase's own distance, plus one extra word
            found = None
            for step in range(1, allowed + 2):
                j = position + step
                if j < len(tokens) and _word_score(word, tokens[j].text):
                    found = j
                    break
            if found is None:
                ok = False
                break
            position = found
        if ok:
            return start, VARIANT
    return None


def _language_key(language: str | None) -> str | None:
    if not language:
        return None
    return language.split("-")[0].split("_")[0].casefold()


def _phrases_for(
    phrases: Mapping[str, tuple[str, ...]], language: str | None
) -> list[tuple[str, tuple[str, ...]]]:
    """(phrase, folded words) for the call's language; every language when it is unknown."""
    key = _language_key(language)
    if key is not None and key in phrases:
        chosen: Iterable[str] = phrases[key]
    else:
        chosen = [p for lang in sorted(phrases) for p in phrases[lang]]
    return [(phrase, tuple(words_of(phrase))) for phrase in chosen]


# --- tracker specs ---------------------------------------------------------------------


@dataclass(frozen=True)
class TrackerSpec:
    """A named set of phrases per language ("en", "de", ...) to look for.

    `speaker_role` limits the tracker to one role's speech ("customer", "agent") when the
    call facts know roles.
    """

    name: str
    kind: str
    phrases: Mapping[str, tuple[str, ...]]
    speaker_role: str | None = None

    def validate(self) -> None:
        """Raise `ConfigError` naming the tracker and the problem."""
        if not self.name.strip():
            raise ConfigError("tracker name is empty: give every tracker a name")
        if self.kind not in KINDS:
            raise ConfigError(
                f"tracker {self.name!r}: kind {self.kind!r} is unknown; "
                f"use one of {', '.join(KINDS)}"
            )
        if not any(self.phrases.values()):
            raise ConfigError(f"tracker {self.name!r} has no phrases: add at least one")
        for language, phrases in self.phrases.items():
            for phrase in phrases:
                words = words_of(phrase)
                if not words:
                    raise ConfigError(
                        f"tracker {self.name!r}: an empty phrase in language {language!r}"
                    )
                if all(w in STOPWORDS or w == WILDCARD for w in words):
                    raise ConfigError(
                        f"tracker {self.name!r}: phrase {phrase!r} ({language}) has only "
                        "stopwords or wildcards and would match almost anything"
                    )
        if self.speaker_role is not None and not self.speaker_role.strip():
            raise ConfigError(f"tracker {self.name!r}: speaker role is empty")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "phrases": {lang: list(p) for lang, p in sorted(self.phrases.items())},
            "speaker_role": self.speaker_role,
        }


_CONFIG_KEYS = frozenset({"kind", "phrases", "speaker"})


def tracker_from_config(name: str, raw: Mapping[str, Any]) -> TrackerSpec:
    """A validated `TrackerSpec` from a TOML table such as
    `{kind = "custom", phrases = {en = ["..."], de = ["..."]}, speaker = "customer"}`.

    Fails closed: an unknown key or a value of the wrong type is a `ConfigError` naming it.
    """
    for key in raw:
        if key not in _CONFIG_KEYS:
            raise ConfigError(
                f"tracker {name!r}: unknown key {key!r}; allowed keys are kind, phrases, speaker"
            )
    kind = raw.get("kind", "custom")
    if not isinstance(kind, str):
        raise ConfigError(f"tracker {name!r}: key 'kind' must be a string")
    raw_phrases = raw.get("phrases")
    if not isinstance(raw_phrases, Mapping):
        raise ConfigError(
            f"tracker {name!r}: key 'phrases' must be a table of language = [phrases]"
        )
    phrases: dict[str, tuple[str, ...]] = {}
    for language, items in raw_phrases.items():
        if isinstance(items, str) or not isinstance(items, Sequence):
            raise ConfigError(f"tracker {name!r}: phrases.{language} must be a list of strings")
        if not all(isinstance(item, str) for item in items):
            raise ConfigError(f"tracker {name!r}: phrases.{language} must be a list of strings")
        phrases[str(language)] = tuple(items)
    speaker = raw.get("speaker")
    if speaker is not None and not isinstance(speaker, str):
        raise ConfigError(f"tracker {name!r}: key 'speaker' must be a string")
    spec = TrackerSpec(
        name=name, kind=kind, phrases=MappingProxyType(phrases), speaker_role=speaker
    )
    spec.validate()
    return spec


def _spec(name: str, kind: str, en: str, de: str, role: str | None) -> TrackerSpec:
    """A built-in tracker; phrases are written "a; b; c"."""

    def split(text: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in text.split(";") if p.strip())

    return TrackerSpec(name, kind, MappingProxyType({"en": split(en), "de": split(de)}), role)


BUILTIN_TRACKERS: tuple[TrackerSpec, ...] = (
    _spec(
        "objection.price",
        "objection",
        (
            "too expensive; over our budget; over budget; out of our budget; can't afford; cannot "
            "afford; cheaper; costs too much; too pricey; price is too high; a lot of money; no "
            "budget; above what we budgeted; more than we budgeted; above our budget; price is "
            "higher; a lot higher than; more expensive"
        ),
        (
            "zu teuer; Budget; günstiger; billiger; zu viel Geld; können wir uns nicht leisten; "
            "Preis ist zu hoch; kein Geld; teurer"
        ),
        CUSTOMER,
    ),
    _spec(
        "objection.timing",
        "objection",
        (
            "not the right time; bad time; next quarter; next year; too busy; not a priority; "
            "maybe later; not right now; revisit this later"
        ),
        (
            "später; nächstes Quartal; nächsten Quartal; nächstes Jahr; keine Zeit; zu viel zu "
            "tun; nicht der richtige Zeitpunkt; gerade schlecht"
        ),
        CUSTOMER,
    ),
    _spec(
        "objection.authority",
        "objection",
        (
            "my boss; my manager; need to check with; have to check with; run it by; not my "
            "decision; not my call; the board; sign off; approval; our CFO; our CEO; procurement"
        ),
        (
            "Chef; Chefin; Geschäftsführung; Geschäftsführer; Geschäftsführerin; Vorgesetzten; "
            "nicht meine Entscheidung; muss das abstimmen; Freigabe; erst * besprechen"
        ),
        CUSTOMER,
    ),
    _spec(
        "objection.need",
        "objection",
        (
            "we don't need; don't need it; no need; happy with what we have; not interested; "
            "doesn't fit; no use for"
        ),
        (
            "brauchen wir nicht; kein Bedarf; keinen Bedarf; kein Interesse; sind zufrieden; nicht "
            "interessiert"
        ),
        CUSTOMER,
    ),
    _spec(
        "objection.competitor",
        "objection",
        (
            "already using; already use; we went with; other vendor; another vendor; another "
            "provider; signed with; locked into a contract; quoted us; already gives us; for less"
        ),
        (
            "nutzen bereits; schon einen Anbieter; anderen Anbieter; anderer Anbieter; haben uns "
            "für * entschieden; nutzen im Moment; nutzen derzeit"
        ),
        CUSTOMER,
    ),
    _spec(
        "buying-signal",
        "buying-signal",
        (
            "how soon can; what are the next steps; next steps; send me the contract; send over "
            "the contract; sign; pricing for; when can we start; how do we get started; free "
            "trial; implementation timeline; purchase order; how many licenses; discount; get "
            "started; upgrade to; rollout; roll out; lock in the price; lock in the current price; "
            "renew; save us time; save my team"
        ),
        (
            "Vertrag; wann können wir starten; wann können wir anfangen; nächsten Schritte; "
            "unterschreiben; Angebot schicken; Testversion; Bestellung; Lizenzen; Rabatt; was "
            "würde das kosten; was kostet das; Plätze"
        ),
        None,
    ),
)


# --- results ---------------------------------------------------------------------------


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


MATCHES = ("exact", "variant", "loose", "phonetic")


@dataclass(frozen=True)
class TrackerHit:
    """One place a tracker's phrase was said.

    `match` says how: "exact" (word for word), "variant" (an inflection), "loose" (a word
    more between) or "phonetic" (a competitor name heard as other words; `heard` holds
    those words, folded).
    """

    tracker: str
    kind: str
    phrase: str
    time: float  # start of the first matched word, seconds from the recording start
    speaker: str
    role: str
    confidence: float
    utterances: tuple[int, ...]
    match: str = "exact"
    heard: str | None = None

    @property
    def utterance(self) -> int:
        return self.utterances[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker,
            "kind": self.kind,
            "phrase": self.phrase,
            "time": _r(self.time),
            "speaker": self.speaker,
            "role": self.role,
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
            "match": self.match,
            "heard": self.heard,
        }


@dataclass(frozen=True)
class ComplianceHit:
    """One place a prohibited phrase was said."""

    phrase: str
    time: float
    speaker: str
    role: str
    confidence: float
    utterances: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "phrase": self.phrase,
            "time": _r(self.time),
            "speaker": self.speaker,
            "role": self.role,
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True)
class ComplianceCheck:
    """The outcome of one compliance check ("disclosure" or "prohibited").

    For "disclosure", `time` and `utterances` say where the disclosure was found (also
    when it came too late); `reason` says why a failed check failed.
    """

    name: str
    passed: bool
    time: float | None
    reason: str | None
    confidence: float
    utterances: tuple[int, ...]
    hits: tuple[ComplianceHit, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "time": _r(self.time),
            "reason": self.reason,
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
            "hits": [hit.to_json() for hit in self.hits],
        }


@dataclass(frozen=True)
class ComplianceResult:
    checks: tuple[ComplianceCheck, ...]
    stamp: StageStamp

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def check(self, name: str) -> ComplianceCheck:
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checks": [check.to_json() for check in self.checks],
            "stamp": self.stamp.to_json(),
        }


@dataclass(frozen=True)
class TrackersResult:
    hits: tuple[TrackerHit, ...]
    compliance: ComplianceResult | None
    stamp: StageStamp

    def counts(self) -> dict[str, int]:
        """Hits per tracker name."""
        out: dict[str, int] = {}
        for hit in self.hits:
            out[hit.tracker] = out.get(hit.tracker, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "hits": [hit.to_json() for hit in self.hits],
            "counts": dict(sorted(self.counts().items())),
            "compliance": None if self.compliance is None else self.compliance.to_json(),
            "stamp": self.stamp.to_json(),
        }


# --- parameters ------------------------------------------------------------------------

DEFAULT_DISCLOSURE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # A recording word near the thing recorded (the call, the conversation, calls to
        # a line), with room for "may be", "will be", "is being" and the like between.
        "en": (
            "this call is being recorded",
            "this call may be recorded",
            "call is recorded",
            "call * * * recorded",
            "calls * * * recorded",
            "conversation * * * recorded",
            "line * * recorded",
            "recorded for quality",
            "recorded for training",
            "recorded * * * monitored",
            "recording this call",
            "recording this conversation",
        ),
        "de": (
            "dieses Gespräch wird aufgezeichnet",
            # "... wird zu Qualitäts- und Schulungszwecken aufgezeichnet": words between
            "Gespräch * * * * aufgezeichnet",
            "Gespräche * * * * aufgezeichnet",
            "Telefonat * * * * aufgezeichnet",
            "Telefonate * * * * aufgezeichnet",
            "Anruf * * * * aufgezeichnet",
            "Anrufe * * * * aufgezeichnet",
            "Gespräch aufzeichnen",
            "Aufzeichnung",
            "Gespräch wird mitgeschnitten",
        ),
    }
)

DEFAULT_PROHIBITED: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "en": ("guarantee", "guaranteed returns", "risk-free", "no risk"),
        "de": ("garantiert", "ohne Risiko"),
    }
)


@dataclass(frozen=True)
class ComplianceParams:
    disclosure_phrases: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: DEFAULT_DISCLOSURE
    )
    disclosure_within_s: float = 30.0
    prohibited_phrases: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: DEFAULT_PROHIBITED
    )

    def validate(self) -> None:
        if self.disclosure_within_s <= 0:
            raise ConfigError("compliance: disclosure_within_s must be more than 0 seconds")
        if not any(self.disclosure_phrases.values()):
            raise ConfigError("compliance: no disclosure phrases; give at least one")

    @property
    def stamp(self) -> StageStamp:
        return StageStamp(
            COMPLIANCE_STAGE,
            COMPLIANCE_VERSION,
            {
                "disclosure_phrases": {
                    k: list(v) for k, v in sorted(self.disclosure_phrases.items())
                },
                "disclosure_within_s": self.disclosure_within_s,
                "prohibited_phrases": {
                    k: list(v) for k, v in sorted(self.prohibited_phrases.items())
                },
            },
        )


@dataclass(frozen=True)
class TrackerParams:
    """`trackers` are user-defined trackers run beside the built-in ones (`builtin`);
    `competitors` are names matched as whole words, and by sound when `phonetic`
    (`_phonetic`); `compliance` None skips the checks."""

    trackers: tuple[TrackerSpec, ...] = ()
    competitors: tuple[str, ...] = ()
    builtin: bool = True
    compliance: ComplianceParams | None = field(default_factory=ComplianceParams)
    phonetic: bool = True

    def validate(self) -> None:
        names: set[str] = set()
        for spec in self.all_trackers():
            spec.validate()
            if spec.name in names:
                raise ConfigError(f"tracker {spec.name!r} is defined twice: rename one")
            names.add(spec.name)
        for name in self.competitors:
            if not words_of(name):
                raise ConfigError("competitors: a competitor name is empty")
        if self.compliance is not None:
            self.compliance.validate()

    def all_trackers(self) -> tuple[TrackerSpec, ...]:
        specs = BUILTIN_TRACKERS if self.builtin else ()
        if self.competitors:
            names = tuple(self.competitors)
            specs += (TrackerSpec("competitor", "competitor", MappingProxyType({"*": names})),)
        return specs + self.trackers

    @property
    def stamp(self) -> StageStamp:
        return StageStamp(
            STAGE,
            VERSION,
            {
                "builtin": self.builtin,
                "competitors": list(self.competitors),
                "phonetic": self.phonetic,
                "trackers": [spec.to_json() for spec in self.trackers],
                "compliance": None if self.compliance is None else self.compliance.stamp.params,
            },
        )


# --- running ---------------------------------------------------------------------------


def _roles_known(facts: CallFacts, role: str) -> bool:
    return role in facts.roles.values()


def _matches(
    patterns: Sequence[tuple[str, tuple[str, ...]]],
    tokens: Sequence[Token],
    *,
    exact_only: bool = False,
) -> list[tuple[str, int, float]]:
    """(phrase, first token, confidence) of the phrases found in one utterance.

    Overlapping matches count once: the exact one first, then the longer one, then the
    earlier one ("what are the next steps" hides "next steps" inside it).
    """
    found: list[tuple[float, int, int, str]] = []
    present = {token.text for token in tokens}
    for phrase, pattern in patterns:
        if not pattern or not all(w == WILDCARD or _may_occur(w, present) for w in pattern):
            continue  # a quick test: some word of the phrase is not said at all
        matched = False
        for at in range(len(tokens)):
            confidence = match_at(pattern, tokens, at)
            if confidence and (confidence == EXACT or not exact_only):
                found.append((confidence, len(pattern), at, phrase))
                matched = True
        content = [w for w in pattern if w not in STOPWORDS and w != WILDCARD]
        if not matched and not exact_only and len(content) >= 2:
            # Said with a word more between ("we just don't need"), as `fuzzy_find`
            # allows; a phrase of one content word never matches loosely.
            located = fuzzy_find(pattern, tokens)
            if located is not None:
                found.append((LOOSE, len(pattern), located[0], phrase))
    found.sort(key=lambda f: (-f[0], -f[1], f[2]))
    taken: set[int] = set()
    out: list[tuple[str, int, float]] = []
    for confidence, length, at, phrase in found:
        span = set(range(at, at + length))
        if span & taken:
            continue
        taken |= span
        out.append((phrase, at, confidence))
    return sorted(out, key=lambda m: m[1])


def _find_hits(
    spec: TrackerSpec, transcript: Transcript, facts: CallFacts, tokens: list[list[Token]]
) -> list[tuple[TrackerHit, int, int]]:
    """The tracker's hits, each with its first and past-the-last token index."""
    language = transcript.language or facts.language
    # Competitor names are language-free ("*"); other trackers use the call's language.
    patterns = _phrases_for(spec.phrases, None if "*" in spec.phrases else language)
    role = spec.speaker_role
    bound = role is not None and _roles_known(facts, role)
    factor = UNKNOWN_ROLE_FACTOR if role is not None and not bound else 1.0
    hits: list[tuple[TrackerHit, int, int]] = []
    for index, utterance in enumerate(transcript.utterances):
        speaker_role = facts.role_of(utterance.speaker)
        if bound and speaker_role != role:
            continue
        # A name does not inflect: "Acmes" is not "Acme".
        exact_only = spec.kind == "competitor"
        for phrase, at, confidence in _matches(patterns, tokens[index], exact_only=exact_only):
            end = at + len(words_of(phrase))
            match = (
                "exact" if confidence == EXACT else "variant" if confidence == VARIANT else "loose"
            )
            hit = TrackerHit(
                tracker=spec.name,
                kind=spec.kind,
                phrase=phrase,
                time=tokens[index][at].start,
                speaker=utterance.speaker,
                role=speaker_role,
                confidence=confidence * factor,
                utterances=(index,),
                match=match,
            )
            hits.append((hit, at, end))
    return hits


def _phonetic_hits(
    params: TrackerParams,
    transcript: Transcript,
    facts: CallFacts,
    tokens: list[list[Token]],
    found: Sequence[tuple[TrackerHit, int, int]],
) -> list[tuple[TrackerHit, int, int]]:
    """Competitor names heard as other words (`_phonetic`), outside the exact hits of any
    competitor tracker; where runs overlap, the closest one (then the shorter, the
    earlier) wins."""
    unique: dict[tuple[str, ...], _phonetic.PhoneticName] = {}
    for competitor in params.competitors:
        prepared = _phonetic.PhoneticName.of(competitor, words_of(competitor))
        if prepared.usable:
            unique.setdefault(prepared.words, prepared)
    names = list(unique.values())
    if not names:
        return []
    language = transcript.language or facts.language
    taken = {
        (hit.utterances[0], i)
        for hit, at, end in found
        if hit.kind == "competitor"
        for i in range(at, end)
    }
    hits: list[tuple[TrackerHit, int, int]] = []
    for index, utterance in enumerate(transcript.utterances):
        words = [token.text for token in tokens[index]]
        candidates = [
            (score, length, at, name)
            for score, at, length, name in _phonetic.find(names, words, language)
            if not any((index, i) in taken for i in range(at, at + length))
        ]
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        used: set[int] = set()
        for score, length, at, name in candidates:
            span = set(range(at, at + length))
            if span & used:
                continue
            used |= span
            hit = TrackerHit(
                tracker="competitor",
                kind="competitor",
                phrase=name.name,
                time=tokens[index][at].start,
                speaker=utterance.speaker,
                role=facts.role_of(utterance.speaker),
                confidence=score,
                utterances=(index,),
                match="phonetic",
                heard=" ".join(words[at : at + length]),
            )
            hits.append((hit, at, at + length))
    return hits


def run(transcript: Transcript, facts: CallFacts, params: TrackerParams) -> TrackersResult:
    """Every tracker hit in time order, and the compliance checks unless turned off."""
    params.validate()
    tokens = [tokens_of(u) for u in transcript.utterances]
    found = [
        m for spec in params.all_trackers() for m in _find_hits(spec, transcript, facts, tokens)
    ]
    if params.phonetic and params.competitors:
        found += _phonetic_hits(params, transcript, facts, tokens, found)
    # "my boss has to sign off" is an objection, not the buying signal "sign".
    objections = {
        (hit.utterances[0], i)
        for hit, at, end in found
        if hit.kind == "objection"
        for i in range(at, end)
    }
    hits = [
        hit
        for hit, at, end in found
        if hit.kind != "buying-signal"
        or not any((hit.utterances[0], i) in objections for i in range(at, end))
    ]
    hits.sort(key=lambda h: (h.time, h.utterances, h.tracker))
    compliance = (
        None
        if params.compliance is None
        else _compliance(transcript, facts, params.compliance, tokens)
    )
    return TrackersResult(hits=tuple(hits), compliance=compliance, stamp=params.stamp)


def check_compliance(
    transcript: Transcript, facts: CallFacts, params: ComplianceParams
) -> ComplianceResult:
    """The "disclosure" and "prohibited" checks alone (stamp "compliance")."""
    params.validate()
    return _compliance(transcript, facts, params, [tokens_of(u) for u in transcript.utterances])


def _compliance(
    transcript: Transcript,
    facts: CallFacts,
    params: ComplianceParams,
    tokens: list[list[Token]],
) -> ComplianceResult:
    language = transcript.language or facts.language
    agent_known = _roles_known(facts, AGENT)
    return ComplianceResult(
        checks=(
            _disclosure(transcript, facts, params, tokens, language, agent_known),
            _prohibited(transcript, facts, params, tokens, language, agent_known),
        ),
        stamp=params.stamp,
    )


def _disclosure(
    transcript: Transcript,
    facts: CallFacts,
    params: ComplianceParams,
    tokens: list[list[Token]],
    language: str | None,
    agent_known: bool,
) -> ComplianceCheck:
    patterns = _phrases_for(params.disclosure_phrases, language)
    first: tuple[float, int, float] | None = None  # time, utterance, match confidence
    for index, utterance in enumerate(transcript.utterances):
        if agent_known and facts.role_of(utterance.speaker) != AGENT:
            continue
        for _, pattern in patterns:
            found = fuzzy_find(pattern, tokens[index])
            if found is None:
                continue
            time = tokens[index][found[0]].start
            if first is None or time < first[0]:
                first = (time, index, found[1])
    limit = params.disclosure_within_s
    note = "" if agent_known else " (no agent known: any speaker counted)"
    if first is None:
        return ComplianceCheck(
            "disclosure", False, None, "not said" + note, 0.8 if agent_known else 0.5, ()
        )
    time, index, match = first
    confidence = (1.0 if match == EXACT else 0.9) if agent_known else 0.5
    reason: str | None
    if time > limit:
        reason = f"said at {time:.1f} s, after {limit:g} s" + note
        return ComplianceCheck("disclosure", False, time, reason, confidence, (index,))
    reason = None if agent_known else note.strip(" ()")
    return ComplianceCheck("disclosure", True, time, reason, confidence, (index,))


def _prohibited(
    transcript: Transcript,
    facts: CallFacts,
    params: ComplianceParams,
    tokens: list[list[Token]],
    language: str | None,
    agent_known: bool,
) -> ComplianceCheck:
    spec = TrackerSpec("prohibited", "custom", params.prohibited_phrases, AGENT)
    patterns = _phrases_for(spec.phrases, language)
    found: list[ComplianceHit] = []
    for index, utterance in enumerate(transcript.utterances):
        role = facts.role_of(utterance.speaker)
        if agent_known and role != AGENT:
            continue
        for phrase, at, confidence in _matches(patterns, tokens[index]):
            found.append(
                ComplianceHit(
                    phrase=phrase,
                    time=tokens[index][at].start,
                    speaker=utterance.speaker,
                    role=role,
                    confidence=confidence if agent_known else 0.5,
                    utterances=(index,),
                )
            )
    hits = tuple(found)
    note = None if agent_known else "no agent known: any speaker counted"
    utterances = tuple(sorted({hit.utterances[0] for hit in hits}))
    return ComplianceCheck(
        "prohibited",
        passed=not hits,
        time=hits[0].time if hits else None,
        reason=(f"{len(hits)} prohibited phrase(s) said" if hits else note),
        confidence=(min(h.confidence for h in hits) if hits else (0.9 if agent_known else 0.5)),
        utterances=utterances,
        hits=hits,
    )
