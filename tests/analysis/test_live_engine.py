"""The streaming engine on real audio with the real Whisper tiny.en model.

Audio is fed as a live capture feeds it: 20 ms frames of int16 samples at the file's own
rate (8 kHz for the telephone clip). "As fast as possible" feeds the whole leg before the
engine catches up (each utterance is then decoded once, at its end); "paced" feeds half
a second at a time and lets the engine catch up after each step (`wait_idle`), so the
LocalAgreement path (partials, then finals) runs as on a machine fast enough for real
time, deterministically.
"""

from __future__ import annotations

import threading
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

from callvault.analysis import AsrParams, Transcriber, decode_legs, resolve_model
from callvault.analysis.live import (
    LegStream,
    LiveWord,
    SpeechSpan,
    StreamEngine,
    StreamParams,
    WordsUpdate,
)
from callvault.analysis.live._vad import StreamingVad
from callvault.analysis.live._whisper import BufferRequest, decode_batch
from callvault.errors import AnalysisError

from .conftest import word_error_rate

pytestmark = pytest.mark.slow

OSR = "en/OSR_us_000_0034_8k.wav"
STEREO = "en/stereo_diarization.wav"
FRAME_S = 0.02


def _pcm(path: Path) -> tuple[list[np.ndarray], int]:
    """The int16 samples of each channel of a PCM WAV and its rate."""
    with wave.open(str(path)) as source:
        assert source.getsampwidth() == 2
        rate, channels = source.getframerate(), source.getnchannels()
        data = np.frombuffer(source.readframes(source.getnframes()), dtype=np.int16)
    return [data[c::channels].copy() for c in range(channels)], rate


def _frames(pcm: np.ndarray, rate: int) -> Iterator[np.ndarray]:
    step = int(rate * FRAME_S)
    for i in range(0, pcm.shape[0], step):
        yield pcm[i : i + step]


class Recorder:
    """Collects a leg's updates and checks, as they come, that finals are never revised
    and partials only ever extend past the finals."""

    def __init__(self) -> None:
        self.updates: list[WordsUpdate] = []
        self.finals: list[LiveWord] = []
        self.spans: list[SpeechSpan] = []
        self.thread_names: set[str] = set()

    def update(self, update: WordsUpdate) -> None:
        self.thread_names.add(threading.current_thread().name)
        floor = self.finals[-1].end if self.finals else 0.0
        for word in update.final:
            assert word.start >= floor - 1e-9, (word, floor)
            assert word.end >= word.start
            floor = word.end
        self.finals.extend(update.final)
        for word in update.partial:
            assert word.start >= floor - 1e-6, (word, floor)
        self.updates.append(update)

    def speech(self, span: SpeechSpan) -> None:
        self.spans.append(span)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.finals)


@pytest.fixture(scope="module")
def model(model_cache: Path):  # type: ignore[no-untyped-def]
    return resolve_model("en", cache_dir=model_cache)


@pytest.fixture(scope="module")
def engine(model) -> Iterator[StreamEngine]:  # type: ignore[no-untyped-def]
    with StreamEngine(model) as running:
        yield running


