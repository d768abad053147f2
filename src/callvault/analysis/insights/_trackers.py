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

Code: folding and phrase matching are in `_matching`, the compliance checks in
`_compliance`; this module holds the trackers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from callvault.analysis._data import read_words
from callvault.analysis._records import Transcript
from callvault.analysis.insights import _phonetic
from callvault.analysis.insights._compliance import (
    COMPLIANCE_STAGE,
    DEFAULT_DISCLOSURE,
    DEFAULT_PROHIBITED,
    ComplianceCheck,
    ComplianceHit,
    ComplianceParams,
    ComplianceResult,
    check_compliance,
    run_compliance,
)
from callvault.analysis.insights._matching import (
    EXACT,
    STOPWORDS,
    VARIANT,
    WILDCARD,
    Token,
    fold,
    fuzzy_find,
    match_at,
    matches,
    phrases_for,
    roles_known,
    rounded,
    tokens_of,
    variants,
    words_of,
)
from callvault.analysis.insights._records import CallFacts, StageStamp
from callvault.errors import ConfigError

__all__ = [
    "BUILTIN_TRACKERS",
    "COMPLIANCE_STAGE",
    "DEFAULT_DISCLOSURE",
    "DEFAULT_PROHIBITED",
    "KINDS",
    "MATCHES",
    "STAGE",
    "STOPWORDS",
    "ComplianceCheck",
    "ComplianceHit",
    "ComplianceParams",
    "ComplianceResult",
    "Token",
    "TrackerHit",
    "TrackerParams",
    "TrackerSpec",
    "TrackersResult",
    "check_compliance",
    "fold",
    "fuzzy_find",
    "match_at",
    "run",
    "tokens_of",
    "tracker_from_config",
    "variants",
    "words_of",
]

STAGE = "trackers"
# 2: German disclosures with words between; 3: loose tracker phrases; 4: competitor names
# heard by sound (_phonetic), and every hit says how it matched
VERSION = "4"

KINDS = ("objection", "buying-signal", "competitor", "custom")
UNKNOWN_ROLE_FACTOR = 0.7  # a role-bound tracker run on a call whose roles are unknown

_r = rounded


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


def _builtin(raw: Mapping[str, Any]) -> TrackerSpec:
    """A built-in tracker from data/trackers.toml ("" as its role: anyone's speech)."""
    phrases = {language: tuple(items) for language, items in raw["phrases"].items()}
    role = raw["speaker_role"] or None
    return TrackerSpec(raw["name"], raw["kind"], MappingProxyType(phrases), role)


# The built-in trackers, in the order of data/trackers.toml.
BUILTIN_TRACKERS: tuple[TrackerSpec, ...] = tuple(
    _builtin(raw) for raw in read_words("callvault.analysis.insights", "trackers.toml")["trackers"]
)


# --- results ---------------------------------------------------------------------------


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


def _find_hits(
    spec: TrackerSpec, transcript: Transcript, facts: CallFacts, tokens: list[list[Token]]
) -> list[tuple[TrackerHit, int, int]]:
    """The tracker's hits, each with its first and past-the-last token index."""
    language = transcript.language or facts.language
    # Competitor names are language-free ("*"); other trackers use the call's language.
    patterns = phrases_for(spec.phrases, None if "*" in spec.phrases else language)
    role = spec.speaker_role
    bound = role is not None and roles_known(facts, role)
    factor = UNKNOWN_ROLE_FACTOR if role is not None and not bound else 1.0
    hits: list[tuple[TrackerHit, int, int]] = []
    for index, utterance in enumerate(transcript.utterances):
        speaker_role = facts.role_of(utterance.speaker)
        if bound and speaker_role != role:
            continue
        # A name does not inflect: "Acmes" is not "Acme".
        exact_only = spec.kind == "competitor"
        for phrase, at, confidence in matches(patterns, tokens[index], exact_only=exact_only):
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
        else run_compliance(transcript, facts, params.compliance, tokens)
    )
    return TrackersResult(hits=tuple(hits), compliance=compliance, stamp=params.stamp)
