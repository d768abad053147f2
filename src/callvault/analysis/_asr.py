"""Speech recognition of one leg with faster-whisper: Silero VAD, then Whisper.

The model is loaded from a local directory only (never from the Hugging Face Hub), on the
CPU with int8 weights; loaded models are shared per directory. The VAD is the Silero ONNX
model bundled with faster-whisper, so no network is needed either.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ctranslate2  # type: ignore[import-untyped]
import numpy as np
from faster_whisper import (  # type: ignore[import-untyped]
    BatchedInferencePipeline,
    WhisperModel,
)
from faster_whisper.vad import VadOptions  # type: ignore[import-untyped]

from callvault.analysis._models import ResolvedModel
from callvault.analysis._records import Word

__all__ = ["WINDOW_SECONDS", "AsrParams", "AsrSegment", "LegResult", "Transcriber", "vad_options"]

WINDOW_SECONDS = 30.0  # what Whisper hears at once
# Whisper's own test for a decoding stuck in a loop: text that compresses too well.
_LOOP_RATIO = 2.4
_LOOP_MIN_CHARS = 40
_FALLBACK_SEED = 20261206
_FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def is_looping(text: str) -> bool:
    """Whether a segment's text repeats itself as a decoding loop does (its gzip
    compression ratio above Whisper's threshold of 2.4); short texts never count."""
    data = text.strip().encode()
    if len(data) < _LOOP_MIN_CHARS:
        return False
    return len(data) / len(zlib.compress(data)) > _LOOP_RATIO


def _shifted(segment: AsrSegment, offset: float) -> AsrSegment:
    return AsrSegment(
        segment.start + offset,
        segment.end + offset,
        segment.text,
        segment.confidence,
        tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in segment.words),
    )


@dataclass(frozen=True)
class AsrParams:
    """Options of the VAD + ASR stage.

    `beam_size` 5 is Whisper's own default; 1 (greedy) is about twice as fast on a CPU
    and a little less accurate. `vad_min_silence_ms` is how long a pause splits speech;
    `vad_speech_pad_ms` widens each stretch of speech on both sides (faster-whisper's
    default is 400: on two-party calls 200 gives Whisper less to listen to, a 30-second
    window fewer in about seven, at the same word error rate; see bench/asr.py). Stretches
    of speech are cut at 30 s, Whisper's window. `batch_size` is how many windows
    `Transcriber.transcribe_clips` encodes and decodes at once.
    """

    beam_size: int = 5
    vad_filter: bool = True
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 500
    vad_speech_pad_ms: int = 200
    batch_size: int = 8
    condition_on_previous_text: bool = False


def vad_options(params: AsrParams) -> VadOptions:
    """faster-whisper's VAD options for `params`."""
    return VadOptions(
        threshold=params.vad_threshold,
        min_silence_duration_ms=params.vad_min_silence_ms,
        speech_pad_ms=params.vad_speech_pad_ms,
        max_speech_duration_s=WINDOW_SECONDS,
    )


@dataclass(frozen=True)
class AsrSegment:
    """One segment Whisper returned, with its words; times in seconds in the leg."""

    start: float
    end: float
    text: str
    confidence: float
    words: tuple[Word, ...]


