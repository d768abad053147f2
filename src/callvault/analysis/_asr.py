"""Speech recognition of one leg with faster-whisper: Silero VAD, then Whisper, then a screen.

Each leg (channel) of a call is recognised on its own, exactly as faster-whisper's
`WhisperModel.transcribe` does with its VAD filter: the speech of one party, never
another party's speech in the same window. On two-party telephone calls (8 kHz, G.711)
stitching the speech of both legs into shared 30-second windows lost words that the bare
model keeps, placed words on the wrong leg and, in German, let the small model drop whole
sentences (bench/asr.py, part 3). Sequential decoding also keeps Whisper's temperature
fallback for windows whose text loops or whose log-probability is low; it samples above
temperature 0, so a fixed seed makes the same audio give the same transcript (and the
same redactions) every time. What still looks made up after that is removed by the
screen in `_screen`, and counted.

Sequential decoding has one weakness the bare library shares: when Whisper ends a
30-second window early (a timestamp at the window's end, or a window judged silent after
its fallback), everything said in the rest of that window is lost, up to half a minute of
a customer reading a card number. So the leg's speech (the same VAD) is compared with the
words recognised, and every stretch of speech of `GAP_SECONDS` or more with no word near it
is decoded again on its own; what comes back is screened like the rest and counted as
`redecoded`.

The model is loaded from a local directory only (never from the Hugging Face Hub), on the
CPU with int8 weights; loaded models are shared per directory. The VAD is the Silero ONNX
model bundled with faster-whisper, so no network is needed either.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ctranslate2  # type: ignore[import-untyped]
import numpy as np
from faster_whisper import WhisperModel  # type: ignore[import-untyped]
from faster_whisper.vad import VadOptions, get_speech_timestamps  # type: ignore[import-untyped]

from callvault.analysis._decode import SAMPLE_RATE
from callvault.analysis._models import ResolvedModel
from callvault.analysis._records import Word
from callvault.analysis._screen import ScreenStats, screen_segment

__all__ = ["AsrParams", "AsrSegment", "LegResult", "Transcriber", "vad_options"]

_SEED = 20261206
# A stretch of speech (found by the VAD) this long with no recognised word near it was
# skipped by the first pass; words within `_WORD_REACH` seconds count as covering it.
GAP_SECONDS = 1.5
_WORD_REACH = 0.5
_GAP_PAD = 0.2


@dataclass(frozen=True)
class AsrParams:
    """Options of the VAD + ASR stage.

    The defaults are faster-whisper's own (`WhisperModel.transcribe` with
    `vad_filter=True`), so a leg is recognised as the bare library recognises it: beam 5,
    Silero VAD at threshold 0.5 with 2 s of silence to split speech and 400 ms of padding
    on each side of it. `beam_size` 1 (greedy) is about twice as fast on a CPU and a
    little less accurate. `condition_on_previous_text` is off: on calls, text carried
    from one window into the next spreads a hallucination instead of helping.
    """

    beam_size: int = 5
    vad_filter: bool = True
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 2000
    vad_speech_pad_ms: int = 400
    condition_on_previous_text: bool = False


def vad_options(params: AsrParams) -> VadOptions:
    """faster-whisper's VAD options for `params`."""
    return VadOptions(
        threshold=params.vad_threshold,
        min_silence_duration_ms=params.vad_min_silence_ms,
        speech_pad_ms=params.vad_speech_pad_ms,
    )


@dataclass(frozen=True)
class AsrSegment:
    """One segment Whisper returned, with its words; times in seconds in the leg."""

    start: float
    end: float
    text: str
    confidence: float
    words: tuple[Word, ...]

    def shifted(self, offset: float) -> AsrSegment:
        """The same segment `offset` seconds later (a window's times made the leg's)."""
        return AsrSegment(
            self.start + offset,
            self.end + offset,
            self.text,
            self.confidence,
            tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in self.words),
        )


@dataclass(frozen=True)
class LegResult:
    """What one leg held: its segments, the language spoken (given or detected) and how
    many words the hallucination screen removed, by rule."""

    segments: tuple[AsrSegment, ...]
    language: str | None
    duration: float
    screened: dict[str, int] = field(default_factory=dict)


