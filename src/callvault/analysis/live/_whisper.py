"""One Whisper pass over the rolling buffers of several legs at once (a batch).

faster-whisper's `WhisperModel.transcribe` recognises one audio at a time and its
`BatchedInferencePipeline` batches the 30-second chunks of one audio with one prompt.
A streaming engine has several short buffers (one per leg with speech), each with its
own prompt (the text already committed before the buffer), so this module drives the
same steps as `BatchedInferencePipeline.forward` with a prompt per buffer:

1. log-Mel features of each buffer, padded to Whisper's 30-second window;
2. one encoder pass over the batch (`WhisperModel.encode`);
3. the language of each buffer whose language is not known yet, on multilingual models,
   from the same encoder output (`Whisper.detect_language`);
4. one greedy (or beam) generation over the batch with a prompt per buffer
   (`Whisper.generate`), temperature 0, no fallback: a buffer is decoded again a moment
   later anyway, and the hallucination screen runs on every result;
5. word timestamps by cross-attention alignment (`WhisperModel.add_word_timestamps`),
   per language.

Unlike `transcribe`, the text after the last pair of timestamp tokens is kept as a last
segment ending at the buffer's end: in a buffer cut while someone is still speaking,
that unfinished segment is exactly the partial the engine shows.

Limits: a buffer longer than 30 s is cut to its first 30 s (the engine trims its
buffers well before that); times are seconds from the start of each buffer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ctranslate2  # type: ignore[import-untyped]
import numpy as np
from faster_whisper.audio import pad_or_trim  # type: ignore[import-untyped]
from faster_whisper.tokenizer import Tokenizer  # type: ignore[import-untyped]
from faster_whisper.transcribe import get_suppressed_tokens  # type: ignore[import-untyped]

from callvault.analysis._decode import SAMPLE_RATE
from callvault.analysis._records import Word

__all__ = ["WINDOW_SECONDS", "BufferRequest", "HypSegment", "Hypothesis", "decode_batch"]

WINDOW_SECONDS = 30.0  # what Whisper hears at once
_PROMPT_CHARS = 200  # whisper_streaming keeps the last 200 characters of committed text
_PROMPT_BUCKETS = (0, 8, 16, 32)  # prompt lengths in tokens (see `decode_batch`)
_PREPEND = "\"'“¿([{-"
_APPEND = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class BufferRequest:
    """One leg's buffer to recognise: 16 kHz float32 mono audio (at most 30 s), the text
    committed before it (the prompt) and its language (None: detect it)."""

    audio: np.ndarray
    prompt: str
    language: str | None


@dataclass(frozen=True)
class HypSegment:
    """A segment of a hypothesis, times in seconds from the start of the buffer."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Hypothesis:
    """What Whisper heard in one buffer."""

    segments: tuple[HypSegment, ...]
    language: str


def _split(tokens: Sequence[int], tokenizer: Tokenizer, duration: float) -> list[dict[str, Any]]:
    """Segments of `tokens` at pairs of timestamp tokens; the text after the last pair is
    a last segment ending at `duration` (kept, unlike `transcribe`, see module doc)."""
    begin = tokenizer.timestamp_begin
    segments: list[dict[str, Any]] = []
    current: list[int] = []
    start: float | None = None
    for token in tokens:
        if token >= begin:
            time = (token - begin) * 0.02
            if current and any(t < tokenizer.eot for t in current):
                segments.append({"seek": 0, "start": start or 0.0, "end": time, "tokens": current})
                current, start = [], None
            elif start is None or not current:
                start = time
            continue
        if token < tokenizer.eot:
            if start is None:
                start = segments[-1]["end"] if segments else 0.0
            current.append(token)
    if current:
        segments.append(
            {
                "seek": 0,
                "start": start or 0.0,
                "end": max(duration, start or 0.0),
                "tokens": current,
            }
        )
    return segments


def _rows(encoded: Any, chosen: Sequence[int], total: int) -> Any:
    """The rows `chosen` of the encoder output `encoded` (all `total` of them: itself)."""
    if len(chosen) == total:
        return encoded
    rows = np.asarray(encoded)[list(chosen)]
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(rows))


def _tokenizer(whisper: Any, language: str) -> Tokenizer:
    multilingual = bool(whisper.model.is_multilingual)
    return Tokenizer(
        whisper.hf_tokenizer,
        multilingual,
        task="transcribe",
        language=language if multilingual else None,
    )


def _frames(requests: Sequence[BufferRequest], context_s: float | None) -> int:
    """Mel frames the encoder is given: Whisper's 30 s, or (`context_s` set) the longest
    buffer plus `context_s`, in steps of 5 s."""
    if context_s is None:
        return int(WINDOW_SECONDS * 100)
    longest = max(r.audio.shape[0] for r in requests) / SAMPLE_RATE + context_s
    return int(min(WINDOW_SECONDS, math.ceil(longest / 5.0) * 5.0) * 100)


