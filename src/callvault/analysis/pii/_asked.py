"""Fail closed where recognition failed: the answer to a question for personal data.

When one party asks for a card number, a security code, an e-mail address, ... and the
other party's answer holds no finding of that kind, the recogniser most likely garbled
what was said ("jane dot doe at example dot com" heard as "an einer Punkt ..."). The
answer is then redacted whole, as the kind asked for, with a low confidence and the
recognizer "callvault:asked-for": muting a sentence too many is cheaper than leaving a
card number in the audio.

The answer is the other party's utterances that start within `ANSWER_WINDOW` seconds of
the question's end, up to the asker's next utterance, at most `MAX_ANSWERS` of them, none
longer than `MAX_ANSWER_SECONDS` (a long monologue is not an answer). Recordings without
distinct speakers (undiarized mono) are skipped: there is no other party to tell apart.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from callvault.analysis._records import Transcript, Utterance
from callvault.analysis.pii._records import (
    CARD_EXPIRY,
    CREDIT_CARD,
    CVV,
    DATE_OF_BIRTH,
    EMAIL,
    IBAN,
    PHONE,
    US_SSN,
    PiiFinding,
)
from callvault.analysis.pii._spoken import normalise, numeric_weight

__all__ = ["ASKED_CONFIDENCE", "asked_for", "card_context", "dotted_addresses", "span_finding"]

ASKED_CONFIDENCE = 0.4
ANSWER_WINDOW = 10.0
MAX_ANSWERS = 2
MAX_ANSWER_SECONDS = 20.0
MIN_LEAD_WORDS = 3

# What a request for each kind sounds like (English and German); matched on the
# question's utterance, case-insensitively.
_ASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        CVV,
        re.compile(
            r"\b(security code|cvv|cvc|three digits? on the back|prüfziffer|sicherheitscode)\b"
        ),
    ),
    (CARD_EXPIRY, re.compile(r"\b(expir\w*|valid (until|thru|through)|ablaufdatum|gültig bis)\b")),
    (
        CREDIT_CARD,
        re.compile(r"\b(card number|long number on the card|kartennummer|kreditkartennummer)\b"),
    ),
    (US_SSN, re.compile(r"\b(social security|ssn)\b")),
    (IBAN, re.compile(r"\b(iban|account number|kontonummer)\b")),
    # "Where should we send the form?": the answer is an address, most often e-mail.
    (
        EMAIL,
        re.compile(
            r"\b(e-?mail|email address|e-mail-adresse"
            r"|where (should|shall|can|do|may) (i|we) send|wohin (soll|sollen|dürfen) (ich|wir))\b"
        ),
    ),
    (
        PHONE,
        re.compile(
            r"\b(phone number|telephone number|number to reach you|call you back on"
            r"|telefonnummer|rückrufnummer)\b"
        ),
    ),
    (DATE_OF_BIRTH, re.compile(r"\b(date of birth|birthday|born|geburtsdatum|geboren)\b")),
)
# A request: a question, or a polite word ("please", which tiny.en also hears as
# "pleased"). "We will send it to your email address" is not one.
_QUESTION = re.compile(
    r"(\?|\b(what|which|can i|could i|may i|could you|can you|would you|please|pleased|"
    r"tell me|give me|read|spell|confirm|wie|welche|was ist|können sie|könnten sie|"
    r"bitte|nennen sie)\b)",
    re.IGNORECASE,
)


def _asked_kinds(text: str) -> list[str]:
    lowered = text.lower()
    if not _QUESTION.search(lowered):
        return []
    return [kind for kind, pattern in _ASKS if pattern.search(lowered)]


def asked_for(transcript: Transcript, findings: Sequence[PiiFinding]) -> list[PiiFinding]:
    """Findings for answers to questions for personal data where none was found."""
    utterances = transcript.utterances
    if len({u.speaker for u in utterances}) < 2:
        return []
    found = {(f.utterance, f.entity) for f in findings}
    covered: dict[int, set[int]] = {}  # utterance -> its words inside a finding
    for f in findings:
        covered.setdefault(f.utterance, set()).update(range(f.first_word, f.last_word + 1))
    added: list[PiiFinding] = []
    taken: set[int] = set()
    for q, question in enumerate(utterances):
        kinds = _asked_kinds(question.text)
        if not kinds:
            continue
        answers: list[int] = []
        for a in range(q + 1, len(utterances)):
            answer = utterances[a]
            if answer.start > question.end + ANSWER_WINDOW or len(answers) >= MAX_ANSWERS:
                break
            if answer.speaker == question.speaker:
                if answer.start > question.end:
                    break  # the asker speaks again: the answer, if any, came before
                continue
            answers.append(a)
        if any((a, kind) in found for a in answers for kind in kinds):
            continue  # the answer was recognised as what was asked for
        for a in answers:
            answer = utterances[a]
            if a in taken or not answer.words:
                continue
            if answer.end - answer.start > MAX_ANSWER_SECONDS:
                continue
            # The answer is cut around what else was found in it ("[PERSON] .com", "...,
            # please. And my direct line is [PHONE]"); a lead-in alone ("it's [CVV]") is
            # not an answer of its own.
            done = covered.get(a, set())
            rest = [w for w in range(len(answer.words)) if w not in done]
            if not rest or (done and len(rest) < MIN_LEAD_WORDS):
                continue
            taken.add(a)
            for first, last in _runs(rest):
                added.append(
                    span_finding(
                        kinds[0], a, answer, first, last, ASKED_CONFIDENCE, "callvault:asked-for"
                    )
                )
    return added


def span_finding(
    entity: str,
    index: int,
    utterance: Utterance,
    first: int,
    last: int,
    confidence: float,
    recognizer: str,
) -> PiiFinding:
    """A finding of words `first..last` of `utterance` (number `index`), with their times."""
    return PiiFinding(
        entity=entity,
        utterance=index,
        first_word=first,
        last_word=last,
        start=utterance.words[first].start,
        end=utterance.words[last].end,
        channel=utterance.channel,
        speaker=utterance.speaker,
        confidence=confidence,
        recognizer=recognizer,
    )


def _runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted word indices, as (first, last)."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


_DOTTED = re.compile(r"^\.[a-z]{2,24}[.,!?]?$")
_MAX_DOTTED_WORDS = 6
_AT = frozenset({"at", "@", "ät"})


def dotted_addresses(
    transcript: Transcript, findings: Sequence[PiiFinding], tlds: frozenset[str]
) -> list[PiiFinding]:
    """E-mail addresses whose "at" and "dot" the recogniser wrote as dotted fragments
    ("jane .gov. example .com."): a run of words ending in a known top-level domain
    written ".com", with at least two dotted fragments in it. Found anywhere, without
    context (a web address said this way is cut too: the cheaper mistake)."""
    taken = {(f.utterance, w) for f in findings for w in range(f.first_word, f.last_word + 1)}
    added: list[PiiFinding] = []
    for u, utterance in enumerate(transcript.utterances):
        words = [w.text.strip().lower() for w in utterance.words]
        for last, word in enumerate(words):
            if not _DOTTED.match(word) or word.strip(".,!?") not in tlds:
                continue
            # Back over fragments and the single words between them ("jane", "example"):
            # two plain words in a row are the sentence around the address.
            first, plain = last, False
            while first > 0 and last - first < _MAX_DOTTED_WORDS:
                before = words[first - 1]
                if _DOTTED.match(before):
                    plain = False
                elif before[:1].isalnum() and not before.endswith((",", ".", "!", "?")):
                    if plain:
                        break
                    plain = True
                else:
                    break
                first -= 1
            dotted = sum(1 for w in words[first : last + 1] if _DOTTED.match(w))
            # "account at example .co .uk": the "at" and the name before it too.
            if first >= 1 and words[first - 1] in _AT:
                first -= 1
                if first >= 1 and words[first - 1][:1].isalnum():
                    first -= 1
            if dotted < 2 or any((u, w) in taken for w in range(first, last + 1)):
                continue
            taken.update((u, w) for w in range(first, last + 1))
            added.append(
                span_finding(EMAIL, u, utterance, first, last, 0.6, "callvault:dotted-address")
            )
    added.extend(_domain_runs(transcript, taken, tlds))
    return added


# A word written as a domain: "jane.gov.", "example.com", "mail.example.co.uk,".
_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.([a-z]{2,24})[.,!?]?$")
_JOIN_GAP_S = 1.0


def _domain_runs(
    transcript: Transcript, taken: set[tuple[int, int]], tlds: frozenset[str]
) -> list[PiiFinding]:
    """Two or more words in a row written as domains, by one speaker, across an
    utterance boundary too: "jane.gov. | example.com." is "jane dot doe at example dot
    com" as the recogniser wrote it. One domain alone is a web address, and is left."""
    runs: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    previous: tuple[int, int] | None = None
    for u, utterance in enumerate(transcript.utterances):
        for w, word in enumerate(utterance.words):
            match = _DOMAIN.match(word.text.strip().lower())
            if match is None or match[1] not in tlds or (u, w) in taken:
                previous = None
                continue
            joined = previous is not None and (
                previous == (u, w - 1)
                or (
                    previous[0] == u - 1
                    and w == 0
                    and utterance.speaker == transcript.utterances[previous[0]].speaker
                    and word.start - transcript.utterances[previous[0]].words[previous[1]].end
                    <= _JOIN_GAP_S
                )
            )
            if not joined:
                if len(current) >= 2:
                    runs.append(current)
                current = []
            current.append((u, w))
            previous = (u, w)
    if len(current) >= 2:
        runs.append(current)
    found: list[PiiFinding] = []
    for run in runs:
        for u in sorted({u for u, _ in run}):
            utterance = transcript.utterances[u]
            words = [w for uu, w in run if uu == u]
            first, last = min(words), max(words)
            found.append(
                span_finding(EMAIL, u, utterance, first, last, 0.5, "callvault:dotted-address")
            )
    return found


