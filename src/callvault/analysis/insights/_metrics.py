"""Talk metrics of a call: who talked how much, how fast, how often they asked, waited
and interrupted, and how the conversation as a whole flowed.

Method (all times in seconds, from the transcript's word and utterance times):

- A speaker's *talk spans* are their words' `[start, end]`, or the utterance's span when
  it has no words. `talk_time` is the length of the union of those spans, so overlapping
  words are not counted twice. `talk_share` is talk time over the sum of all speakers'
  talk times (shares add up to 1); `talk_to_listen` is own talk over the others' talk
  (None when nobody else talks).
- A *monologue* is a run of one speaker's utterances (in start order) with no other
  speaker's utterance starting in between and no pause longer than
  `MetricsParams.monologue_max_pause` (default 2.0 s, about the pause after which a
  listener normally takes the turn) between one utterance's end and the next one's start.
  Its length is last end - first start. Pauses inside one utterance are not looked at:
  the recogniser already cuts utterances at long pauses.
- `words_per_minute` is words over talk minutes. Placeholders such as `[CREDIT_CARD]`
  (redacted personal data) are not counted as words.
- *Fillers* are counted from the utterance text. English: um, uh, er, erm, ah, hmm, hm,
  "you know", "I mean", "kind of", "sort of"; German: äh, ähm, hm, halt, sozusagen,
  quasi. "like" is not counted: telling the discourse filler from the verb and the
  preposition needs a parser. "kind of"/"sort of" are also counted where they are not
  fillers ("what kind of plan"), and "halt" where it is the verb; treat the counts as an
  upper bound. Other or unknown languages: no fillers are counted.
- A *question* is an utterance whose text contains "?" (Whisper punctuates). Text with no
  sentence punctuation at all counts as a question when it opens with a wh-word, or with
  an auxiliary verb followed by a subject ("can you", "do we"); German: wer/was/wann/wo/
  warum/wie/welche.., or a finite verb followed by a pronoun ("Können Sie", "Haben Sie").
  `question_rate` is questions per minute of the call.
- *Patience* is the mean gap before the speaker answers: at every turn switch from
  another speaker to this one, this utterance's start minus the previous utterance's end,
  counting gaps in [0, `patience_max_gap`] (default 10 s) only.
- An *interruption* is an utterance that starts while another speaker's utterance has
  already run `interrupt_min_elapsed` (default 0.3 s) and goes on for at least
  `interrupt_min_remaining` (default 0.5 s) after the start. The other utterance's speech
  ends at its last word's end (or its end when it has no words). Back-channels ("mhm")
  count too; they are not told apart from real interruptions.
- Call level: `duration` is `CallFacts.duration`, or the last utterance end when that is
  later; `total_talk` is the sum of speakers' talk times; `overlap` the time when at
  least two speakers talk at once; `silence_share` the time nobody talks over the
  duration; `interactivity` speaker switches (between consecutive utterances) per minute.

Confidence: 1.0 when each party had its own channel (diarized, every utterance has a
channel), 0.7 for diarized mono recordings (speaker attribution may be wrong), 0.3 when
the transcript is not diarized (everything is one speaker, so the per-speaker numbers
say little).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from callvault.analysis._data import read_words
from callvault.analysis._records import Transcript, Utterance
from callvault.analysis.insights._records import CallFacts, StageStamp

__all__ = [
    "STAMP",
    "CallMetrics",
    "Interruption",
    "MetricsParams",
    "Monologue",
    "SpeakerMetrics",
    "is_question",
    "run",
]

NAME = "metrics"
VERSION = "1"

_PLACEHOLDER = re.compile(r"\[[^\]]*\]")
_TOKEN = re.compile(r"\w+(?:['’-]\w+)*")
_SENTENCE_PUNCT = re.compile(r"[.!?]")

# Fillers and question words, English and German (data/metrics.toml).
_WORDS = read_words("callvault.analysis.insights", "metrics.toml")
_FILLERS_EN = frozenset(_WORDS["en"]["fillers"])
_FILLER_PAIRS_EN = frozenset((first, second) for first, second in _WORDS["en"]["filler_pairs"])
_FILLERS_DE = frozenset(_WORDS["de"]["fillers"])

_WH_EN = frozenset(_WORDS["en"]["wh"])
_AUX_EN = frozenset(_WORDS["en"]["aux"])
_SUBJECT_EN = frozenset(_WORDS["en"]["subject"])
_WH_DE = frozenset(_WORDS["de"]["wh"])
_VERB_DE = frozenset(_WORDS["de"]["verb"])
_PRONOUN_DE = frozenset(_WORDS["de"]["pronoun"])


@dataclass(frozen=True)
class MetricsParams:
    """Thresholds of the metrics stage, in seconds."""

    monologue_max_pause: float = 2.0
    patience_max_gap: float = 10.0
    interrupt_min_elapsed: float = 0.3
    interrupt_min_remaining: float = 0.5

    def stamp(self) -> StageStamp:
        return StageStamp(NAME, VERSION, asdict(self))


STAMP = MetricsParams().stamp()


def _r(value: float) -> float:
    return round(value, 3)


def _r_opt(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True)
class Monologue:
    """A speaker's longest stretch of talk without the other side taking a turn."""

    duration: float
    start: float
    utterances: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "duration": _r(self.duration),
            "start": _r(self.start),
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True)
class Interruption:
    """One utterance (`utterance`) started over another speaker's (`interrupted_utterance`)."""

    time: float
    interrupted: str
    utterance: int
    interrupted_utterance: int

    def to_json(self) -> dict[str, Any]:
        return {
            "time": _r(self.time),
            "interrupted": self.interrupted,
            "utterance": self.utterance,
            "interrupted_utterance": self.interrupted_utterance,
        }


