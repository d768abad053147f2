"""Silero VAD run incrementally on a leg's audio as it arrives.

The model is the Silero ONNX model bundled with faster-whisper (`get_vad_model`, one
session shared by every leg; ONNX Runtime sessions may be run from several threads). It
reads 512-sample frames (32 ms at 16 kHz), each with the last 64 samples of the previous
frame as context, and carries an LSTM state from frame to frame. `get_speech_timestamps`
runs it over a whole recording at once; here the same frames, context and state are
kept per leg between calls, so the probabilities are the ones the batch VAD computes on
the same audio (a test compares them).

Speech is found with the batch rules (`faster_whisper.vad.get_speech_timestamps`): a
frame at or above `threshold` starts speech; speech ends at the first frame below
`threshold - 0.15` that is followed by `min_silence_ms` without a frame back at or above
`threshold`. Batch uses 2 s of silence (it only splits long audio); live uses 500 ms by
default, so each pause in speech closes an utterance and its words are made final
quickly. There is no padding here: times are those of the frames themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import get_vad_model  # type: ignore[import-untyped]

__all__ = ["FRAME", "SpeechEdge", "StreamingVad"]

FRAME = 512  # samples per Silero frame at 16 kHz
_CONTEXT = 64


@dataclass(frozen=True)
class SpeechEdge:
    """Speech starting (`end` None) or ending; positions in samples of the leg."""

    start: int
    end: int | None


class StreamingVad:
    """The speech/silence state of one leg, fed 16 kHz float32 samples in any amounts."""

    def __init__(self, *, threshold: float = 0.5, min_silence_ms: int = 500) -> None:
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        self.min_silence = 16 * min_silence_ms
        self._model = get_vad_model()
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._frames = 0  # frames run so far
        self.speaking = False
        self.speech_start = 0
        self._temp_end = 0

    @property
    def position(self) -> int:
        """Samples the VAD has judged so far (a multiple of `FRAME`)."""
        return self._frames * FRAME

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each whole frame completed by `audio` (the rest waits)."""
        data = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        whole = data.shape[0] // FRAME * FRAME
        self._pending = data[whole:].copy()
        if whole == 0:
            return np.zeros(0, dtype=np.float32)
        frames = data[:whole].reshape(-1, FRAME)
        contexts = np.concatenate([self._context[None, :], frames[:-1, -_CONTEXT:]])
        self._context = frames[-1, -_CONTEXT:].copy()
        batch = np.concatenate([contexts, frames], axis=1)
        out, self._h, self._c = self._model.session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def feed(self, audio: np.ndarray) -> list[SpeechEdge]:
        """Run the VAD over `audio` (appended to what came before) and return the edges
        of speech it completes, in order."""
        edges: list[SpeechEdge] = []
        for prob in self.probabilities(audio):
            at = self._frames * FRAME
            self._frames += 1
            if prob >= self.threshold:
                self._temp_end = 0
                if not self.speaking:
                    self.speaking = True
                    self.speech_start = at
                    edges.append(SpeechEdge(at, None))
            elif self.speaking and prob < self.neg_threshold:
                if not self._temp_end:
                    self._temp_end = at
                if at - self._temp_end >= self.min_silence:
                    edges.append(SpeechEdge(self.speech_start, self._temp_end))
                    self.speaking = False
                    self._temp_end = 0
        return edges

    def flush(self) -> list[SpeechEdge]:
        """The end of the audio: a last partial frame is run padded with zeros, and
        speech still going on ends where the audio ends."""
        end = self.position + self._pending.shape[0]
        edges: list[SpeechEdge] = []
        if self._pending.shape[0]:
            pad = np.zeros(FRAME - self._pending.shape[0], dtype=np.float32)
            edges = self.feed(pad)
        if self.speaking:  # as in batch: speech going on at the end lasts to the end
            edges.append(SpeechEdge(self.speech_start, end))
            self.speaking = False
            self._temp_end = 0
        return edges