def decode_batch(
    whisper: Any,
    requests: Sequence[BufferRequest],
    *,
    beam_size: int = 1,
    context_s: float | None = None,
) -> list[Hypothesis]:
    """Recognise every buffer of `requests` with one encoder and one decoder pass of the
    faster-whisper model `whisper`; one `Hypothesis` per request, in order.

    `context_s` None pads every buffer to Whisper's 30 s, as it was trained; a number
    gives the encoder only the longest buffer plus that much padding (cheaper, see
    `StreamParams.encoder_context_s`)."""
    if not requests:
        return []
    frames = _frames(requests, context_s)
    features = np.stack(
        [
            pad_or_trim(
                whisper.feature_extractor(r.audio[: int(WINDOW_SECONDS * SAMPLE_RATE)])[..., :-1],
                frames,
            )
            for r in requests
        ]
    )
    encoded = whisper.encode(features)
    multilingual = bool(whisper.model.is_multilingual)
    languages: list[str] = []
    detected: list[Any] | None = None
    for index, request in enumerate(requests):
        if not multilingual:
            languages.append("en")
        elif request.language is not None:
            languages.append(request.language)
        else:
            if detected is None:
                detected = whisper.model.detect_language(encoded)
            token = str(detected[index][0][0])  # "<|de|>"
            languages.append(token[2:-2])
    tokenizers = {lang: _tokenizer(whisper, lang) for lang in set(languages)}
    previous = [
        tokenizers[lang].encode(" " + r.prompt[-_PROMPT_CHARS:].strip()) if r.prompt else []
        for r, lang in zip(requests, languages, strict=True)
    ]
    # CTranslate2 needs <|startoftranscript|> at the same position in every prompt of a
    # batch, so prompts are cut to the same number of tokens (their last ones), in a few
    # buckets: one generation pass per bucket, on the one encoder output.
    buckets: dict[int, list[int]] = {}
    for index, tokens in enumerate(previous):
        size = max(b for b in _PROMPT_BUCKETS if b <= len(tokens))
        buckets.setdefault(size, []).append(index)
    suppress = get_suppressed_tokens(next(iter(tokenizers.values())), [-1])
    results: list[Any] = [None] * len(requests)
    for size, chosen in buckets.items():
        prompts = [
            whisper.get_prompt(
                tokenizers[languages[i]], previous_tokens=previous[i][-size:] if size else []
            )
            for i in chosen
        ]
        generated = whisper.model.generate(
            _rows(encoded, chosen, len(requests)),
            prompts,
            beam_size=beam_size,
            max_length=whisper.max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=suppress,
            sampling_temperature=0.0,
        )
        for i, result in zip(chosen, generated, strict=True):
            results[i] = result
    split: list[list[dict[str, Any]]] = []
    scores: list[tuple[float, float]] = []
    for request, language, result in zip(requests, languages, results, strict=True):
        tokens = list(result.sequences_ids[0])
        duration = min(request.audio.shape[0] / SAMPLE_RATE, WINDOW_SECONDS)
        split.append(_split(tokens, tokenizers[language], duration))
        logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        scores.append((float(logprob), float(result.no_speech_prob)))
    _add_words(whisper, requests, languages, tokenizers, encoded, split)
    out = []
    for segments, language, (logprob, no_speech) in zip(split, languages, scores, strict=True):
        out.append(
            Hypothesis(
                tuple(
                    HypSegment(
                        float(s["start"]),
                        float(s["end"]),
                        str(s["text"]).strip(),
                        logprob,
                        no_speech,
                        tuple(
                            Word(
                                float(w["start"]),
                                float(w["end"]),
                                str(w["word"]).strip(),
                                float(w["probability"]),
                            )
                            for w in s.get("words", ())
                            if str(w["word"]).strip()
                        ),
                    )
                    for s in segments
                ),
                language,
            )
        )
    return out


def _add_words(
    whisper: Any,
    requests: Sequence[BufferRequest],
    languages: Sequence[str],
    tokenizers: dict[str, Tokenizer],
    encoded: Any,
    split: list[list[dict[str, Any]]],
) -> None:
    """Word timestamps for every segment of `split`, by alignment on `encoded`, one
    alignment pass per language; buffers with no text are left alone."""
    for segments, language in zip(split, languages, strict=True):
        tokenizer = tokenizers[language]
        for segment in segments:
            segment["text"] = tokenizer.decode(segment["tokens"])
    for language, tokenizer in tokenizers.items():
        chosen = [i for i, lang in enumerate(languages) if lang == language and split[i]]
        if not chosen:
            continue
        subset = _rows(encoded, chosen, len(requests))
        sizes = [
            max(1, math.ceil(min(requests[i].audio.shape[0] / SAMPLE_RATE, WINDOW_SECONDS) * 100))
            for i in chosen
        ]
        whisper.add_word_timestamps(
            [split[i] for i in chosen], tokenizer, subset, sizes, _PREPEND, _APPEND, 0.0
        )