@dataclass(frozen=True)
class SpeakerMetrics:
    """The metrics of one speaker; `utterances` are all of that speaker's utterances."""

    speaker: str
    role: str
    talk_time: float
    talk_share: float
    talk_to_listen: float | None
    longest_monologue: Monologue | None
    words: int
    words_per_minute: float
    fillers: int
    fillers_per_minute: float
    questions: int
    question_rate: float
    patience: float | None
    interruptions: tuple[Interruption, ...]
    confidence: float
    utterances: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker,
            "role": self.role,
            "talk_time": _r(self.talk_time),
            "talk_share": _r(self.talk_share),
            "talk_to_listen": _r_opt(self.talk_to_listen),
            "longest_monologue": (
                None if self.longest_monologue is None else self.longest_monologue.to_json()
            ),
            "words": self.words,
            "words_per_minute": _r(self.words_per_minute),
            "fillers": self.fillers,
            "fillers_per_minute": _r(self.fillers_per_minute),
            "questions": self.questions,
            "question_rate": _r(self.question_rate),
            "patience": _r_opt(self.patience),
            "interruption_count": len(self.interruptions),
            "interruptions": [i.to_json() for i in self.interruptions],
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True)
class CallMetrics:
    """The result of the metrics stage: call-level numbers and one entry per speaker."""

    duration: float
    total_talk: float
    overlap: float
    silence_share: float
    interactivity: float
    speaker_count: int
    speakers: tuple[SpeakerMetrics, ...]
    confidence: float
    utterances: tuple[int, ...]
    stamp: StageStamp

    def speaker(self, label: str) -> SpeakerMetrics:
        """The metrics of the speaker `label`; KeyError when it did not speak."""
        for item in self.speakers:
            if item.speaker == label:
                return item
        raise KeyError(label)

    def to_json(self) -> dict[str, Any]:
        return {
            "duration": _r(self.duration),
            "total_talk": _r(self.total_talk),
            "overlap": _r(self.overlap),
            "silence_share": _r(self.silence_share),
            "interactivity": _r(self.interactivity),
            "speaker_count": self.speaker_count,
            "speakers": [s.to_json() for s in self.speakers],
            "confidence": _r(self.confidence),
            "utterances": list(self.utterances),
            "stamp": self.stamp.to_json(),
        }


