"""Answers to a question about the calls, quoting the utterances that answer it (issue 22).

Method (extractive; every part is a number one can print and check):

- Candidates are the retrieved hits (`Retrieved`: a hybrid search hit, the utterance's
  text and its neighbouring utterances in the same call). A hit's neighbours are
  candidates too: the answer to "what amount was transferred" is often the reply to
  the utterance the search found ("what is the transfer amount" / "the amount is ...").
- Each candidate scores ``0.4 * retrieval + 0.3 * overlap + 0.3 * cue``, halved when
  the utterance itself asks something (`is_asking`: "what is the transfer amount"):
  *retrieval* is the hit's fused rank score (`HybridHit.confidence`, 0..1), halved for a
  neighbour and divided by its distance from the hit; *overlap* is the share of the
  question's content words (stop words dropped, plural/-ed/-ing stripped) that the
  utterance contains; *cue* is 1 when the utterance has what the question type asks
  for: a number or an amount for "how much/how many/what amount/balance", a number,
  a day or a month for "when/what time/what date", a name ("my name is", "this is",
  a capitalised word) for "who", a reason ("because", "since", "due to") for "why".
- A hit is relevant when it shares a content word with the question, the full-text
  search found it, or its cosine is at least `MIN_COSINE` (e5 cosines of unrelated
  sentences sit near 0.70 to 0.80, see ``_semantic.py``); only relevant hits and
  their neighbours are quoted. No relevant hit: the answer says nothing was found and
  quotes nothing. Nothing is made up: the answer text is the best quote.
- The best `quotes` candidates are kept, near duplicates dropped (Jaccard similarity
  of their word sets at least `DUPLICATE_JACCARD`: "my debit card" twice) and at most
  `per_call` from one call.

`llm_answer` asks an OpenAI-compatible server (``/v1/chat/completions``) to word the
answer from the quotes alone, numbered [1]..[n]; the citations it gives are kept only
where they name a given quote, and an answer citing none, an error or a timeout falls
back to the extractive answer, saying so in ``note``. The server receives the question
and the quoted texts (what the asker may read), nothing else.

Nothing here logs a question or an utterance.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import httpx

from callvault.errors import InputError

__all__ = [
    "DUPLICATE_JACCARD",
    "MIN_COSINE",
    "NOTHING_FOUND",
    "Answer",
    "Quote",
    "Retrieved",
    "compose_answer",
    "content_words",
    "extractive_text",
    "is_asking",
    "llm_answer",
    "llm_prompt",
    "nothing_found",
    "question_cue",
]

logger = logging.getLogger("callvault.search")

MIN_COSINE = 0.83
DUPLICATE_JACCARD = 0.8
NOTHING_FOUND = "Nothing found: no call you may read says anything that answers this question."
_MAX_QUESTION_CHARS = 1000
_W_RETRIEVAL, _W_OVERLAP, _W_CUE = 0.4, 0.3, 0.3
_NEIGHBOUR = 0.5
# An utterance that asks something restates the question rather than answering it.
_ASKING = 0.5

Method = Literal["extractive", "llm"]


@dataclass(frozen=True, slots=True)
class Quote:
    """An utterance quoted in an answer: where it is (call, index in the transcript,
    seconds from the start) and what was said. ``score``: its rank score (0..1)."""

    call_id: str
    utterance: int
    speaker: str
    role: str | None
    start: float
    end: float
    text: str
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "utterance": self.utterance,
            "speaker": self.speaker,
            "role": self.role,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "score": round(self.score, 3),
        }


@dataclass(frozen=True, slots=True)
class Retrieved:
    """A retrieved utterance (``hit``) with its fused retrieval score (0..1), how it was
    found and its neighbouring utterances of the same call (``context``, any order)."""

    hit: Quote
    retrieval: float
    methods: tuple[str, ...] = ()
    cosine: float | None = None
    context: tuple[Quote, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to a question: its text, the quotes it rests on (cited [1]..[n] in
    that order), how it was made, a confidence (0..1) and a note (why the LLM was not
    used, say)."""

    text: str
    quotes: tuple[Quote, ...]
    method: Method
    confidence: float
    note: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.quotes)

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "method": self.method,
            "confidence": round(self.confidence, 3),
            "note": self.note,
            "quotes": [q.to_json() for q in self.quotes],
        }


# -- words ---------------------------------------------------------------------------

_STOP = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i
    if in into is it its me my no not of on or our she so that the their them then there
    these they this those to uh um us was we were what when where which who whom whose why
    will with would you your yes he his her hers him about any some did tell said say says
    customer caller agent call calls okay ok alright hi hello bye thank thanks yeah oh well
    please sure""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)
