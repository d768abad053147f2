"""Follow-up action items: who promised or was asked to do what, and by when.

Method (rules, English and German). Each utterance is split into sentences; in each,
patterns find

- commitments by the speaker: "I'll / I will / we'll / I'm going to / I promise to" + verb,
  "I'll be sending", "I can / I need to / let me" + a follow-up verb (send, check, get back,
  ...), "I'd be happy to" + verb; German "ich werde / wir werden ...", "ich schicke / sende /
  melde mich / kümmere mich ...", "wir melden uns ...", "das schicke ich ...";
- requests to the other party: "can / could / would / will you" + verb, "please" + verb,
  "I need you to", "don't forget to", "would you mind sending"; German "könnten / können /
  würden Sie ...", "schicken Sie mir ...".

Verbs that do not make an action are left out (precision): "I'll be honest", "I will say",
"I'll tell you what", "we'll see", "I'll admit", "could you hear me", "please hold", and
negations ("I won't", "I will not").

An item's text is the clause from its verb to the end of the sentence (or to the next
item in the same sentence), trimmed, first letter capitalised, redaction placeholders
kept. Its owner is the committing speaker's role ("agent", "customer", ...) or label; for
a request it is the other speaker of a two-party call (none otherwise, at a lower
confidence). The due date comes from `resolve_due` on the clause (else on the words before
the cue), against the call's start time; with no start time only `due_text` is set.

Limits. No parsing: a commitment split over two sentences by the recogniser, or said
without "I"/"we" ("Will do!"), is missed; a request answered with "no" is still an item;
German verb-final clauses are quoted as said ("Das Angebot schicken").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callvault.analysis._data import read_words
from callvault.analysis._records import Transcript
from callvault.analysis.insights._dates import resolve_due
from callvault.analysis.insights._records import CallFacts, StageStamp
from callvault.analysis.insights._summary import sentences_of
from callvault.errors import ConfigError

__all__ = ["STAGE", "ActionItem", "ActionParams", "ActionsResult", "owner_label", "run"]

STAGE = "actions"
VERSION = "1"

_VERBS = read_words("callvault.analysis.insights", "actions.toml")["verbs"]
# Verbs that say something will happen after the call; "can", "need to" and "let me"
# only make an item with one of these ("I can see that" is not a promise).
FOLLOW_UP_VERBS = frozenset(_VERBS["follow_up"])
# Verbs after "I'll"/"we'll" that are ways of speaking, not actions.
NON_COMMITMENT_VERBS = frozenset(_VERBS["non_commitment"])
_TELL_IDIOM = re.compile(
    r"^tell\s+you\s+(?:what|the\s+truth|honestly|frankly|this|that|something|a\s+secret)\b",
    re.IGNORECASE,
)
# Ways of speaking and of saying goodbye: "I'll put it this way", "I'll let you go",
# "we'll talk soon", "I'll talk to you later".
_IDIOMS = re.compile(
    r"^(?:put\s+it\s+(?:this|that|another)\s+way|let\s+you\s+go|"
    r"(?:talk|speak)\s+(?:to\s+you\s+|with\s+you\s+)?(?:soon|later|then)|"
    r"do\s+is|have\s+to\s+say)\b",
    re.IGNORECASE,
)
# "What can you do on price?", "What I'll do is ...": questions and set-ups, not items.
_WH_BEFORE = re.compile(r"\b(?:what|how|where|when|why|which|who|whether|if)\s+$", re.IGNORECASE)
REQUEST_NON_VERBS = frozenset(_VERBS["request_non"])
_DE_NON = re.compile(
    r"\b(?:ehrlich\s+sein|sagen|hören|hoeren|verstehen|wiederholen|sehen|erklären|erklaeren)"
    r"\s*[.!?]*\s*$",
    re.IGNORECASE,
)
_LEADING_FILLERS = re.compile(
    r"^(?:(?:also|just|definitely|certainly|then|quickly|personally|absolutely|happily|"
    r"go\s+ahead\s+and|make\s+sure\s+(?:to|I|we)|try\s+and|bitte|mir|uns|auch|noch|"
    r"dann|gerne|gern)\s+)+",
    re.IGNORECASE,
)
_TRAILING = re.compile(r"(?:[\s,;:.!?\-–]|\b(?:and|but|so|und|aber|oder|or)\b)+$", re.IGNORECASE)

_I = r"\b(?:I|we)"
_STRONG = (
    r"(?:'ll|\s+will|\s+shall|'m\s+going\s+to|\s+am\s+going\s+to|'re\s+going\s+to|"
    r"\s+are\s+going\s+to|'m\s+gonna|\s+am\s+gonna|'re\s+gonna|\s+are\s+gonna|"
    r"\s+promise\s+to|'d\s+be\s+happy\s+to|\s+would\s+be\s+happy\s+to|'ll\s+be\s+happy\s+to|"
    r"\s+will\s+be\s+happy\s+to|'ll\s+make\s+sure\s+to|\s+will\s+make\s+sure\s+to)"
)
_WEAK = r"(?:\s+can|\s+could|\s+need\s+to|\s+have\s+to|'ve\s+got\s+to|\s+should)"

_DE_COMMIT_VERBS = (
    r"schicke|sende|schreibe|rufe|melde|kümmere|kuemmere|prüfe|pruefe|kläre|klaere|leite|"
    r"bereite|organisiere|buche|frage|erstelle|gebe|reiche|besorge|maile|schaue|schau|"
    r"lasse|bespreche|spreche|informiere|stelle|kontaktiere|übernehme|uebernehme"
)
_DE_COMMIT_PLURAL = (
    r"schicken|senden|melden|rufen|kümmern|kuemmern|prüfen|pruefen|klären|klaeren|bereiten|"
    r"organisieren|erstellen|geben|leiten|schauen|besorgen|lassen|besprechen|informieren|"
    r"kontaktieren|übernehmen|uebernehmen"
)


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    kind: str  # "commitment" or "request"
    strong: bool  # any verb (minus the non-commitment ones) vs a follow-up verb only
    language: str


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# Each pattern's named group "rest" starts where the item's text starts.
_RULES: tuple[_Rule, ...] = (
    _Rule(_rx(_I + _STRONG + r"\s+(?P<rest>\w.*)"), "commitment", True, "en"),
    _Rule(_rx(_I + _WEAK + r"\s+(?P<rest>\w.*)"), "commitment", False, "en"),
    _Rule(_rx(r"\blet\s+(?:me|us)\s+(?P<rest>\w.*)"), "commitment", False, "en"),
    _Rule(
        _rx(r"\b(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:mind\s+)?(?P<rest>\w.*)"),
        "request",
        True,
        "en",
    ),
    _Rule(
        _rx(
            r"\b(?:please|I\s+need\s+you\s+to|don'?t\s+forget\s+to|make\s+sure\s+you)\s+"
            r"(?P<rest>\w.*)"
        ),
        "request",
        True,
        "en",
    ),
    _Rule(
        _rx(r"\b(?:ich|wir)\s+(?:werde|werden)\s+(?P<rest>\w.*)"),
        "commitment",
        True,
        "de",
    ),
    _Rule(
        _rx(
            rf"\bich\s+(?:(?:dann|gleich|gerne|gern|noch)\s+)?(?P<rest>(?:{_DE_COMMIT_VERBS})\b.*)"
        ),
        "commitment",
        True,
        "de",
    ),
    _Rule(
        _rx(
            rf"\bwir\s+(?:(?:dann|gleich|gerne|gern|noch)\s+)?(?P<rest>(?:{_DE_COMMIT_PLURAL})\b.*)"
        ),
        "commitment",
        True,
        "de",
    ),
    _Rule(
        _rx(rf"^(?P<rest>\w+\s+(?:{_DE_COMMIT_VERBS})\s+ich\b.*)"),
        "commitment",
        True,
        "de",
    ),
    _Rule(
        _rx(r"\blassen\s+Sie\s+(?:mich|uns)\s+(?P<rest>\w.*)"),
        "commitment",
        True,
        "de",
    ),
    _Rule(
        _rx(r"\b(?:könnten|koennten|können|koennen|würden|wuerden)\s+Sie\s+(?P<rest>\w.*)"),
        "request",
        True,
        "de",
    ),
    _Rule(
        _rx(r"\b(?P<rest>(?:schicken|senden|mailen|geben|leiten|schreiben)\s+Sie\b.*)"),
        "request",
        True,
        "de",
    ),
)


@dataclass(frozen=True)
class ActionItem:
    """A follow-up someone owns. `due` is aware, or None when no due phrase was said or
    the call's start time is unknown (then `due_text` still says what was said)."""

    owner: str | None
    text: str
    due: datetime | None
    due_text: str | None
    kind: str  # "commitment", "request", or "llm" (from an LLM, which does not say)
    speaker: str
    confidence: float
    utterances: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "text": self.text,
            "due": None if self.due is None else self.due.isoformat(),
            "due_text": self.due_text,
            "kind": self.kind,
            "speaker": self.speaker,
            "confidence": round(self.confidence, 3),
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True)
class ActionsResult:
    method: str
    items: tuple[ActionItem, ...]
    stamp: StageStamp

    @property
    def utterances(self) -> tuple[int, ...]:
        return tuple(sorted({i for item in self.items for i in item.utterances}))

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "items": [item.to_json() for item in self.items],
            "utterances": list(self.utterances),
            "stamp": self.stamp.to_json(),
        }