@dataclass(frozen=True)
class LegResult:
    """What one leg held: its segments and the language spoken (given or detected)."""

    segments: tuple[AsrSegment, ...]
    language: str | None
    duration: float


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
        self._batched = BatchedInferencePipeline(self._whisper)

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
        """Recognise the speech in 16 kHz float32 mono `audio`.

        `language` is a primary subtag ("en", "de") or None to detect it; an English-only
        model always uses "en". `progress` receives the fraction of the leg done.
        """
        duration = audio.shape[0] / 16000
        if not self.multilingual:
            language = "en"
        segments, info = self._whisper.transcribe(
            audio,
            language=language,
            beam_size=params.beam_size,
            word_timestamps=True,
            vad_filter=params.vad_filter,
            vad_parameters=vad_options(params),
            condition_on_previous_text=params.condition_on_previous_text,
        )
        return self._collect(segments, info, language, duration, progress)

    def transcribe_clips(
        self,
        audio: np.ndarray,
        clips: Sequence[tuple[float, float]],
        *,
        language: str | None,
        params: AsrParams = AsrParams(),
        progress: Callable[[float], None] | None = None,
    ) -> LegResult:
        """Recognise the speech in `clips` of `audio`, `params.batch_size` clips at a time.

        Each clip is (start, end) in seconds, at most 30 s long (Whisper's window): the
        encoder runs on a batch of windows at once and no window is decoded twice, which
        costs less than decoding one window after another. Text is decoded without
        timestamp tokens; word times come from the alignment as in `transcribe_leg`.
        """
        duration = audio.shape[0] / 16000
        if not self.multilingual:
            language = "en"
        if not clips:
            return LegResult((), language, duration)
        segments, info = self._batched.transcribe(
            audio,
            language=language,
            beam_size=params.beam_size,
            word_timestamps=True,
            vad_filter=False,
            clip_timestamps=[{"start": start, "end": end} for start, end in clips],
            batch_size=params.batch_size,
            condition_on_previous_text=params.condition_on_previous_text,
        )
        result = self._collect(segments, info, language, duration, progress)
        return self._repair_loops(audio, clips, result, params)

    def _repair_loops(
        self,
        audio: np.ndarray,
        clips: Sequence[tuple[float, float]],
        result: LegResult,
        params: AsrParams,
    ) -> LegResult:
        """Decode again, one window at a time with temperature fallback, the windows in
        which the batched pass fell into a repetition loop ("-1 -1 -1 ..." for a number
        read digit by digit): the batched pipeline has no fallback of its own, and a
        loop hides what was said, card numbers included."""
        bad = sorted(
            {
                index
                for segment in result.segments
                if is_looping(segment.text)
                for index, (start, end) in enumerate(clips)
                if start - 0.01 <= segment.start < end
            }
        )
        if not bad:
            return result
        kept = [
            s
            for s in result.segments
            if not any(clips[i][0] - 0.01 <= s.start < clips[i][1] for i in bad)
        ]
        for index in bad:
            start, end = clips[index]
            window = audio[int(start * 16000) : int(end * 16000)]
            # The fallback samples at temperatures above 0: a fixed seed makes the same
            # audio give the same transcript (and the same redactions) every time.
            ctranslate2.set_random_seed(_FALLBACK_SEED)
            segments, _ = self._whisper.transcribe(
                window,
                language=result.language,
                beam_size=max(params.beam_size, 1),
                word_timestamps=True,
                vad_filter=False,
                condition_on_previous_text=False,
                temperature=_FALLBACK_TEMPERATURES,
                compression_ratio_threshold=_LOOP_RATIO,
            )
            again = self._collect(segments, None, result.language, end - start, None)
            kept.extend(_shifted(segment, start) for segment in again.segments)
        kept.sort(key=lambda s: (s.start, s.end))
        return LegResult(tuple(kept), result.language, result.duration)

    def _collect(
        self,
        segments: Iterable[Any],
        info: Any,
        language: str | None,
        duration: float,
        progress: Callable[[float], None] | None,
    ) -> LegResult:
        found: list[AsrSegment] = []
        for segment in segments:  # a generator: decoding happens while iterating
            words = tuple(
                Word(float(w.start), float(w.end), str(w.word).strip(), float(w.probability))
                for w in segment.words or ()
                if str(w.word).strip()
            )
            text = str(segment.text).strip()
            if words:
                confidence = sum(w.confidence for w in words) / len(words)
            else:
                confidence = math.exp(float(segment.avg_logprob))
            if text:
                found.append(
                    AsrSegment(float(segment.start), float(segment.end), text, confidence, words)
                )
            if progress is not None and duration > 0:
                progress(min(1.0, float(segment.end) / duration))
        if progress is not None:
            progress(1.0)
        detected = language if language is not None or info is None else info.language
        return LegResult(tuple(found), detected if found else language, duration)