def test_streaming_wer_is_close_to_batch_on_telephone_audio(
    engine: StreamEngine, model, eval_data: Path, references: dict[str, str]
) -> None:
    (pcm,), rate = _pcm(eval_data / "asr" / OSR)
    assert rate == 8000
    seen = Recorder()
    leg = engine.open_leg(
        0, sample_rate=rate, language="en", on_update=seen.update, on_speech=seen.speech
    )
    for frame in _frames(pcm, rate):
        leg.feed(frame)
    assert leg.call_time == pytest.approx(pcm.shape[0] / rate)
    leg.finish()
    stream_wer = word_error_rate(references[OSR], seen.text)

    audio = decode_legs(lambda: (eval_data / "asr" / OSR).open("rb"))[0]
    batch = Transcriber(model).transcribe_leg(audio, language="en", params=AsrParams(beam_size=1))
    batch_text = " ".join(s.text for s in batch.segments)
    batch_wer = word_error_rate(references[OSR], batch_text)
    assert stream_wer <= batch_wer + 0.10, (stream_wer, batch_wer, seen.text)
    assert seen.thread_names == {"callvault-live"}  # callbacks run on the engine thread
    assert all(u.language == "en" and u.channel == 0 for u in seen.updates)
    assert 0.0 <= seen.finals[0].start and seen.finals[-1].end <= leg.call_time + 0.05
    # Speech as the batch VAD finds it with the live silence (500 ms), no padding: each
    # stretch is reported opened, then closed.
    expected = get_speech_timestamps(
        audio, VadOptions(min_silence_duration_ms=500, speech_pad_ms=0)
    )
    closed = [(s.start, s.end) for s in seen.spans if s.end is not None]
    assert closed == [(s["start"] / 16000, s["end"] / 16000) for s in expected]
    assert [s.start for s in seen.spans if s.end is None] == [s for s, _ in closed]


def test_paced_feed_gives_partials_then_finals(
    engine: StreamEngine, eval_data: Path, references: dict[str, str]
) -> None:
    (pcm,), rate = _pcm(eval_data / "asr" / OSR)
    seen = Recorder()
    leg = engine.open_leg(3, sample_rate=rate, language="en", on_update=seen.update)
    before = engine.decodes
    step = rate // 2
    finals_before_end = 0
    for i in range(0, pcm.shape[0], step):
        for frame in _frames(pcm[i : i + step], rate):
            leg.feed(frame)
        assert engine.wait_idle(timeout=60)
    finals_before_end = len(seen.finals)
    leg.finish()
    assert word_error_rate(references[OSR], seen.text) <= 0.15, seen.text
    partials = [u for u in seen.updates if u.partial]
    assert len(partials) >= 10  # every sentence was shown before it was final
    assert finals_before_end >= 0.8 * len(seen.finals)  # made final during the call
    # Agreement made words final inside an utterance, not only at its end.
    assert any(u.final and u.partial for u in seen.updates)
    assert engine.decodes - before >= 20


