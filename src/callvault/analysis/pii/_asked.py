"""Fail closed where recognition fails: the answer to a request for personal data.

Payment and identity data (`FAIL_CLOSED_ENTITIES`: card number, expiry, security code,
PIN, bank account, SSN, national id, date of birth, password). When one party asks for
one of them, the other party's answer is cut whole, found or not: on 8 kHz telephone
audio the recogniser writes an SSN read digit by digit as "Nero Fime, one, one, two", and
whatever it makes of the answer, the answer is what was asked for. The answer window
opens when the request ends and closes when the asker speaks again (a backchannel of the
asker, "mm-hm", does not close it; a follow-up before any answer, "take your time",
moves its opening), at most `PiiParams.answer_window_s` seconds after it opened. Every
word of another speaker in the window is cut as the kind asked for, with the reason
"asked-for", a low confidence and the recognizer "callvault:asked-for" (a run of words
that findings of that kind already cover word for word is left to them; one that
covers other findings overlaps them, and the redaction shows one placeholder).

E-mail addresses and phone numbers: the answer is cut whole only where nothing of the
kind asked for was found in it (the recogniser garbled "jane dot doe at example dot com"
into "an einer Punkt ..."): the other party's utterances that start within
`ANSWER_WINDOW` seconds of the question's end, up to the asker's next utterance, at most
`MAX_ANSWERS` of them, none longer than `MAX_ANSWER_SECONDS` (a long monologue is not an
answer).

A request is recognised in English and German, including what the recogniser writes for
it on telephone audio ("security cold", "secure decode", "pen number", "day of birth"),
and only when it is asked: a question mark, a question or polite word ("what", "please",
"bitte"), or the kind named last ("... and your date of birth."). "We'll send your new
card" asks for nothing. Recordings without distinct speakers (undiarized mono) are
skipped: there is no other party to tell apart.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from callvault.analysis._records import Transcript, Utterance
from callvault.analysis.pii._records import (
    ASKED_FOR,
    CARD_EXPIRY,
    CREDIT_CARD,
    CVV,
    DATE_OF_BIRTH,
    EMAIL,
    ENTITIES,
    FAIL_CLOSED_ENTITIES,
    IBAN,
    NATIONAL_ID,
    PASSWORD,
    PHONE,
    PIN,
    RECOGNISED,
    US_SSN,
    PiiFinding,
)
from callvault.analysis.pii._spoken import misheard_digit, normalise, numeric_weight

__all__ = [
    "ASKED_CONFIDENCE",
    "asked_for",
    "asked_kinds",
    "card_codes",
    "card_context",
    "dotted_addresses",
    "span_finding",
]

ASKED_CONFIDENCE = 0.4
ASKED_RECOGNIZER = "callvault:asked-for"
ANSWER_WINDOW = 10.0
MAX_ANSWERS = 2
MAX_ANSWER_SECONDS = 20.0
MIN_LEAD_WORDS = 3
# An utterance of the asker this short, with no request in it, is a backchannel ("mm-hm",
# "okay, go on"), not the asker speaking again.
BACKCHANNEL_WORDS = 3

# What a request for each kind sounds like (English and German, with what the recogniser
# writes for it on telephone audio); matched on the lower-cased utterance. German
# compounds are matched inside words ("Kartenprüfnummer", "Telefon-PIN").
_ASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        CVV,
        re.compile(
            r"\b(security (code|cold|coat|cord|codes)|secure (decode|code)|sec code"
            r"|cvv|cvc|cv2|card verification"
            r"|(three|3|four|4)[- ]digits?( code)? on the back|(code|digits|number) on the back"
            r"|(three|3)[- ]digit (code|number)|last (three|3)( digits)? on the"
            r"|signature (strip|panel)"
            r"|sicherheitscode|sicherheitsnummer)\b"
            r"|prüf(ziffer|nummer|zahl|code)"
        ),
    ),
    (
        CARD_EXPIRY,
        re.compile(
            r"\b(expir\w*|valid (until|thru|through|to)|ablaufdatum|gültig bis|läuft \w+( \w+)? ab"
            r"|verfallsdatum|gültigkeitsdatum)\b"
        ),
    ),
    (
        CREDIT_CARD,
        re.compile(
            r"\b(card number|card numbers|long number( on (the|your) card)?|number on the card"
            r"|number on the front|card details|debit card number|credit card number"
            r"|(sixteen|16|fifteen|15)[- ]digits?( number)?|digits (across|on) the front)\b"
            r"|kartennummer|kartendaten"
        ),
    ),
    (
        PIN,
        re.compile(
            r"\b(pin|pen|pinn)[- ]?(number|code|nummer)\b|\bpin\s*\?|\w-pin\b"
            r"|\b(your|the|ihre|ihr|deine|die|four[- ]digit|vierstellige) pin\b|geheim(zahl|nummer)"
        ),
    ),
    (
        US_SSN,
        re.compile(
            r"\b(social security|social insurance|ssn|s s n|(your|the|his|her) social"
            r"( number)?[?.,]?$|(your|the) social\?|social number)"
        ),
    ),
    (
        NATIONAL_ID,
        re.compile(
            r"\b(national (insurance|id|identity|identification)|id card number"
            r"|identity card|identification number|passport number|driver'?s licen[cs]e number"
            r"|tax (id|identification|number)|(?<!customer )(?<!member )(?<!order )(?<!client )"
            r"(?<!reference )(?<!account )id number)\b"
            r"|sozialversicherungs|rentenversicherungs|personalausweis|ausweisnummer"
            r"|reisepassnummer|passnummer|steuer[- ]?(id|identifikation|nummer)"
        ),
    ),
    (
        IBAN,
        re.compile(
            r"\b(iban|account number|bank account|bank details|sort code|routing number"
            r"|bic)\b|kontonummer|bankverbindung|bankleitzahl|\bblz\b|kontodaten"
        ),
    ),
    (
        PASSWORD,
        re.compile(
            r"\b(password|pass word|passcode|pass code|passphrase|memorable (word|answer)"
            r"|security (word|answer|question)|secret (word|answer)|kennwort)\b|passwort"
        ),
    ),
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
    (
        DATE_OF_BIRTH,
        re.compile(
            r"\b(date of birth|day of birth|date of bird|birth date|birthdate|birthday|born"
            r"|dob|d o b|geburtsdatum|geboren|geburtstag)\b"
        ),
    ),
)
_ASKS_BY_KIND = dict(_ASKS)
# A request: a question, or a polite word ("please", which tiny.en also hears as
# "pleased"). "We will send it to your email address" is not one.
_QUESTION = re.compile(
    r"(\?|\b(what|what's|whats|which|can i|could i|may i|could you|can you|would you|please|"
    r"pleased|tell me|give me|read|spell|confirm|i need|we need|i'll need|go ahead|"
    r"when(ever)? you'?re ready|when you are ready|fire away|let me have|"
    r"wie|welche|welcher|"
    r"was ist|"
    r"können sie|könnten sie|brauche|bräuchte|bitte|nennen sie|sagen sie)\b)",
    re.IGNORECASE,
)
# ... or a short prompt that ends with the kind: "and your date of birth.", "Ihre PIN."
_PROMPT = re.compile(r"^(and|und|also|then|dann|now|jetzt|next|your|ihre|ihr|deine)\b")
_PROMPT_WORDS = 8
_HYPHEN = re.compile(r"(?<=[^\W\d])-(?=[^\W\d])")
# The other party often starts answering before the request is over (the recogniser
# puts "is 4 2 9" at 46.8 s and the request's end at 47.6 s): the answer window opens
# this many seconds before the request ends.
OVERLAP_SECONDS = 1.5
# Digits the other party reads out after payment or identity data is named, for that
# mention to count as a request (a CVV has three).
_READ_OUT_DIGITS = 3
_SOUNDS_LIKE_ZERO = frozenset({"oh", "o"})
# A code read out after a card number: how soon, and how many digits.
CODE_AFTER_CARD_SECONDS = 60.0
_CODE_DIGITS = (3, 6)
_ORDER = {entity: i for i, entity in enumerate(ENTITIES)}


def asked_kinds(text: str) -> list[str]:
    """The kinds of personal data `text` asks for, payment and identity data first."""
    lowered = " ".join(text.lower().split())
    kinds = _named_kinds(lowered)
    if not kinds:
        return []
    if not _QUESTION.search(lowered) and not _prompt(lowered):
        return []
    return sorted(kinds, key=lambda k: (k not in FAIL_CLOSED_ENTITIES, _ORDER[k]))


def _named_kinds(lowered: str) -> list[str]:
    """The kinds of personal data the lower-cased `lowered` names, in `_ASKS` order. The
    recogniser splits words it is unsure of at a hyphen ("ex-pirimate" for "expiry
    date"): they are matched joined up as well."""
    joined = _HYPHEN.sub("", lowered)
    return [kind for kind, pattern in _ASKS if pattern.search(lowered) or pattern.search(joined)]


def _named_then_read(
    utterances: Sequence[Utterance], q: int, window_s: float, language: str | None
) -> list[str]:
    """Payment or identity data named (not asked for in so many words: "And the
    security code, the three digits on the back,") and the other party's next words read
    out numbers: that was a request, whatever the recogniser made of its wording."""
    question = utterances[q]
    named = _named_kinds(" ".join(question.text.lower().split()))
    kinds = [kind for kind in named if kind in FAIL_CLOSED_ENTITIES]
    if not kinds:
        return []
    opens = question.end - OVERLAP_SECONDS
    for other in utterances[q + 1 :]:
        if other.start >= question.end + window_s or other.speaker == question.speaker:
            break
        if sum(_digit_weights(other, language, opens)) >= _READ_OUT_DIGITS:
            return sorted(kinds, key=lambda k: _ORDER[k])
    return []


def _digit_weights(answer: Utterance, language: str | None, opens: float = -1.0) -> list[int]:
    """About how many digits each word of `answer` (those ending after `opens`) reads
    out. A word that only sounds like a digit ("oh", "to", "won") counts only between
    two numbers: "is 4 to 9" reads three, "Oh, 12 days" two."""
    norms = [normalise(w.text) for w in answer.words if w.end > opens]
    weights = [numeric_weight(n, language) for n in norms]
    soft = [misheard_digit(n, language) or n in _SOUNDS_LIKE_ZERO for n in norms]
    return [
        weight
        if not soft[i]
        else (max(weight, 1) if 0 < i < len(norms) - 1 and weights[i - 1] and weights[i + 1] else 0)
        for i, weight in enumerate(weights)
    ]


def _prompt(lowered: str) -> bool:
    """The last sentence is a short prompt that names a kind at its end."""
    sentence = re.split(r"(?<=[.!?;])\s", lowered.strip())[-1].rstrip(" .!?;,")
    if not _PROMPT.match(sentence) or len(sentence.split()) > _PROMPT_WORDS:
        return False
    return any(m.end() >= len(sentence) for _, pattern in _ASKS for m in pattern.finditer(sentence))


def asked_for(
    transcript: Transcript, findings: Sequence[PiiFinding], window_s: float = 20.0
) -> list[PiiFinding]:
    """Findings for answers to requests for personal data (see the module docstring)."""
    utterances = transcript.utterances
    if len({u.speaker for u in utterances}) < 2:
        return []
    added: list[PiiFinding] = []
    taken: set[tuple[int, int]] = set()  # (utterance, word) cut as asked for
    for q, question in enumerate(utterances):
        kinds = asked_kinds(question.text) or _named_then_read(
            utterances, q, window_s, transcript.language
        )
        if not kinds:
            continue
        if kinds[0] in FAIL_CLOSED_ENTITIES:
            added.extend(_window_findings(utterances, q, kinds[0], findings, taken, window_s))
        else:
            added.extend(_unrecognised_answer(utterances, q, kinds, findings, taken))
    return added


def _window_findings(
    utterances: Sequence[Utterance],
    q: int,
    kind: str,
    findings: Sequence[PiiFinding],
    taken: set[tuple[int, int]],
    window_s: float,
) -> list[PiiFinding]:
    """Every word of another speaker between the request and the asker's next utterance
    (at most `window_s` seconds), as `kind`; a run of them that findings of `kind` cover
    word for word is left to those findings."""
    asker = utterances[q].speaker
    opens = max(utterances[q].start, utterances[q].end - OVERLAP_SECONDS)
    closes = utterances[q].end + window_s
    answers: list[int] = []
    for a in range(q + 1, len(utterances)):
        other = utterances[a]
        if other.start >= closes:
            break
        if other.speaker != asker:
            answers.append(a)
            continue
        if asked_kinds(other.text):
            closes = min(closes, other.start)  # a new request: its own window follows
            break
        if not answers:
            # The asker goes on before any answer ("... take your time"): the window
            # opens when they stop.
            opens = max(opens, other.end)
            closes = opens + window_s
        elif len(other.text.split()) > BACKCHANNEL_WORDS:
            closes = min(closes, other.start)
            break
    covered = {
        (f.utterance, w)
        for f in findings
        if f.entity == kind
        for w in range(f.first_word, f.last_word + 1)
    }
    added: list[PiiFinding] = []
    for a in answers:
        answer = utterances[a]
        inside = [
            w
            for w, word in enumerate(answer.words)
            if word.end > opens and word.start < closes and (a, w) not in taken
        ]
        taken.update((a, w) for w in inside)
        for first, last in _runs(inside):
            if all((a, w) in covered for w in range(first, last + 1)):
                continue  # recognised as what was asked for, word for word
            # One finding for the run, over what was recognised in it too: one placeholder.
            added.append(
                span_finding(
                    kind, a, answer, first, last, ASKED_CONFIDENCE, ASKED_RECOGNIZER, ASKED_FOR
                )
            )
    return added


def _unrecognised_answer(
    utterances: Sequence[Utterance],
    q: int,
    kinds: Sequence[str],
    findings: Sequence[PiiFinding],
    taken: set[tuple[int, int]],
) -> list[PiiFinding]:
    """The answer cut whole as `kinds[0]` where no finding of the kinds asked is in it."""
    question = utterances[q]
    found = {(f.utterance, f.entity) for f in findings}
    covered: dict[int, set[int]] = {}  # utterance -> its words inside a finding
    for f in findings:
        covered.setdefault(f.utterance, set()).update(range(f.first_word, f.last_word + 1))
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
        return []  # the answer was recognised as what was asked for
    added: list[PiiFinding] = []
    for a in answers:
        answer = utterances[a]
        if not answer.words or answer.end - answer.start > MAX_ANSWER_SECONDS:
            continue
        # The answer is cut around what else was found in it ("[PERSON] .com", "...,
        # please. And my direct line is [PHONE]"); a lead-in alone ("it's [CVV]") is
        # not an answer of its own.
        done = covered.get(a, set())
        rest = [w for w in range(len(answer.words)) if w not in done and (a, w) not in taken]
        if not rest or (done and len(rest) < MIN_LEAD_WORDS):
            continue
        taken.update((a, w) for w in rest)
        for first, last in _runs(rest):
            added.append(
                span_finding(
                    kinds[0], a, answer, first, last, ASKED_CONFIDENCE, ASKED_RECOGNIZER, ASKED_FOR
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
    reason: str = RECOGNISED,
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
        reason=reason,
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


def card_codes(transcript: Transcript, findings: Sequence[PiiFinding]) -> list[PiiFinding]:
    """Short codes read after a card number: the CVV (or the expiry), whatever the
    recogniser made of the request for it.

    After a party reads out a card number, the same party's run of three to six digits
    within `CODE_AFTER_CARD_SECONDS`, said in answer to a request by another party (a
    question or a polite word, "Please."), is cut as a CVV, or as the expiry when the
    request names one (recognizer "callvault:card-code"). On 8 kHz calls "and the
    three-digit code on the signature strip" comes out as "And McLift free on McBiggly
    Church trip. Please." and the answer "731" as itself: the digits survive where the
    request does not."""
    utterances = transcript.utterances
    cards = [f for f in findings if f.entity == CREDIT_CARD]
    if not cards:
        return []
    taken = {(f.utterance, w) for f in findings for w in range(f.first_word, f.last_word + 1)}
    added: list[PiiFinding] = []
    for a, answer in enumerate(utterances):
        if not any(
            c.speaker == answer.speaker
            and c.utterance < a
            and 0 <= answer.start - c.end <= CODE_AFTER_CARD_SECONDS
            for c in cards
        ):
            continue
        asks = [u for u in utterances[:a] if u.speaker != answer.speaker]
        if not asks or not _QUESTION.search(asks[-1].text.lower()):
            continue
        request = " ".join(u.text for u in asks[-2:]).lower()
        kind = CARD_EXPIRY if _ASKS_BY_KIND[CARD_EXPIRY].search(request) else CVV
        weights = _digit_weights(answer, transcript.language)
        stops = {w for w in range(len(weights)) if (a, w) in taken}
        for first, last in _numeric_runs(weights, 0, stops):
            digits = sum(weights[first : last + 1])
            if _CODE_DIGITS[0] <= digits <= _CODE_DIGITS[1]:
                added.append(span_finding(kind, a, answer, first, last, 0.5, "callvault:card-code"))
    return added


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