# A payment card named in the utterance, or said shortly before by anyone.
_CARD_WORDS = re.compile(
    r"\b(card|visa|mastercard|master card|amex|american express|discover"
    r"|karte|kreditkarte|kartennummer|kreditkartennummer)\b"
)
CARD_CONTEXT_SECONDS = 15.0
# Digits said in a card context make a card number from this many on (a whole number is
# 13 to 19; a number half heard is still one). Fewer are left: "the card ending 4242".
CARD_MIN_DIGITS = 8
# Words between the numbers of one reading: "four five five six, uh, seven ...".
_MAX_GAP_WORDS = 1
_RELABELLED = (CREDIT_CARD, PHONE)


def card_context(transcript: Transcript, findings: Sequence[PiiFinding]) -> list[PiiFinding]:
    """Numbers read out in a card context are the card number, whatever the recogniser
    made of them: a run of number-like words (with at most one other word between two of
    them) that says at least `CARD_MIN_DIGITS` digits, after a card is named in the
    utterance or within `CARD_CONTEXT_SECONDS` before it. The run becomes one
    CREDIT_CARD finding (recognizer "callvault:card-context"), replacing the phone or
    card findings inside it: a card number half heard as a phone number and half as
    words ("[PHONE] -868i. I'm 855.") is cut whole, and counts as payment data for what
    is kept of the original. Returns the findings with these changes."""
    utterances = transcript.utterances
    language = transcript.language
    mentions = [
        u for u, utterance in enumerate(utterances) if _CARD_WORDS.search(utterance.text.lower())
    ]
    result = list(findings)
    for u, utterance in enumerate(utterances):
        norms = [normalise(w.text) for w in utterance.words]
        start = _card_named_at(utterance.text, norms)
        if start is None:
            recent = any(
                m < u and utterances[m].start >= utterance.start - CARD_CONTEXT_SECONDS
                for m in mentions
            )
            if not recent:
                continue
            start = 0
        covered: dict[int, PiiFinding] = {}
        stops: set[int] = set()  # words of other findings (a CVV, an expiry) end a run
        for finding in result:
            if finding.utterance == u:
                words = range(finding.first_word, finding.last_word + 1)
                if finding.entity in _RELABELLED:
                    covered.update((w, finding) for w in words)
                else:
                    stops.update(words)
        weights = [
            numeric_weight(norm, language) if w not in covered else max(4, len(norm))
            for w, norm in enumerate(norms)
        ]
        for first, last in _numeric_runs(weights, start, stops):
            if sum(weights[first : last + 1]) < CARD_MIN_DIGITS:
                continue
            inside = {covered[w] for w in range(first, last + 1) if w in covered}
            if all(covered.get(w, None) is not None for w in range(first, last + 1)) and all(
                f.entity == CREDIT_CARD for f in inside
            ):
                continue  # already one card number, as found
            first = min([first, *(f.first_word for f in inside)])
            last = max([last, *(f.last_word for f in inside)])
            result = [f for f in result if f not in inside]
            result.append(
                span_finding(CREDIT_CARD, u, utterance, first, last, 0.5, "callvault:card-context")
            )
    return result


def _card_named_at(text: str, norms: Sequence[str]) -> int | None:
    """The index of the first word after the card is named in this utterance, or None."""
    if not _CARD_WORDS.search(text.lower()):
        return None
    joined = " ".join(norms)
    named = _CARD_WORDS.search(joined)
    # The words up to the end of the name, counted by the spaces before it.
    return joined[: named.end()].count(" ") + 1 if named else 0


def _numeric_runs(
    weights: Sequence[int], start: int, stops: Collection[int]
) -> list[tuple[int, int]]:
    """Runs of words with a weight, from `start`, joined across at most `_MAX_GAP_WORDS`
    words without one; a word in `stops` ends a run."""
    runs: list[tuple[int, int]] = []
    first = last = -1
    gap = 0
    for w in range(start, len(weights)):
        if w in stops:
            if first >= 0:
                runs.append((first, last))
            first = last = -1
            gap = 0
        elif weights[w]:
            if first < 0:
                first = w
            last = w
            gap = 0
        elif first >= 0:
            gap += 1
            if gap > _MAX_GAP_WORDS:
                runs.append((first, last))
                first = last = -1
                gap = 0
    if first >= 0:
        runs.append((first, last))
    return runs