def uncovered(
    speech: Sequence[tuple[float, float]], words: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The parts of `speech` (start, end) at least `GAP_SECONDS` long that no word of
    `words` comes within `_WORD_REACH` seconds of, in order."""
    reach = sorted((start - _WORD_REACH, end + _WORD_REACH) for start, end in words)
    gaps: list[tuple[float, float]] = []
    for start, end in speech:
        cursor = start
        for low, high in reach:
            if high <= cursor or low >= end:
                continue
            if low - cursor >= GAP_SECONDS:
                gaps.append((cursor, low))
            cursor = max(cursor, high)
        if end - cursor >= GAP_SECONDS:
            gaps.append((cursor, end))
    return gaps


_loaded: dict[tuple[Path, int, str], Any] = {}
_lock = threading.Lock()


def _load(path: Path, cpu_threads: int, compute_type: str) -> Any:
    key = (path, cpu_threads, compute_type)
    with _lock:
        model = _loaded.get(key)
        if model is None:
            model = WhisperModel(
                str(path),
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                local_files_only=True,  # a directory is given; never ask the Hub
            )
            _loaded[key] = model
        return model


class Transcriber:
    """Transcribes legs with one Whisper model."""

    def __init__(
        self, model: ResolvedModel, *, cpu_threads: int = 2, compute_type: str = "int8"
    ) -> None:
        self.model = model
        self._whisper = _load(model.path, cpu_threads, compute_type)

    @property
    def multilingual(self) -> bool:
        return bool(self._whisper.model.is_multilingual)

    def transcribe_leg(
        self,
        audio: np.ndarray,
        *,
        language: str | None,
        params: AsrParams = AsrParams(),
        progress: Callable[[float], None] | None = None,
    ) -> LegResult:
        """Recognise the speech in 16 kHz float32 mono `audio` (one party).

        `language` is a primary subtag ("en", "de") or None to detect it; an English-only
        model always uses "en". `progress` receives the fraction of the leg done.
        """
        duration = audio.shape[0] / SAMPLE_RATE
        if not self.multilingual:
            language = "en"
        ctranslate2.set_random_seed(_SEED)
        segments, info = self._whisper.transcribe(
            audio,
            language=language,
            beam_size=params.beam_size,
            word_timestamps=True,
            vad_filter=params.vad_filter,
            vad_parameters=vad_options(params),
            condition_on_previous_text=params.condition_on_previous_text,
        )
        detected = language if language is not None else info.language
        result = self._collect(segments, detected, duration, progress)
        if not params.vad_filter:
            return result
        return self._redecode_gaps(audio, result, params)

    def _redecode_gaps(self, audio: np.ndarray, result: LegResult, params: AsrParams) -> LegResult:
        """`result` with the stretches of speech the first pass skipped decoded again."""
        speech = [
            (chunk["start"] / SAMPLE_RATE, chunk["end"] / SAMPLE_RATE)
            for chunk in get_speech_timestamps(audio, vad_options(params))
        ]
        words = [w for segment in result.segments for w in segment.words]
        gaps = uncovered(speech, [(w.start, w.end) for w in words])
        if not gaps:
            return result
        segments = list(result.segments)
        stats = ScreenStats(result.screened)
        for start, end in gaps:
            low = max(0.0, start - _GAP_PAD)
            high = min(result.duration, end + _GAP_PAD)
            window = audio[int(low * SAMPLE_RATE) : int(high * SAMPLE_RATE)]
            ctranslate2.set_random_seed(_SEED)
            again, _ = self._whisper.transcribe(
                window,
                language=result.language,
                beam_size=params.beam_size,
                word_timestamps=True,
                vad_filter=False,
                condition_on_previous_text=False,
            )
            found = self._collect(again, result.language, high - low, None)
            stats.update(found.screened)
            for segment in found.segments:
                segments.append(segment.shifted(low))
                stats["redecoded"] += len(segment.words)
        segments.sort(key=lambda s: (s.start, s.end))
        return LegResult(tuple(segments), result.language, result.duration, stats.to_json())

    def _collect(
        self,
        segments: Iterable[Any],
        language: str | None,
        duration: float,
        progress: Callable[[float], None] | None,
    ) -> LegResult:
        found: list[AsrSegment] = []
        stats = ScreenStats()
        for segment in segments:  # a generator: decoding happens while iterating
            words = tuple(
                Word(float(w.start), float(w.end), str(w.word).strip(), float(w.probability))
                for w in segment.words or ()
                if str(w.word).strip()
            )
            text = str(segment.text).strip()
            screened = screen_segment(
                words,
                text,
                language=language,
                avg_logprob=float(segment.avg_logprob),
                no_speech_prob=float(segment.no_speech_prob),
                stats=stats,
            )
            if screened.dropped:
                words = screened.words
                text = " ".join(w.text for w in words)
            if words:
                confidence = sum(w.confidence for w in words) / len(words)
                start, end = float(segment.start), float(segment.end)
                if screened.dropped:  # the segment now spans only the words kept
                    start, end = words[0].start, words[-1].end
                found.append(AsrSegment(start, end, text, confidence, words))
            elif text and not screened.dropped:
                confidence = math.exp(float(segment.avg_logprob))
                found.append(
                    AsrSegment(float(segment.start), float(segment.end), text, confidence, ())
                )
            if progress is not None and duration > 0:
                progress(min(1.0, float(segment.end) / duration))
        if progress is not None:
            progress(1.0)
        return LegResult(tuple(found), language, duration, stats.to_json())