_NUMBER_WORDS = frozenset(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen
    fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty
    seventy eighty ninety hundred thousand million billion half dozen""".split()
)
_AMOUNT_WORDS = frozenset(
    "dollar dollars euro euros pound pounds cent cents percent bucks usd eur gbp".split()
)
_TIME_WORDS = frozenset(
    """today tomorrow yesterday monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    morning afternoon evening tonight week weeks month months year years day days oclock
    am pm hour hours minute minutes""".split()
)
_ASKS = frozenset(
    """what which who whom whose when where why how can could would will do does did is
    are shall should may""".split()
)
_FILLER = frozenset("uh um so and okay ok alright oh well sure right".split())
_REASON = re.compile(r"\b(because|since|due to|so that|the reason|as a result|reason)\b")
# Matched against the words joined by spaces: "I'm" is "i m" there.
_NAME = re.compile(r"\b(my name is|name s|this is|speaking|i am|i m)\b")
_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("amount", re.compile(r"\b(how much|how many|what amount|amount|balance|cost|price)\b")),
    ("time", re.compile(r"\b(when|what time|what date|which day|how long)\b")),
    ("name", re.compile(r"\b(who|whose|what name|name)\b")),
    ("reason", re.compile(r"\b(why|what reason|reason)\b")),
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]  # transferr(ed) -> transfer
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]  # replace, replac(ed), replac(ing) -> replac
    return word


# Transcribers' tags such as "[noise]" or "[laughter]" are not words anyone said.
_TAG = re.compile(r"\[[^\]]*\]")


def _words(text: str) -> list[str]:
    return _WORD.findall(_TAG.sub(" ", unicodedata.normalize("NFC", text).casefold()))


def content_words(text: str) -> frozenset[str]:
    """The stemmed words of ``text`` that carry meaning (stop words left out)."""
    return frozenset(_stem(w) for w in _words(text) if w not in _STOP)


def question_cue(question: str) -> str | None:
    """What kind of answer the question asks for: "amount", "time", "name", "reason",
    or None (the first that matches, in that order)."""
    lowered = " ".join(_words(question))
    for name, pattern in _CUES:
        if pattern.search(lowered):
            return name
    return None


def is_asking(text: str) -> bool:
    """Whether an utterance asks something: it ends with "?" or its first word (after
    fillers such as "uh", "okay") is a question word or an auxiliary ("can you ...")."""
    if text.rstrip().endswith("?"):
        return True
    words = _words(text)
    while words and words[0] in _FILLER:
        words.pop(0)
    return bool(words) and words[0] in _ASKS


def _has_cue(cue: str | None, text: str) -> bool:
    if cue is None:
        return False
    words = _words(text)
    numeric = any(w.isdigit() or w in _NUMBER_WORDS for w in words)
    if cue == "amount":
        return numeric or any(w in _AMOUNT_WORDS for w in words)
    if cue == "time":
        return numeric or any(w in _TIME_WORDS for w in words)
    if cue == "name":
        tail = re.findall(r"\w+", text)[1:]
        return bool(_NAME.search(" ".join(words))) or any(w[:1].isupper() for w in tail)
    return bool(_REASON.search(" ".join(words)))


# -- ranking -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scored:
    quote: Quote
    score: float
    words: frozenset[str]


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _relevant(item: Retrieved, asked: frozenset[str]) -> bool:
    if asked & content_words(item.hit.text):
        return True
    if "fts" in item.methods:
        return True
    return item.cosine is not None and item.cosine >= MIN_COSINE


def _candidates(
    retrieved: Iterable[Retrieved], asked: frozenset[str], cue: str | None
) -> list[_Scored]:
    best: dict[tuple[str, int], _Scored] = {}

    def consider(quote: Quote, retrieval: float) -> None:
        words = content_words(quote.text)
        overlap = len(asked & words) / len(asked) if asked else 0.0
        score = (
            _W_RETRIEVAL * min(1.0, max(0.0, retrieval))
            + _W_OVERLAP * overlap
            + _W_CUE * _has_cue(cue, quote.text)
        ) * (_ASKING if is_asking(quote.text) else 1.0)
        if not words:
            return  # "[noise]", "okay": nothing to quote
        key = (quote.call_id, quote.utterance)
        if key not in best or best[key].score < score:
            best[key] = _Scored(replace(quote, score=round(score, 6)), score, words)

    for item in retrieved:
        if not _relevant(item, asked):
            continue
        consider(item.hit, item.retrieval)
        for near in item.context:
            if near.call_id != item.hit.call_id or near.utterance == item.hit.utterance:
                continue
            distance = abs(near.utterance - item.hit.utterance)
            consider(near, item.retrieval * _NEIGHBOUR / distance)
    return sorted(best.values(), key=lambda s: (-s.score, s.quote.call_id, s.quote.utterance))


def _check_question(question: str) -> str:
    body = unicodedata.normalize("NFC", question).strip()
    if not body:
        raise InputError("the question is empty; ask it in a few words")
    if len(body) > _MAX_QUESTION_CHARS:
        raise InputError(
            f"the question is {len(body)} characters long; use at most {_MAX_QUESTION_CHARS}"
        )
    return body


def nothing_found(note: str | None = None) -> Answer:
    return Answer(NOTHING_FOUND, (), "extractive", 0.0, note)


def extractive_text(quotes: Sequence[Quote]) -> str:
    """The answer made of quotes: the best one in full, the others by number."""
    if not quotes:
        return NOTHING_FOUND
    text = f"«{quotes[0].text}» [1]"
    if len(quotes) > 1:
        text += " (see also " + ", ".join(f"[{n}]" for n in range(2, len(quotes) + 1)) + ")"
    return text


def compose_answer(
    question: str,
    retrieved: Sequence[Retrieved],
    *,
    quotes: int = 3,
    per_call: int = 2,
) -> Answer:
    """The extractive answer to ``question`` from ``retrieved`` (see the module's method).

    ``quotes``: at most this many quotes (1 to 20); ``per_call``: at most this many from
    one call (1 to ``quotes``).
    """
    asked_text = _check_question(question)
    if not 1 <= quotes <= 20:
        raise InputError(f"quotes must be between 1 and 20, not {quotes}")
    if not 1 <= per_call <= quotes:
        raise InputError(f"per_call must be between 1 and {quotes}, not {per_call}")
    asked = content_words(asked_text)
    ranked = _candidates(retrieved, asked, question_cue(asked_text))
    chosen: list[_Scored] = []
    per: dict[str, int] = {}
    for candidate in ranked:
        if len(chosen) == quotes:
            break
        if per.get(candidate.quote.call_id, 0) >= per_call:
            continue
        if any(_jaccard(candidate.words, c.words) >= DUPLICATE_JACCARD for c in chosen):
            continue
        chosen.append(candidate)
        per[candidate.quote.call_id] = per.get(candidate.quote.call_id, 0) + 1
    if not chosen:
        return nothing_found()
    picked = tuple(c.quote for c in chosen)
    return Answer(
        extractive_text(picked),
        picked,
        "extractive",
        round(min(1.0, chosen[0].score), 3),
    )


# -- the LLM -------------------------------------------------------------------------

_SYSTEM = (
    "You answer questions about recorded phone calls. Use only the numbered call "
    "excerpts given. Cite every excerpt you rely on by its number in square brackets, "
    "like [1]. If the excerpts do not answer the question, say that they do not. Be brief."
)
_CITATION = re.compile(r"\[(\d{1,3})\]")


def llm_prompt(question: str, quotes: Sequence[Quote]) -> list[dict[str, str]]:
    """The chat messages sent: the quotes numbered [1]..[n] (role and text only), then
    the question."""
    lines = [f"[{n}] ({q.role or 'speaker'}) {q.text}" for n, q in enumerate(quotes, start=1)]
    body = "Call excerpts:\n" + "\n".join(lines) + f"\n\nQuestion: {question}"
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": body}]


def _reply_text(document: Any) -> str:
    try:
        content = document["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("the reply has no choices[0].message.content") from None
    if not isinstance(content, str) or not content.strip():
        raise ValueError("the reply's content is empty")
    return content.strip()


def llm_answer(
    endpoint: str,
    question: str,
    extractive: Answer,
    *,
    model: str,
    api_key: str | None = None,
    timeout: float = 30.0,
) -> Answer:
    """The answer worded by the LLM at ``endpoint`` (an OpenAI-compatible base URL) from
    the quotes of ``extractive`` alone.

    Citations [k] that name no given quote are removed; the answer keeps the quotes it
    cites, renumbered [1].. in the order it first cites them. No quotes: ``extractive``
    as it is (the LLM is not asked). An error, a timeout, a reply not understood or an
    answer that cites no quote: ``extractive`` with a note saying why.
    """
    if not extractive.quotes:
        return extractive
    body = _check_question(question)
    url = endpoint.rstrip("/") + "/v1/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    request = {
        "model": model,
        "messages": llm_prompt(body, extractive.quotes),
        "temperature": 0,
    }
    try:
        response = httpx.post(url, json=request, headers=headers, timeout=timeout)
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        reply = _reply_text(response.json())
    except httpx.TimeoutException:
        return _fallback(extractive, f"LLM unavailable: no reply within {timeout:g} s")
    except httpx.HTTPError as exc:
        return _fallback(extractive, f"LLM unavailable: {type(exc).__name__}")
    except ValueError as exc:  # a bad status, not JSON, or no content
        return _fallback(extractive, f"LLM unavailable: {exc}")
    given = len(extractive.quotes)
    order: list[int] = []
    for match in _CITATION.finditer(reply):
        number = int(match.group(1))
        if 1 <= number <= given and number not in order:
            order.append(number)
    if not order:
        return _fallback(extractive, "LLM answer cited no quote; the quotes are shown instead")
    renumber = {old: new for new, old in enumerate(order, start=1)}

    def cite(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return f"[{renumber[number]}]" if number in renumber else ""

    text = _CITATION.sub(cite, reply)
    text = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    logger.debug("LLM answer cites %d of %d quotes", len(order), given)
    return Answer(
        text,
        tuple(extractive.quotes[n - 1] for n in order),
        "llm",
        extractive.confidence,
        f"worded by {model}",
    )


def _fallback(extractive: Answer, note: str) -> Answer:
    logger.info("%s", note)
    return replace(extractive, note=note)