@dataclass(frozen=True)
class ActionParams:
    """`requests`: also list what one party asked the other to do."""

    requests: bool = True
    min_confidence: float = 0.0

    def validate(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError("actions: min_confidence must be between 0 and 1")

    @property
    def stamp(self) -> StageStamp:
        return StageStamp(
            STAGE,
            VERSION,
            {"method": "rules", "requests": self.requests, "min_confidence": self.min_confidence},
        )


def owner_label(facts: CallFacts, speaker: str) -> str:
    """A speaker's role when the facts know one, else the speaker label."""
    role = facts.role_of(speaker)
    return speaker if role == "speaker" else role


def _first_word(rest: str) -> str:
    match = re.match(r"[\w'-]+", rest)
    return match.group(0).casefold() if match else ""


def _accept(rule: _Rule, rest: str) -> tuple[bool, str]:
    """Whether the words after the cue make an action, and where the item text starts."""
    rest = _LEADING_FILLERS.sub("", rest)
    verb = _first_word(rest)
    if rule.language == "de":
        return (not _DE_NON.search(rest.split(",")[0]) and bool(verb)), rest
    if rule.kind == "request":
        if verb.endswith("ing"):  # "would you mind sending"
            return True, rest
        return verb not in REQUEST_NON_VERBS and verb not in ("not", "like", "know"), rest
    if verb == "be":
        after = rest.split()[1:2]
        if after and after[0].casefold().endswith("ing"):
            return True, rest.split(None, 1)[1]  # "I'll be sending you" -> "Sending you"
        if re.match(r"be\s+in\s+touch\b", rest, re.IGNORECASE):
            return True, rest
        return False, rest
    if _TELL_IDIOM.match(rest) or _IDIOMS.match(rest):
        return False, rest
    if verb in NON_COMMITMENT_VERBS or verb in ("know", "it", "you", "this", "that"):
        return False, rest
    if not rule.strong and verb not in FOLLOW_UP_VERBS:
        return False, rest
    return bool(verb), rest


def _clean(text: str) -> str:
    text = _TRAILING.sub("", text.strip())
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    return text


def _language_key(transcript: Transcript, facts: CallFacts) -> str:
    language = transcript.language or facts.language or ""
    return language.split("-")[0].split("_")[0].casefold()


def run(transcript: Transcript, facts: CallFacts, params: ActionParams) -> ActionsResult:
    """Commitments and requests in time order (see the module doc)."""
    params.validate()
    language = _language_key(transcript, facts)
    rules = [r for r in _RULES if language not in ("en", "de") or r.language == language]
    speakers = sorted({u.speaker for u in transcript.utterances})
    items: list[ActionItem] = []
    for index, utterance in enumerate(transcript.utterances):
        for sentence in sentences_of(utterance.text.replace("’", "'").replace("`", "'")):
            found: list[tuple[int, int, _Rule, str]] = []  # cue start, text start, rule
            for rule in rules:
                if rule.kind == "request" and not params.requests:
                    continue
                # Patterns run to the end of the sentence, so search again after each
                # cue: "I'll send it and we'll call you" holds two items.
                position = 0
                while (match := rule.pattern.search(sentence, position)) is not None:
                    position = match.start() + 1
                    if rule.language == "en" and _WH_BEFORE.search(sentence[: match.start()]):
                        continue
                    ok, rest = _accept(rule, match.group("rest"))
                    if ok:
                        text_start = match.start("rest") + (len(match.group("rest")) - len(rest))
                        found.append((match.start(), text_start, rule, rest))
            found.sort(key=lambda f: (f[0], f[1]))
            kept: list[tuple[int, int, _Rule, str]] = []
            for item in found:
                if kept and item[1] <= kept[-1][1]:
                    continue  # two cues for one verb ("I'll make sure to", "let me")
                if kept and item[0] < kept[-1][1]:
                    continue  # cues that overlap ("I'll make sure to" and "I will")
                kept.append(item)
            for n, (cue, text_start, rule, _rest) in enumerate(kept):
                end = kept[n + 1][0] if n + 1 < len(kept) else len(sentence)
                text = _clean(sentence[text_start:end])
                if not text:
                    continue
                # A due phrase before the first cue ("Tomorrow I'll send it") is its own.
                before = sentence[:cue] if n == 0 else ""
                items.append(
                    _item(rule, text, before, index, utterance.speaker, facts, speakers, language)
                )
    items = [i for i in items if i.confidence >= params.min_confidence]
    return ActionsResult("rules", tuple(items), params.stamp)


def _item(
    rule: _Rule,
    text: str,
    before: str,
    index: int,
    speaker: str,
    facts: CallFacts,
    speakers: Sequence[str],
    language: str,
) -> ActionItem:
    verb = _first_word(text)
    if rule.kind == "commitment":
        owner: str | None = owner_label(facts, speaker)
        confidence = 0.85 if rule.strong else 0.75
        if verb in FOLLOW_UP_VERBS:
            confidence += 0.05
    else:
        others = [s for s in speakers if s != speaker]
        owner = owner_label(facts, others[0]) if len(speakers) == 2 else None
        confidence = 0.75 if owner is not None else 0.5
    due, due_text = resolve_due(text, facts.started_at, language)
    if due_text is None and before:
        due, due_text = resolve_due(before, facts.started_at, language)
    return ActionItem(
        owner=owner,
        text=text,
        due=due,
        due_text=due_text,
        kind=rule.kind,
        speaker=speaker,
        confidence=confidence,
        utterances=(index,),
    )