Span = tuple[float, float]


def _union(spans: Sequence[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(spans: Sequence[Span]) -> float:
    return sum(end - start for start, end in spans)


def _spans(utterance: Utterance) -> list[Span]:
    if utterance.words:
        return [(w.start, w.end) for w in utterance.words]
    return [(utterance.start, utterance.end)]


def _speech_end(utterance: Utterance) -> float:
    return max(w.end for w in utterance.words) if utterance.words else utterance.end


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(_PLACEHOLDER.sub(" ", text).lower())


def _word_count(utterance: Utterance) -> int:
    if utterance.words:
        return sum(1 for w in utterance.words if _tokens(w.text))
    return len(_tokens(utterance.text))


def _language(transcript: Transcript, facts: CallFacts) -> str:
    language = transcript.language or facts.language or ""
    return language.split("-")[0].split("_")[0].lower()


def _fillers(tokens: list[str], language: str) -> int:
    if language == "en":
        singles = sum(1 for t in tokens if t in _FILLERS_EN)
        pairs = sum(1 for pair in zip(tokens, tokens[1:], strict=False) if pair in _FILLER_PAIRS_EN)
        return singles + pairs
    if language == "de":
        return sum(1 for t in tokens if t in _FILLERS_DE)
    return 0


def is_question(text: str, language: str) -> bool:
    """Whether an utterance asks something (see the module docstring for the rules)."""
    if "?" in text:
        return True
    if _SENTENCE_PUNCT.search(text):
        return False  # punctuated, and no question mark
    tokens = _tokens(text)
    if not tokens:
        return False
    first, second = tokens[0], tokens[1] if len(tokens) > 1 else ""
    if language == "de":
        return first in _WH_DE or (first in _VERB_DE and second in _PRONOUN_DE)
    if language == "en":
        return first in _WH_EN or (first in _AUX_EN and second in _SUBJECT_EN)
    return False


def _confidence(transcript: Transcript) -> float:
    if not transcript.diarized:
        return 0.3
    if transcript.utterances and all(u.channel is not None for u in transcript.utterances):
        return 1.0
    return 0.7


def _overlap(per_speaker: Sequence[Sequence[Span]]) -> float:
    events: list[tuple[float, int]] = []
    for spans in per_speaker:
        for start, end in spans:
            events.append((start, 1))
            events.append((end, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # ends before starts at the same time
    active, total, last = 0, 0.0, 0.0
    for time, step in events:
        if active >= 2:
            total += time - last
        active += step
        last = time
    return total


def _monologues(
    order: Sequence[int], utterances: Sequence[Utterance], max_pause: float
) -> dict[str, Monologue]:
    """The longest monologue of each speaker, walking utterances in start order."""
    best: dict[str, Monologue] = {}
    run: list[int] = []

    def close() -> None:
        if not run:
            return
        first, last = utterances[run[0]], utterances[run[-1]]
        duration = max(utterances[i].end for i in run) - first.start
        current = best.get(last.speaker)
        if current is None or duration > current.duration:
            best[last.speaker] = Monologue(duration, first.start, tuple(run))

    for index in order:
        utterance = utterances[index]
        if run:
            previous = utterances[run[-1]]
            end = max(utterances[i].end for i in run)
            if previous.speaker == utterance.speaker and utterance.start - end <= max_pause:
                run.append(index)
                continue
            close()
        run = [index]
    close()
    return best


def _interruptions(
    order: Sequence[int], utterances: Sequence[Utterance], params: MetricsParams
) -> dict[str, list[Interruption]]:
    found: dict[str, list[Interruption]] = {}
    active: list[int] = []  # earlier utterances, in start order, whose speech may go on
    for index in order:
        utterance = utterances[index]
        active = [i for i in active if _speech_end(utterances[i]) > utterance.start]
        for other_index in active:
            other = utterances[other_index]
            if other.speaker == utterance.speaker:
                continue
            elapsed = utterance.start - other.start
            remaining = _speech_end(other) - utterance.start
            if elapsed >= params.interrupt_min_elapsed and remaining >= (
                params.interrupt_min_remaining
            ):
                interruption = Interruption(utterance.start, other.speaker, index, other_index)
                found.setdefault(utterance.speaker, []).append(interruption)
                break  # one interruption per utterance, of the earliest one talked over
        active.append(index)
    return found


def run(
    transcript: Transcript, facts: CallFacts, params: MetricsParams | None = None
) -> CallMetrics:
    """Compute the talk metrics of one call (see the module docstring)."""
    params = params or MetricsParams()
    utterances = transcript.utterances
    language = _language(transcript, facts)
    order = sorted(range(len(utterances)), key=lambda i: (utterances[i].start, i))
    speakers: list[str] = []
    for index in order:
        if utterances[index].speaker not in speakers:
            speakers.append(utterances[index].speaker)

    last_end = max((u.end for u in utterances), default=0.0)
    duration = max(facts.duration, last_end)
    minutes = duration / 60.0

    spans = {
        s: _union([span for u in utterances if u.speaker == s for span in _spans(u)])
        for s in speakers
    }
    talk = {s: _length(spans[s]) for s in speakers}
    total_talk = sum(talk.values())
    speech = _length(_union([span for s in speakers for span in spans[s]]))
    overlap = _overlap(list(spans.values()))

    switches = 0
    patience_gaps: dict[str, list[float]] = {}
    for previous_index, index in zip(order, order[1:], strict=False):
        previous, utterance = utterances[previous_index], utterances[index]
        if previous.speaker == utterance.speaker:
            continue
        switches += 1
        gap = utterance.start - previous.end
        if 0.0 <= gap <= params.patience_max_gap:
            patience_gaps.setdefault(utterance.speaker, []).append(gap)

    monologues = _monologues(order, utterances, params.monologue_max_pause)
    interruptions = _interruptions(order, utterances, params)
    confidence = _confidence(transcript)

    results = []
    for speaker in speakers:
        own = tuple(i for i in range(len(utterances)) if utterances[i].speaker == speaker)
        talk_minutes = talk[speaker] / 60.0
        others = total_talk - talk[speaker]
        words = sum(_word_count(utterances[i]) for i in own)
        fillers = sum(_fillers(_tokens(utterances[i].text), language) for i in own)
        questions = sum(1 for i in own if is_question(utterances[i].text, language))
        gaps = patience_gaps.get(speaker, [])
        results.append(
            SpeakerMetrics(
                speaker=speaker,
                role=facts.role_of(speaker),
                talk_time=talk[speaker],
                talk_share=talk[speaker] / total_talk if total_talk > 0 else 0.0,
                talk_to_listen=talk[speaker] / others if others > 0 else None,
                longest_monologue=monologues.get(speaker),
                words=words,
                words_per_minute=words / talk_minutes if talk_minutes > 0 else 0.0,
                fillers=fillers,
                fillers_per_minute=fillers / talk_minutes if talk_minutes > 0 else 0.0,
                questions=questions,
                question_rate=questions / minutes if minutes > 0 else 0.0,
                patience=sum(gaps) / len(gaps) if gaps else None,
                interruptions=tuple(interruptions.get(speaker, [])),
                confidence=confidence,
                utterances=own,
            )
        )

    return CallMetrics(
        duration=duration,
        total_talk=total_talk,
        overlap=overlap,
        silence_share=(duration - speech) / duration if duration > 0 else 0.0,
        interactivity=switches / minutes if minutes > 0 else 0.0,
        speaker_count=len(speakers),
        speakers=tuple(results),
        confidence=confidence,
        utterances=tuple(range(len(utterances))),
        stamp=params.stamp(),
    )
