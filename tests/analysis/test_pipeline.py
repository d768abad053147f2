from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from _audio import silent_flac, wav_bytes
from callvault.analysis import (
    STAGES,
    AsrParams,
    PipelineParams,
    ResolvedModel,
    Transcript,
    TranscriptionPipeline,
    decode_legs,
)

from .conftest import word_error_rate


@pytest.fixture
def pipeline(model_cache: Path) -> TranscriptionPipeline:
    return TranscriptionPipeline(PipelineParams(model_cache, asr=AsrParams(beam_size=1)))


def test_stereo_call_has_one_speaker_per_channel(
    pipeline: TranscriptionPipeline, eval_data: Path, references: dict[str, str]
) -> None:
    path = eval_data / "asr" / "en" / "stereo_diarization.wav"
    calls: list[tuple[str, float]] = []
    transcript = pipeline.run(
        lambda: path.open("rb"),
        channels_to_speakers={0: "agent", 1: "customer"},
        language="en-US",
        hook=lambda stage, fraction: calls.append((stage, fraction)),
    )
    assert (transcript.status, transcript.language, transcript.diarized) == ("done", "en", True)
    assert (transcript.model_name, transcript.model_version) == ("whisper-tiny.en", "0.1.0")
    by_speaker = {
        speaker: " ".join(u.text for u in transcript.utterances if u.speaker == speaker)
        for speaker in ("agent", "customer")
    }
    assert {u.channel for u in transcript.utterances} == {0, 1}
    left = references["en/stereo_diarization.wav#L"]
    right = references["en/stereo_diarization.wav#R"]
    assert word_error_rate(left, by_speaker["agent"]) <= 0.1
    assert word_error_rate(right, by_speaker["customer"]) <= 0.1
    starts = [u.start for u in transcript.utterances]
    assert starts == sorted(starts)
    # Both legs speak from the start: the overlap is kept, not cut.
    assert transcript.utterances[0].end > transcript.utterances[1].start
    # The hook reports each stage in order, from 0 to 1, never going back.
    order = [stage for index, (stage, _) in enumerate(calls) if calls[index - 1][0] != stage]
    assert order == list(STAGES)
    for stage in STAGES:
        fractions = [fraction for name, fraction in calls if name == stage]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert Transcript.from_json(transcript.to_json()) == transcript


def test_default_speaker_labels_and_language_detection(
    pipeline: TranscriptionPipeline, base_model: ResolvedModel, eval_data: Path
) -> None:
    path = eval_data / "asr" / "en" / "stereo_diarization.wav"
    transcript = pipeline.run(lambda: path.open("rb"), language=None)
    assert {u.speaker for u in transcript.utterances} == {"channel 0", "channel 1"}
    assert (transcript.model_name, transcript.language) == ("whisper-base", "en")


def test_mono_without_diarization_is_one_undiarized_speaker(
    model_cache: Path, eval_data: Path, references: dict[str, str]
) -> None:
    name = "en/ljspeech/LJ001-0009.wav"
    path = eval_data / "asr" / name
    params = PipelineParams(model_cache, asr=AsrParams(beam_size=1), diarization="off")
    calls: list[str] = []
    transcript = TranscriptionPipeline(params).run(
        lambda: path.open("rb"), language="en", hook=lambda stage, _: calls.append(stage)
    )
    assert "speakers" in calls
    assert transcript.diarized is False
    assert {(u.speaker, u.channel) for u in transcript.utterances} == {("speaker", None)}
    text = " ".join(u.text for u in transcript.utterances)
    assert word_error_rate(references[name], text) <= 0.2


def test_silence_and_noise_are_no_speech(pipeline: TranscriptionPipeline) -> None:
    rng = np.random.default_rng(3)
    samples = (300 * rng.standard_normal((4 * 8000, 2))).astype("<i2")
    samples[: 2 * 8000] = 0
    data = wav_bytes(samples, 8000)
    transcript = pipeline.run(lambda: io.BytesIO(data), language="en")
    assert transcript == Transcript("no_speech", "en", "whisper-tiny.en", "0.1.0", (), True)