def test_silence_costs_no_decode(model, eval_data: Path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(11)
    silence = np.zeros(8000 * 10, dtype=np.int16)
    silence[8000 * 5 :] = (rng.standard_normal(8000 * 5) * 30).astype(np.int16)  # -60 dBFS
    seen = Recorder()
    with StreamEngine(model) as engine:
        leg = engine.open_leg(
            1, sample_rate=8000, language="en", on_update=seen.update, on_speech=seen.speech
        )
        for frame in _frames(silence, 8000):
            leg.feed(frame)
        assert engine.wait_idle(timeout=30)
        leg.finish()
        assert engine.decodes == 0
    assert seen.updates == [] and seen.spans == []
    assert leg.call_time == pytest.approx(10.0)


def test_legs_of_several_calls_share_one_model(
    engine: StreamEngine, model, eval_data: Path, references: dict[str, str]
) -> None:
    assert StreamEngine(model).whisper is engine.whisper  # closed at once below
    assert Transcriber(model)._whisper is engine.whisper
    names = ["en/jfk.flac", "en/ljspeech/LJ001-0002.wav", "en/ljspeech/LJ001-0008.wav"]
    seen = [Recorder() for _ in names]
    legs = []
    for index, (name, recorder) in enumerate(zip(names, seen, strict=True)):
        audio = decode_legs(lambda name=name: (eval_data / "asr" / name).open("rb"))[0]
        # float32 at 16 kHz this time: the other input format.
        leg = engine.open_leg(
            index, sample_rate=16000, language="en", on_update=recorder.update, start_time=100.0
        )
        legs.append((leg, audio))

    def run(leg, audio) -> None:  # type: ignore[no-untyped-def]
        for i in range(0, audio.shape[0], 320):
            leg.feed(audio[i : i + 320])
        leg.finish()

    threads = [threading.Thread(target=run, args=pair) for pair in legs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for name, recorder in zip(names, seen, strict=True):
        assert word_error_rate(references[name], recorder.text) <= 0.2, (name, recorder.text)
        assert recorder.finals[0].start >= 100.0  # call time starts at start_time
        assert {u.channel for u in recorder.updates} == {names.index(name)}


def test_each_leg_of_a_stereo_call_hears_its_own_party(
    engine: StreamEngine, eval_data: Path, references: dict[str, str]
) -> None:
    channels, rate = _pcm(eval_data / "asr" / STEREO)
    assert len(channels) == 2
    seen = [Recorder(), Recorder()]
    legs = [
        engine.open_leg(c, sample_rate=rate, language="en", on_update=seen[c].update)
        for c in range(2)
    ]
    for i in range(0, channels[0].shape[0], int(rate * FRAME_S)):
        for leg, pcm in zip(legs, channels, strict=True):
            leg.feed(pcm[i : i + int(rate * FRAME_S)])
    for leg in legs:
        leg.finish()
    own = [word_error_rate(references[f"{STEREO}#{s}"], seen[c].text) for c, s in enumerate("LR")]
    other = [
        word_error_rate(references[f"{STEREO}#{s}"], seen[1 - c].text) for c, s in enumerate("LR")
    ]
    assert max(own) <= 0.35, (own, [r.text for r in seen])
    assert min(other) >= 0.7, other


def test_finish_without_audio_and_feed_after_finish(engine: StreamEngine) -> None:
    seen = Recorder()
    leg = engine.open_leg(9, sample_rate=8000, language="en", on_update=seen.update)
    leg.finish()
    assert seen.updates == []
    with pytest.raises(AnalysisError, match="leg 9 is finished; open a new leg"):
        leg.feed(np.zeros(160, dtype=np.int16))
    with pytest.raises(ValueError, match="feed takes mono samples"):
        engine.open_leg(9, sample_rate=8000, language="en", on_update=seen.update).feed(
            np.zeros((2, 160), dtype=np.int16)
        )


def test_a_closed_engine_refuses_legs(model) -> None:  # type: ignore[no-untyped-def]
    engine = StreamEngine(model)
    engine.close()
    with pytest.raises(AnalysisError, match="the live transcription engine is closed"):
        engine.open_leg(0, sample_rate=8000, language="en", on_update=lambda u: None)


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match="vad_speech_pad_ms must be shorter"):
        StreamParams(vad_speech_pad_ms=600)
    with pytest.raises(ValueError, match="Whisper's window"):
        StreamParams(buffer_trim_s=28.0, max_buffer_s=31.0)


def test_incremental_vad_matches_the_batch_vad(eval_data: Path) -> None:
    audio = decode_legs(lambda: (eval_data / "asr" / OSR).open("rb"))[0]
    whole = audio.shape[0] // 512 * 512
    batch = np.asarray(get_vad_model()(audio[:whole].copy())).reshape(-1)
    vad = StreamingVad(min_silence_ms=500)
    edges = []
    probabilities = []
    for i in range(0, audio.shape[0], 320):  # 20 ms at a time
        chunk = audio[i : i + 320]
        probabilities.append(vad.probabilities(chunk))
    assert np.abs(np.concatenate(probabilities)[: batch.size] - batch).max() < 1e-3
    vad = StreamingVad(min_silence_ms=500)
    for i in range(0, audio.shape[0], 1600):
        edges += vad.feed(audio[i : i + 1600])
    edges += vad.flush()
    spans = [(e.start, e.end) for e in edges if e.end is not None]
    expected = get_speech_timestamps(
        audio, VadOptions(min_silence_duration_ms=500, speech_pad_ms=0)
    )
    assert spans == [(s["start"], s["end"]) for s in expected]


def test_a_batch_decodes_each_buffer_with_its_own_prompt(
    engine: StreamEngine, eval_data: Path
) -> None:
    audio = decode_legs(lambda: (eval_data / "asr" / OSR).open("rb"))[0]
    first, second = audio[16000:64000], audio[72000:112000]
    together = decode_batch(
        engine.whisper,
        [
            BufferRequest(first, "", "en"),
            BufferRequest(second, "A golden ring will please most any girl.", "en"),
        ],
    )
    alone = decode_batch(
        engine.whisper, [BufferRequest(second, "A golden ring will please most any girl.", "en")]
    )
    assert together[1].segments[0].text == alone[0].segments[0].text
    words = [w for s in together[0].segments for w in s.words]
    assert "ring" in [w.text.strip(".,").lower() for w in words]
    assert all(0.0 <= w.start <= w.end <= 3.05 for w in words)


def test_long_speech_is_trimmed_and_stays_within_whisper_window(
    engine: StreamEngine, eval_data: Path, references: dict[str, str]
) -> None:
    # LJSpeech clips back to back: about 40 s with pauses too short to end an utterance,
    # so the buffer has to be cut at committed segments (buffer_trim_s, max_buffer_s).
    names = [f"en/ljspeech/LJ001-000{i}.wav" for i in (1, 3, 4, 5, 6)]
    pcm = np.concatenate([_pcm(eval_data / "asr" / name)[0][0] for name in names])
    rate = _pcm(eval_data / "asr" / names[0])[1]
    longest: list[float] = []
    seen = Recorder()
    legs: list[LegStream] = []

    def update(update: WordsUpdate) -> None:  # on the engine thread: the buffer is still
        longest.append((legs[0]._buf_end - legs[0]._buf_start) / 16000)
        seen.update(update)

    leg = engine.open_leg(4, sample_rate=rate, language="en", on_update=update)
    legs.append(leg)
    step = rate // 2
    for i in range(0, pcm.shape[0], step):
        for frame in _frames(pcm[i : i + step], rate):
            leg.feed(frame)
        assert engine.wait_idle(timeout=60)
    leg.finish()
    reference = " ".join(references[name] for name in names)
    assert word_error_rate(reference, seen.text) <= 0.2, seen.text
    assert max(longest) <= engine.params.max_buffer_s + 1.0
    assert min(longest[len(longest) // 2 :]) < engine.params.buffer_trim_s  # it was cut


def test_whisper_output_is_split_at_timestamps_and_keeps_an_unfinished_tail(
    engine: StreamEngine,
) -> None:
    from faster_whisper.tokenizer import Tokenizer

    from callvault.analysis.live._whisper import _split

    tokenizer = Tokenizer(engine.whisper.hf_tokenizer, False, task="transcribe", language=None)
    at = tokenizer.timestamp_begin
    hello, world = tokenizer.encode(" Hello"), tokenizer.encode(" world")
    tokens = [at, *hello, at + 50, at + 50, *world]  # the second segment never closed
    segments = _split(tokens, tokenizer, duration=2.5)
    assert [(s["start"], s["end"], s["tokens"]) for s in segments] == [
        (0.0, 1.0, hello),
        (1.0, 2.5, world),
    ]


def test_a_multilingual_model_detects_the_language_of_a_leg(
    base_model, eval_data: Path, references: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    name = "de/thorsten/e3b0d27c39d2a719d60f4ad335f04b15.wav"
    audio = decode_legs(lambda: (eval_data / "asr" / name).open("rb"))[0]
    seen = Recorder()
    with StreamEngine(base_model) as engine:
        leg = engine.open_leg(0, sample_rate=16000, language=None, on_update=seen.update)
        for i in range(0, audio.shape[0], 320):
            leg.feed(audio[i : i + 320])
        leg.finish()
    assert {u.language for u in seen.updates} == {"de"}
    wer = word_error_rate(references[name], seen.text)
    assert wer <= 0.35, (wer, seen.text)
