"""Streaming speech recognition of calls in progress: one Whisper model, every leg.

Method (whisper_streaming's LocalAgreement-2, Macháček et al. 2023, VAD-gated):

* Each leg is fed its samples as they arrive (`LegStream.feed`, typically 20 ms RTP
  frames at 8 kHz). They are brought to 16 kHz exactly as the batch pipeline brings a
  recording (`_decode`: PyAV's resampler to planar float, kept per leg so the stream is
  resampled as the file would be), and Silero VAD runs on them incrementally (`_vad`).
* A leg's rolling buffer holds its audio since the last trim point, and only while there
  is speech: in silence it is cut to a short pre-roll, so a leg with no speech costs no
  Whisper decode at all.
* While a leg is speaking and at least `min_chunk_s` of new audio has come since its last
  decode, it is due: its buffer is decoded with the text committed before the buffer as
  prompt. The words on which the last two hypotheses agree, as a prefix after the
  committed words, become final (never revised); the rest of the newest hypothesis is
  the partial. When the VAD finds the end of the speech (`vad_min_silence_ms` of
  silence, shorter than batch's 2 s), the utterance is decoded once more up to its end
  plus `vad_speech_pad_ms` (400 ms, as batch pads speech) and all its words become
  final; the buffer starts afresh. Every utterance that ended since a leg's last decode
  is decoded in that one pass, so a leg that fell behind catches up in one round. When
  Whisper stops early and leaves 0.8 s or more of the utterance's speech after its last
  word, that rest is decoded again on its own (where `transcribe` would decode its
  30-second window again from the last timestamp).
* During long speech without pauses the buffer is cut at the end of a committed
  segment once it is longer than `buffer_trim_s` (as whisper_streaming's "segment"
  trimming does), and at the last committed word past `max_buffer_s` whatever happens
  (Whisper hears 30 s at most).
* Every hypothesis goes through the batch pipeline's hallucination screen
  (`_screen.screen_segment`) before it can agree with anything.

One worker thread owns the model (`_asr._load`: the model a `Transcriber` with the same
directory, threads and compute type uses is the same object, loaded once per process).
Legs that are due are decoded together in one batch (`_whisper.decode_batch`: one
encoder pass for up to `max_batch` buffers, one generation pass per prompt length, since
CTranslate2 needs the prompts of a batch aligned; on 2 CPU cores four 10 s buffers took
~1.8 s batched against ~2.6 s one after the other), oldest-due first, so
with many calls every leg waits about one round at most. Resampling and the VAD run on
the same thread, so `feed` only appends to a queue and never waits for the model.

Callbacks (`on_update`, `on_speech`) run on the engine's worker thread, in order per
leg; they must be quick (hand the update to a queue) and must not call `finish`. An
exception in a callback is logged by type (never its text) and ignored.

Measured (bench/live_engine.py, 22 English clips brought to 8 kHz telephone band, on
the 2-core machine shared with other work): fed at a pace the engine keeps up with, WER
6.3 % against 5.2 % for the batch `Transcriber` and for bare faster-whisper (6.1 % fed
all at once); on one leg at real-time pace final words came 1.5 s (p50) and 2.2 s (p95)
after they were spoken. The encoder's cost per buffer does not shrink with batching
(only the decoder's does), so it is given the buffer plus `encoder_context_s` (10 s)
rather than Whisper's 30 s window: the same WER fed at pace (6.3 % with 30 s windows,
5.2 % all at once), about twice the throughput. Several legs speaking at once still
exceed two cores (the bench prints p50/p95 at 4 and 8 legs).

Limits: no temperature fallback (a buffer is decoded again within a second anyway);
word times are Whisper's cross-attention alignment, in call time (the leg's
`start_time` plus the samples fed), as in the batch transcript; finals are made when two
hypotheses agree, so a word usually becomes final one to two `min_chunk_s` steps plus
the decode time after it was spoken, or at the end of its utterance.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import av
import numpy as np

from callvault.analysis._asr import _load
from callvault.analysis._decode import SAMPLE_RATE
from callvault.analysis._models import ResolvedModel
from callvault.analysis._records import Word
from callvault.analysis._screen import ScreenStats, screen_segment
from callvault.analysis.live._events import LiveWord, SpeechSpan, WordsUpdate
from callvault.analysis.live._vad import SpeechEdge, StreamingVad
from callvault.analysis.live._whisper import BufferRequest, Hypothesis, decode_batch
from callvault.errors import AnalysisError

__all__ = ["LegStream", "StreamEngine", "StreamParams"]

logger = logging.getLogger("callvault.analysis")

# How much audio a leg's queue holds before the worker is woken for it.
_WAKE_SECONDS = 0.1
# whisper_streaming drops words of a new hypothesis that start before the last committed
# word's end less this much, and compares up to five words at the seam.
_SEAM_SLACK = 0.1
_SEAM_WORDS = 5
_SEAM_REACH = 1.0
# Speech this long after the last word of a decoded utterance was not heard: decode it again.
_TAIL_SECONDS = 0.8


@dataclass(frozen=True)
class StreamParams:
    """Options of the streaming engine; the defaults are tuned for 2 CPU cores and
    Whisper tiny.en.

    `min_chunk_s`: a speaking leg is decoded again at most this often. `buffer_trim_s`:
    the buffer is cut at a committed segment's end once longer than this;
    `max_buffer_s`: at the last committed word once longer than this. `vad_min_silence_ms`
    of silence end an utterance (batch: 2000); `vad_speech_pad_ms` of audio are kept
    before speech starts and after it ends. `max_batch`: legs decoded in one pass.
    `encoder_context_s`: the encoder hears the longest buffer of the batch plus this
    many seconds (in 5 s steps, at most 30 s); None gives it Whisper's 30 s window
    always, as it was trained (slower: see the module docstring).
    """

    min_chunk_s: float = 1.0
    buffer_trim_s: float = 15.0
    max_buffer_s: float = 25.0
    beam_size: int = 1
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 500
    vad_speech_pad_ms: int = 400
    max_batch: int = 8
    encoder_context_s: float | None = 10.0

    def __post_init__(self) -> None:
        if self.vad_speech_pad_ms >= self.vad_min_silence_ms:
            raise ValueError("vad_speech_pad_ms must be shorter than vad_min_silence_ms")
        if not 0 < self.buffer_trim_s < self.max_buffer_s <= 30:
            raise ValueError("need 0 < buffer_trim_s < max_buffer_s <= 30 (Whisper's window)")
        if self.min_chunk_s <= 0 or self.max_batch < 1 or self.beam_size < 1:
            raise ValueError("min_chunk_s, max_batch and beam_size must be positive")


def _key(text: str) -> str:
    """A word as agreement compares it: lower case, letters and digits only."""
    return re.sub(r"[^\w]", "", text.lower())


class LegStream:
    """The stream of one leg: `feed` samples, then `finish`. Made by `StreamEngine.open_leg`.

    `feed` and `finish` belong to one thread (the leg's producer); all other state here
    is the engine worker's.
    """

    def __init__(
        self,
        engine: StreamEngine,
        channel: int,
        *,
        sample_rate: int,
        language: str | None,
        on_update: Callable[[WordsUpdate], None],
        on_speech: Callable[[SpeechSpan], None] | None,
        start_time: float,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        self.channel = channel
        self.sample_rate = sample_rate
        self.start_time = start_time
        self._engine = engine
        self._on_update = on_update
        self._on_speech = on_speech
        # Producer side (guarded by the engine's lock).
        self._inbox: list[np.ndarray] = []
        self._inbox_samples = 0
        self._fed = 0
        self._finishing = False
        self._done = threading.Event()
        # Worker side.
        params = engine.params
        self.language = language
        self._resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)
        self._vad = StreamingVad(
            threshold=params.vad_threshold, min_silence_ms=params.vad_min_silence_ms
        )
        self._pad = int(params.vad_speech_pad_ms * SAMPLE_RATE / 1000)
        self._chunks: list[np.ndarray] = []
        self._buf_start = 0  # 16 kHz sample of the leg where the buffer begins
        self._buf_end = 0  # samples resampled so far
        self._decoded_to = 0  # buffer end at the last decode
        self._decoding_to = 0  # where the buffer sent to the model ends
        self._due_since: float | None = None
        self._flushes: deque[int] = deque()  # ends of utterances (samples) to make final
        self._committed: list[LiveWord] = []
        self._previous: list[LiveWord] = []  # the newest hypothesis after the committed words
        self._segment_ends: list[float] = []  # call times of the newest hypothesis's segments
        self._flushed_input = False
        self._shown_partial = False
        self.screened = ScreenStats()

    # -- producer side ---------------------------------------------------------------

    @property
    def call_time(self) -> float:
        """Call time of the end of the audio fed so far."""
        return self.start_time + self._fed / self.sample_rate

    @property
    def heard_time(self) -> float:
        """Call time up to which the engine has resampled and VAD-judged the leg's audio
        (behind `call_time` while the worker catches up): speech spans before it are
        known. Safe to read from any thread."""
        return self._time(self._buf_end)

    def feed(self, pcm: np.ndarray) -> None:
        """Queue int16 (or float32 in -1..1) mono samples at the leg's sample rate; never
        waits for the model. A gap in the call is fed as silence (zeros)."""
        samples = np.asarray(pcm)
        if samples.ndim != 1:
            raise ValueError("feed takes mono samples (a 1-D array)")
        if samples.dtype != np.int16:
            samples = samples.astype(np.float32)
        else:
            samples = samples.copy()
        self._engine._queue(self, samples)

    def finish(self) -> None:
        """End of the leg: what is pending is decoded and emitted as final; returns when
        the last update has been delivered."""
        self._engine._request_finish(self)
        self._done.wait()
        self._engine._raise_if_failed()

    # -- worker side -----------------------------------------------------------------

    def _time(self, sample: int) -> float:
        return self.start_time + sample / SAMPLE_RATE

    def _resample(self, chunks: Sequence[np.ndarray], final: bool) -> np.ndarray:
        out: list[np.ndarray] = []
        for chunk in chunks:
            fmt = "s16" if chunk.dtype == np.int16 else "flt"
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format=fmt, layout="mono")
            frame.sample_rate = self.sample_rate
            out.extend(block.to_ndarray()[0] for block in self._resampler.resample(frame))
        if final and not self._flushed_input:
            self._flushed_input = True
            out.extend(block.to_ndarray()[0] for block in self._resampler.resample(None))
        if not out:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    def _ingest(self, chunks: Sequence[np.ndarray], final: bool) -> list[SpeechSpan]:
        """Resample and VAD what was fed; returns the speech spans it completes."""
        audio = self._resample(chunks, final)
        if audio.shape[0]:
            self._chunks.append(audio)
            self._buf_end += audio.shape[0]
        edges = self._vad.feed(audio)
        if final:
            edges += self._vad.flush()
        spans = []
        for edge in edges:
            spans.append(self._on_edge(edge))
        if not self._vad.speaking and not self._flushes and not self._previous:
            self._cut(max(self._buf_start, self._buf_end - self._pad))  # keep a pre-roll
        return spans

    def _on_edge(self, edge: SpeechEdge) -> SpeechSpan:
        if edge.end is None:
            if not self._flushes:  # the buffer starts a pre-roll before the speech
                self._cut(edge.start - self._pad)
            self._decoded_to = max(self._decoded_to, edge.start)
            return SpeechSpan(self.channel, self._time(edge.start), None)
        self._flushes.append(edge.end)
        return SpeechSpan(self.channel, self._time(edge.start), self._time(edge.end))

    def _audio(self, up_to: int | None = None) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        audio = self._chunks[0] if self._chunks else np.zeros(0, dtype=np.float32)
        if up_to is not None:
            audio = audio[: max(0, up_to - self._buf_start)]
        return audio

    def _flush_point(self, speech_end: int) -> int:
        """Where the buffer is decoded to for an utterance ending at `speech_end`."""
        return min(self._buf_end, speech_end + self._pad)

    def _sample(self, call_time: float) -> int:
        return int(round((call_time - self.start_time) * SAMPLE_RATE))

    def _cut(self, at: int) -> None:
        """Drop the buffer's audio before sample `at`."""
        at = min(max(at, self._buf_start), self._buf_end)
        if at == self._buf_start:
            return
        audio = self._audio()
        self._chunks = [audio[at - self._buf_start :].copy()]
        self._buf_start = at

    def _due(self, now: float) -> bool:
        speaking = self._vad.speaking and (
            self._buf_end - self._decoded_to >= self._engine.params.min_chunk_s * SAMPLE_RATE
        )
        if self._flushes or speaking:
            if self._due_since is None:
                self._due_since = now
            return True
        self._due_since = None
        return False

    def _request(self) -> BufferRequest:
        # Whisper hears 30 s: a buffer grown past `max_buffer_s` (the engine fell behind)
        # is decoded up to there and the rest next round.
        limit = self._buf_start + int(self._engine.params.max_buffer_s * SAMPLE_RATE)
        up_to = min(self._buf_end, limit)
        if self._flushes:
            # Every utterance that ended since the last decode is decoded in one go (up
            # to the limit): one decode per leg and round, however far behind.
            fitting = [self._flush_point(end) for end in self._flushes]
            fitting = [at for at in fitting if at <= limit]
            up_to = fitting[-1] if fitting else min(self._flush_point(self._flushes[0]), limit)
        self._decoding_to = up_to
        words = [w for w in self._committed if w.end <= self._time(self._buf_start) + 1e-6]
        prompt = " ".join(w.text for w in words[-_SEAM_WORDS * 10 :])
        return BufferRequest(self._audio(up_to), prompt, self.language)

    def _words_of(self, hypothesis: Hypothesis) -> tuple[list[LiveWord], list[float]]:
        offset = self._time(self._buf_start)
        words: list[LiveWord] = []
        ends: list[float] = []
        for segment in hypothesis.segments:
            screened = screen_segment(
                segment.words,
                segment.text,
                language=hypothesis.language,
                avg_logprob=segment.avg_logprob,
                no_speech_prob=segment.no_speech_prob,
                stats=self.screened,
            )
            kept: Sequence[Word] = screened.words if screened.dropped else segment.words
            words.extend(
                LiveWord(offset + w.start, offset + w.end, w.text, w.confidence) for w in kept
            )
            ends.append(offset + segment.end)
        return words, ends

    def _apply(self, hypothesis: Hypothesis) -> WordsUpdate:
        """LocalAgreement-2 on the newest hypothesis; returns the update to emit."""
        if self.language is None:
            self.language = hypothesis.language
        flushing = bool(self._flushes)
        flush_at = self._decoding_to
        speech_end = flush_at
        while self._flushes and self._flush_point(self._flushes[0]) <= flush_at:
            speech_end = self._flushes.popleft()
        words, ends = self._words_of(hypothesis)
        last_end = self._committed[-1].end if self._committed else -1.0
        new = [w for w in words if w.start > last_end - _SEAM_SLACK]
        if self._committed and new and new[0].start - last_end < _SEAM_REACH:
            # Words at the seam that the committed text already ends with are the same
            # words heard again (whisper_streaming's n-gram check).
            tail = [_key(w.text) for w in self._committed[-_SEAM_WORDS:]]
            for size in range(min(len(tail), len(new)), 0, -1):
                if tail[-size:] == [_key(w.text) for w in new[:size]]:
                    new = new[size:]
                    break
        if flushing:
            agreed = len(new)
        else:
            agreed = 0
            while agreed < min(len(new), len(self._previous)) and _key(new[agreed].text) == _key(
                self._previous[agreed].text
            ):
                agreed += 1
        final = self._ordered(new[:agreed], last_end)
        self._committed.extend(final)
        self._previous = new[agreed:]
        self._segment_ends = ends
        self._decoded_to = flush_at
        if flushing:
            self._previous = []
            heard = self._sample(final[-1].end) if final else flush_at
            if speech_end - heard >= _TAIL_SECONDS * SAMPLE_RATE:
                # Whisper ended early and left speech unheard (as a 30-second window of
                # `transcribe` does, which then decodes again from there): the rest of
                # the utterance is decoded on its own next round.
                self._cut(heard)
                self._flushes.appendleft(speech_end)
            else:
                self._cut(flush_at)
        else:
            self._trim()
        floor = self._committed[-1].end if self._committed else -1.0
        partial = tuple(w for w in self._previous if w.start >= floor - 1e-6)
        return WordsUpdate(self.channel, tuple(final), partial, self.language)

    @staticmethod
    def _ordered(words: Sequence[LiveWord], after: float) -> list[LiveWord]:
        """`words` with times made monotonic after `after` (alignment may overlap a word
        with the one before it by a few hundredths)."""
        out = []
        for word in words:
            start = max(word.start, after)
            end = max(word.end, start)
            out.append(LiveWord(start, end, word.text, word.confidence))
            after = end
        return out

    def _trim(self) -> None:
        """whisper_streaming's segment trimming, and a hard cut before 30 s."""
        params = self._engine.params
        length = (self._buf_end - self._buf_start) / SAMPLE_RATE
        if length <= params.buffer_trim_s or not self._committed:
            return
        done = self._committed[-1].end
        ends = [e for e in self._segment_ends[:-1] if e <= done + 1e-6]
        if ends:
            self._cut(self._sample(max(ends)))
        elif length > params.max_buffer_s:
            self._cut(self._sample(done))
        length = (self._buf_end - self._buf_start) / SAMPLE_RATE
        if length > params.max_buffer_s:  # nothing agreed for 25 s: let the words go final
            final = self._ordered(self._previous, done)
            self._committed.extend(final)
            self._previous = []
            self._cut(self._decoding_to - self._pad)

    def _finished(self) -> bool:
        return self._flushed_input and not self._flushes


class StreamEngine:
    """One shared Whisper model serving every leg of every call (batching across legs)."""

    def __init__(
        self,
        model: ResolvedModel,
        *,
        params: StreamParams = StreamParams(),
        cpu_threads: int = 2,
        compute_type: str = "int8",
    ) -> None:
        self.model = model
        self.params = params
        self.whisper = _load(model.path, cpu_threads, compute_type)
        self.decodes = 0  # buffers decoded
        self.batches = 0  # decoder passes
        self.decode_seconds = 0.0  # wall time spent in the model
        self._legs: list[LegStream] = []
        self._cond = threading.Condition()
        self._stop = False
        self._idle = False  # the worker found nothing queued and nothing due
        self._waiting_idle = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="callvault-live", daemon=True)
        self._thread.start()

    def open_leg(
        self,
        channel: int,
        *,
        sample_rate: int,
        language: str | None,
        on_update: Callable[[WordsUpdate], None],
        on_speech: Callable[[SpeechSpan], None] | None = None,
        start_time: float = 0.0,
    ) -> LegStream:
        """A new leg: `channel` is reported in its updates; `language` a primary subtag
        or None to detect it (an English-only model always uses "en")."""
        if not self.whisper.model.is_multilingual:
            language = "en"
        leg = LegStream(
            self,
            channel,
            sample_rate=sample_rate,
            language=language,
            on_update=on_update,
            on_speech=on_speech,
            start_time=start_time,
        )
        with self._cond:
            self._check_open()
            self._legs.append(leg)
        return leg

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until everything fed so far has been resampled, VAD-checked and, where
        due, decoded and emitted (False if `timeout` seconds passed first). A replay
        that calls it after each step sees what a machine fast enough for real time
        would show; at real-time pace it is not needed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._waiting_idle += 1
            self._idle = False
            self._cond.notify_all()
            try:
                while not self._idle and not self._stop:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
            finally:
                self._waiting_idle -= 1
        self._raise_if_failed()
        return True

    def close(self) -> None:
        """Stop the worker thread; legs not finished are dropped."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()
        for leg in self._legs:
            leg._done.set()

    def __enter__(self) -> StreamEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- called by legs --------------------------------------------------------------

    def _check_open(self) -> None:
        self._raise_if_failed()
        if self._stop:
            raise AnalysisError("the live transcription engine is closed")

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise AnalysisError("the live transcription engine stopped on an error") from (
                self._error
            )

    def _queue(self, leg: LegStream, samples: np.ndarray) -> None:
        with self._cond:
            self._check_open()
            if leg._finishing:
                raise AnalysisError(f"leg {leg.channel} is finished; open a new leg")
            self._idle = False
            leg._inbox.append(samples)
            leg._inbox_samples += samples.shape[0]
            leg._fed += samples.shape[0]
            if leg._inbox_samples >= _WAKE_SECONDS * leg.sample_rate:
                self._cond.notify()

    def _request_finish(self, leg: LegStream) -> None:
        with self._cond:
            self._check_open()
            leg._finishing = True
            self._idle = False
            self._cond.notify_all()

    # -- the worker ------------------------------------------------------------------

    def _has_input(self) -> bool:
        """Whether some leg has enough queued to be worth waking for (anything at all
        while someone waits for the engine to be idle)."""
        least = 1 if self._waiting_idle else None
        return any(
            leg._finishing
            and not leg._flushed_input
            or leg._inbox_samples >= (least or _WAKE_SECONDS * leg.sample_rate)
            for leg in self._legs
        )

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on a leg
            logger.error("live transcription engine stopped: %s", type(exc).__name__)
            self._error = exc
            with self._cond:
                self._stop = True
                legs = list(self._legs)
            for leg in legs:
                leg._done.set()

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            with self._cond:
                legs = list(self._legs)
                due = [leg for leg in legs if leg._due(now)]
                if not due and not self._has_input() and not self._stop:
                    if not any(leg._inbox for leg in legs):
                        self._idle = True
                        self._cond.notify_all()
                    self._cond.wait(timeout=0.25)
                if self._stop:
                    return
                taken = []
                for leg in self._legs:
                    final = leg._finishing and not leg._flushed_input
                    if leg._inbox or final:
                        taken.append((leg, leg._inbox, final))
                        leg._inbox, leg._inbox_samples = [], 0
            for leg, chunks, final in taken:
                self._deliver_speech(leg, leg._ingest(chunks, final))
            now = time.monotonic()
            due = sorted(
                (leg for leg in legs if leg._due(now)),
                key=lambda leg: leg._due_since or now,
            )[: self.params.max_batch]
            if due:
                self._decode(due)
            self._retire()

    def _decode(self, legs: Sequence[LegStream]) -> None:
        requests = [leg._request() for leg in legs]
        begun = time.perf_counter()
        hypotheses = decode_batch(
            self.whisper,
            requests,
            beam_size=self.params.beam_size,
            context_s=self.params.encoder_context_s,
        )
        self.decode_seconds += time.perf_counter() - begun
        self.decodes += len(requests)
        self.batches += 1
        for leg, hypothesis in zip(legs, hypotheses, strict=True):
            leg._due_since = None
            update = leg._apply(hypothesis)
            if update.final or update.partial or leg._shown_partial:
                leg._shown_partial = bool(update.partial)
                self._deliver(leg, update)

    def _deliver(self, leg: LegStream, update: WordsUpdate) -> None:
        try:
            leg._on_update(update)
        except Exception as exc:  # a consumer's bug must not stop every call's transcript
            logger.warning("on_update of leg %d raised %s", leg.channel, type(exc).__name__)

    def _deliver_speech(self, leg: LegStream, spans: Sequence[SpeechSpan]) -> None:
        if leg._on_speech is None:
            return
        for span in spans:
            try:
                leg._on_speech(span)
            except Exception as exc:
                logger.warning("on_speech of leg %d raised %s", leg.channel, type(exc).__name__)

    def _retire(self) -> None:
        """Legs whose input is ended and whose last utterance is decoded are done."""
        with self._cond:
            finished = [leg for leg in self._legs if leg._finished()]
            for leg in finished:
                self._legs.remove(leg)
        for leg in finished:
            leg._done.set()