def test_long_pause_splits_an_utterance() -> None:
    from callvault.analysis._records import Utterance, Word
    from callvault.analysis.pipeline import _split_at_pauses

    words = (
        Word(0.0, 0.4, "Hi,", 0.9),
        Word(0.5, 0.9, "there.", 0.7),
        Word(4.0, 4.3, "Great.", 0.8),
        Word(4.4, 4.8, "Thanks.", 0.6),
    )
    whole = Utterance("customer", 0, 0.0, 4.8, "Hi, there. Great. Thanks.", 0.75, words)
    first, second = _split_at_pauses(whole, 1.5)
    assert (first.start, first.end, first.text, first.words) == (0.0, 0.9, "Hi, there.", words[:2])
    assert (second.start, second.end, second.text) == (4.0, 4.8, "Great. Thanks.")
    assert second.confidence == pytest.approx(0.7)
    assert _split_at_pauses(whole, 5.0) == [whole]


def test_dual_mono_is_detected() -> None:
    import numpy as np

    from callvault.analysis.pipeline import is_dual_mono

    rng = np.random.default_rng(0)
    voice = rng.standard_normal(16000).astype(np.float32) * 0.1
    other = rng.standard_normal(16000).astype(np.float32) * 0.1
    assert is_dual_mono([voice, voice.copy()])
    assert is_dual_mono([voice, voice + 1e-5])  # dither-level difference
    assert is_dual_mono([voice, voice * 0.97])  # like jfk.flac: 2.7 % apart
    assert not is_dual_mono([voice, voice + 0.5 * other])  # crosstalk under another voice
    assert not is_dual_mono([voice, other])
    assert not is_dual_mono([voice, np.zeros_like(voice)])  # one party silent: a real call
    assert not is_dual_mono([voice])
    assert is_dual_mono([np.zeros(10, np.float32), np.zeros(10, np.float32)])


@pytest.mark.parametrize("window_s", [600.0, 10.0], ids=["whole", "in-windows"])
def test_mono_conversation_is_diarized(model_cache: Path, eval_data: Path, window_s: float) -> None:
    """Two people on one channel (pyannote's sample): with the diarization extra, their
    words go to "speaker 1" and "speaker 2" at the times the reference gives, also when
    the recording is longer than one window and recognised window by window."""
    pipeline = TranscriptionPipeline(
        PipelineParams(model_cache, asr=AsrParams(beam_size=1), window_s=window_s)
    )
    path = eval_data / "diarization" / "pyannote_sample" / "sample.wav"
    turns = [
        (float(f[3]), float(f[3]) + float(f[4]), f[7])
        for f in (line.split() for line in path.with_suffix(".rttm").read_text().splitlines())
    ]
    transcript = pipeline.run(lambda: path.open("rb"), language="en")
    assert transcript.diarized is True
    speakers = {u.speaker for u in transcript.utterances}
    assert speakers == {"speaker 1", "speaker 2"}
    assert all(u.channel is None for u in transcript.utterances)
    # Map each callvault speaker to the reference speaker it shares most words with; at
    # least 85 % of the words that fall inside one reference turn must agree.
    votes: dict[tuple[str, str], int] = {}
    for u in transcript.utterances:
        for w in u.words:
            middle = (w.start + w.end) / 2
            inside = {ref for start, end, ref in turns if start <= middle <= end}
            if len(inside) == 1:
                key = (u.speaker, inside.pop())
                votes[key] = votes.get(key, 0) + 1
    best = {
        ours: max((n, ref) for (o, ref), n in votes.items() if o == ours)[1] for ours in speakers
    }
    assert len(set(best.values())) == 2
    agree = sum(n for (ours, ref), n in votes.items() if best[ours] == ref)
    assert agree / sum(votes.values()) >= 0.85


def test_a_mono_recording_longer_than_diarize_max_s_is_one_undiarized_speaker(
    model_cache: Path, eval_data: Path
) -> None:
    path = eval_data / "diarization" / "pyannote_sample" / "sample.wav"
    pipeline = TranscriptionPipeline(
        PipelineParams(model_cache, asr=AsrParams(beam_size=1), window_s=10.0, diarize_max_s=20.0)
    )
    transcript = pipeline.run(lambda: path.open("rb"), language="en")
    assert transcript.diarized is False and transcript.status == "done"
    assert {u.speaker for u in transcript.utterances} == {"speaker"}


def test_diarization_on_needs_the_extra(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from callvault.analysis import pipeline as module
    from callvault.errors import ConfigError

    monkeypatch.setattr(module, "diarization_available", lambda: False)
    assert module.diarize_mono("auto") is False
    assert module.diarize_mono("off") is False
    assert module.diarize_mono("on") is True  # and Diarizer() then names the extra
    with pytest.raises(ConfigError, match="diarization must be auto, on or off"):
        module.diarize_mono("maybe")


def _g711_stereo(left: np.ndarray, right: np.ndarray, codec: str = "pcm_mulaw") -> bytes:
    """Two 8 kHz float32 channels as a stereo WAV of G.711 samples, as a trunk recorder
    writes them."""
    import av

    n = max(left.shape[0], right.shape[0])
    both = np.zeros((2, n), np.float32)
    both[0, : left.shape[0]], both[1, : right.shape[0]] = left, right
    pcm = (np.clip(both, -1, 1) * 32767).round().astype(np.int16)
    out = io.BytesIO()
    with av.open(out, "w", format="wav") as container:
        stream = container.add_stream(codec, rate=8000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm.T).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return out.getvalue()


def test_a_telephone_call_keeps_each_partys_words_on_their_leg(
    pipeline: TranscriptionPipeline,
    model_cache: Path,
    eval_data: Path,
    references: dict[str, str],
) -> None:
    """An 8 kHz mu-law call, the agent on the left from the first moment and the customer
    on the right once the agent is done: the agent's first words are kept, no word lands
    on the other leg, and each leg reads as well as bare faster-whisper reads it alone
    (same model, beam and VAD)."""
    from faster_whisper import WhisperModel

    from callvault.analysis import decode_legs, resolve_model

    def at_8k(name: str) -> np.ndarray:
        path = eval_data / "asr" / "en" / name
        return decode_legs(lambda: path.open("rb"), sample_rate=8000)[0]

    agent, customer = at_8k("jfk.flac"), at_8k("ljspeech/LJ001-0002.wav")
    gap = np.zeros(8000, np.float32)
    left = np.concatenate([agent, gap, np.zeros_like(customer)])
    right = np.concatenate([np.zeros_like(agent), gap, customer])
    data = _g711_stereo(left, right)
    transcript = pipeline.run(
        lambda: io.BytesIO(data), channels_to_speakers={0: "agent", 1: "customer"}, language="en"
    )
    agent_end = agent.shape[0] / 8000
    for u in transcript.utterances:
        if u.channel == 0:
            assert u.end <= agent_end + 0.5, u
        else:
            assert u.start >= agent_end, u
    said = {c: " ".join(u.text for u in transcript.utterances if u.channel == c) for c in (0, 1)}
    assert said[0].lower().startswith("and so my fellow")

    model = resolve_model("en", cache_dir=model_cache)
    bare = WhisperModel(str(model.path), device="cpu", compute_type="int8", local_files_only=True)
    legs = decode_legs(lambda: io.BytesIO(data))
    for channel, name in ((0, "en/jfk.flac"), (1, "en/ljspeech/LJ001-0002.wav")):
        segments, _ = bare.transcribe(
            legs[channel],
            language="en",
            beam_size=1,
            word_timestamps=True,
            vad_filter=True,
            condition_on_previous_text=False,
        )
        alone = " ".join(s.text.strip() for s in segments)
        reference = references[name]
        assert word_error_rate(reference, said[channel]) <= word_error_rate(reference, alone)


# -- long recordings, window by window (issue 17) ---------------------------------------------


def test_a_long_silent_recording_is_no_speech_in_bounded_memory(model_cache: Path) -> None:
    """Twenty minutes of 8 kHz silence in windows of a minute: the old path held the whole
    leg, the VAD's padded copy and its batched copy (238 MiB traced here; 13.7 GB for the
    ten hours of issue 17)."""
    params = PipelineParams(model_cache, asr=AsrParams(beam_size=1), window_s=60.0)
    pipeline = TranscriptionPipeline(params)
    pipeline.run(lambda: io.BytesIO(silent_flac(2)), language="en")  # the model, loaded once
    data = silent_flac(20 * 60)
    whole = 20 * 60 * 16000 * 4  # bytes of the leg as one float32 array at 16 kHz
    tracemalloc.start()
    try:
        transcript = pipeline.run(lambda: io.BytesIO(data), language="en")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert transcript == Transcript("no_speech", "en", "whisper-tiny.en", "0.1.0", (), False)
    assert peak < whole / 3, f"{peak / 2**20:.1f} MiB"


def _placed(speech: np.ndarray, at: float, seconds: float) -> np.ndarray:
    leg = np.zeros(int(seconds * 16000), np.float32)
    start = int(at * 16000)
    leg[start : start + speech.size] = speech
    return leg


def _wav16k(*legs: np.ndarray) -> bytes:
    return wav_bytes((np.stack(legs, axis=1) * 32767).astype("<i2"), 16000)


def test_a_long_recording_keeps_each_words_time_across_windows(
    model_cache: Path, eval_data: Path
) -> None:
    """Speech at 20 s on one leg and at 150 s on the other of a four-minute call, in
    windows of a minute: the same words as the speech alone, at their times in the call."""
    (speech,) = decode_legs(lambda: (eval_data / "asr" / "en" / "jfk.flac").open("rb"))[:1]
    speech = np.round(speech * 32767) / 32767  # as the 16-bit file below holds it
    params = PipelineParams(model_cache, asr=AsrParams(beam_size=1), window_s=60.0)
    pipeline = TranscriptionPipeline(params)
    alone = pipeline.run(lambda: io.BytesIO(_wav16k(speech)), language="en")
    data = _wav16k(_placed(speech, 20.0, 240.0), _placed(speech, 150.0, 240.0))
    hooked: list[tuple[str, float]] = []
    call = pipeline.run(
        lambda: io.BytesIO(data),
        channels_to_speakers={0: "agent", 1: "customer"},
        language="en",
        hook=lambda stage, fraction: hooked.append((stage, fraction)),
    )
    words = [w for u in alone.utterances for w in u.words]
    assert words
    for speaker, channel, at in (("agent", 0, 20.0), ("customer", 1, 150.0)):
        placed = [w for u in call.utterances if u.speaker == speaker for w in u.words]
        assert {u.channel for u in call.utterances if u.speaker == speaker} == {channel}
        # Whisper may punctuate the end of the speech differently with silence after it.
        assert [w.text.strip(".,") for w in placed] == [w.text.strip(".,") for w in words]
        for mine, reference in zip(placed, words, strict=True):
            assert mine.start == pytest.approx(reference.start + at, abs=0.25)
    assert call.diarized and call.status == "done"
    fractions = [fraction for stage, fraction in hooked if stage == "vad+asr"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_long_dual_mono_recording_is_transcribed_once(model_cache: Path, eval_data: Path) -> None:
    (speech,) = decode_legs(lambda: (eval_data / "asr" / "en" / "jfk.flac").open("rb"))[:1]
    leg = _placed(np.round(speech * 32767) / 32767, 100.0, 150.0)
    params = PipelineParams(
        model_cache, asr=AsrParams(beam_size=1), window_s=60.0, diarization="off"
    )
    call = TranscriptionPipeline(params).run(lambda: io.BytesIO(_wav16k(leg, leg)), language="en")
    assert {(u.speaker, u.channel) for u in call.utterances} == {("speaker", None)}
    assert not call.diarized
    assert call.utterances[0].start == pytest.approx(100.3, abs=0.5)  # where the speech is
