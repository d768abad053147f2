"""Benchmark of callvault's speech pipeline against bare faster-whisper (same model, same run).

Not a test: it prints Markdown tables on stdout and exits 0 whatever the verdicts.

What one run measures (CPU only; every measurement runs in a fresh child process started
with multiprocessing "spawn", so each peak memory figure is that child's own ``ru_maxrss``):

1. Accuracy and speed per language on the evaluation corpus ``$EVAL_DATA/asr``
   (default ``/work/shared/eval-data/asr``; see its MANIFEST.md). Every row of
   ``{en,de}/references.tsv`` is one item; ``file#L`` / ``file#R`` is one channel of a
   stereo file, written to a temporary mono WAV that both sides then read. callvault:
   ``TranscriptionPipeline(PipelineParams(..., asr=AsrParams(beam_size=B), diarization="off"))
   .run(open, language=L)`` (speech recognition alone: mono clips are not diarized here)
   (decoding from the file included in its time). Bare peer:
   ``faster_whisper.WhisperModel(<the same model directory from resolve_model>, device="cpu",
   compute_type="int8", cpu_threads=2).transcribe(<16 kHz float32 mono>, language=L,
   beam_size=B, word_timestamps=True, vad_filter=True, condition_on_previous_text=False)``
   (the audio is decoded beforehand and not timed). English uses Whisper tiny.en, German
   Whisper base. Model loading is timed apart and is not in the RTF. WER is over the
   whole language (edits / reference words) after normalising both sides: lowercase,
   punctuation removed (hyphens and slashes become spaces), whitespace collapsed;
   numbers are compared as written. Targets: English WER <= 8 %; German reported.
   callvault takes every channel of a file as one party unless the channels carry the
   same signal (dual mono, then it is one leg); a second callvault run ("mono input")
   reads the same clips mixed down to mono WAVs, as the bare peer always does.
2. The whole pipeline on two-party stereo calls (one party per channel): the corpus's
   ``asr/en/stereo_diarization.wav`` and a synthetic call of about 2.5 minutes built from
   the English clips, placed turn by turn on the left and right channel (silence on the
   other one), 16 kHz 16-bit WAV, once as it is and once with white noise at -55 dBFS on
   both channels (line hiss: the listening leg is never digital silence). callvault:
   ``import_file`` + ``Vault.store_call`` into a fresh vault, the model loaded once (a
   warm worker), then ``services.process_call`` timed: decrypt + decode, energy gate +
   VAD per leg, one batched Whisper pass over the stitched speech (30-second windows, 8
   at a time), speakers, encrypt + store the transcript and index it. Peer: bare
   faster-whisper on the mono mix (mean of the channels), the transcription alone timed
   (its decoding is not). Targets: RTF ratio callvault / bare <= 1.0, callvault RTF <=
   0.06, peak memory <= 1.5 GB. A stage breakdown of ``process_call`` (from its progress
   callback) and the time of finding speech alone (gate + VAD for callvault, VAD on the
   mix for bare) are printed.

3. Telephone calls, per channel: the corpus's human speech (English: LJSpeech,
   LibriSpeech, OSR, JFK; German: Thorsten and Picovoice) placed clip by clip on the left
   and right channel of a two-party call and turned into what a trunk recorder writes
   (``bench/_telephone.py``: 8 kHz, 300-3400 Hz band, G.711 mu-law or A-law samples in the
   WAV, optionally band-limited line noise at -45 dBFS on both channels). callvault:
   ``TranscriptionPipeline.run`` on the stereo file, the words of each channel. Bare peer:
   ``WhisperModel.transcribe`` on each channel alone (decoded by callvault's decoder, so
   both hear the same samples) with the same model and beam, faster-whisper's default VAD
   and ``condition_on_previous_text=False``. WER per channel against that channel's
   clips' references. Target: WER ratio callvault / bare <= 1.0 per language (summed over
   channels and variants). None of these clips was used to tune the pipeline's
   parameters (its defaults are faster-whisper's own); the hallucination screen's
   thresholds are Whisper's published ones.

Run it from the repository root (it takes a few minutes on 2 cores)::

    .venv/bin/python bench/asr.py
    .venv/bin/python bench/asr.py --no-beam5     # skip the English beam 5 row
    .venv/bin/python bench/asr.py --calls-only   # part 2 only
    .venv/bin/python bench/asr.py --telephone-only --beam 5   # part 3 only, beam 5
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from _common import in_child, machine_line, rss_mb, table, verdict
from _telephone import line_noise, read_mono, telephone, write_g711

SR = 16000
EVAL = Path(os.environ.get("EVAL_DATA", "/work/shared/eval-data")) / "asr"
CALLER, CALLEE = "+14155550100", "+442071838750"
TARGET_WER_EN = 0.08
TARGET_RTF = 0.06
TARGET_RATIO = 1.0
TARGET_RSS_GB = 1.5


@dataclass(frozen=True)
class Item:
    label: str
    path: Path  # a file both sides read (a channel item: a temporary mono WAV)
    reference: str


# -- audio --------------------------------------------------------------------------------


def decode(path: Path) -> np.ndarray:
    """float32 (channels, samples) at 16 kHz, channels kept apart."""
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="fltp", rate=SR)
        for frame in container.decode(container.streams.audio[0]):
            chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False)


def decode_mono(path: Path) -> np.ndarray:
    return decode(path).mean(axis=0).astype(np.float32)


def write_wav(path: Path, channels: np.ndarray) -> None:
    """(channels, samples) float32 in [-1, 1] as 16 kHz 16-bit PCM."""
    pcm = (np.clip(channels, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels.shape[0])
        out.setsampwidth(2)
        out.setframerate(SR)
        out.writeframes(pcm.T.tobytes())


# -- WER ----------------------------------------------------------------------------------


def normalise(text: str) -> list[str]:
    text = re.sub(r"[-\u2010-\u2015/]", " ", text.lower())
    text = re.sub(r"[^\w\s]", "", text).replace("_", " ")
    return text.split()


def edits(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def wer(pairs: list[tuple[str, str]]) -> float:
    errors = words = 0
    for reference, hypothesis in pairs:
        ref = normalise(reference)
        errors += edits(ref, normalise(hypothesis))
        words += len(ref)
    return errors / max(words, 1)


# -- child jobs (run in spawned processes) -------------------------------------------------


def _bare_model(model_path: str) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=2)


def _bare_text(model: Any, audio: np.ndarray, language: str, beam: int) -> str:
    segments, _ = model.transcribe(
        audio,
        language=language,
        beam_size=beam,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
    )
    return " ".join(s.text.strip() for s in segments)


def job_corpus(side: str, language: str, beam: int, items: list[Item], cache: str) -> dict:
    """Transcribe every item; the model is loaded (and timed) first."""
    hyps: list[str] = []
    seconds = 0.0
    started = time.perf_counter()
    if side == "callvault":
        from callvault.analysis import (
            AsrParams,
            PipelineParams,
            Transcriber,
            TranscriptionPipeline,
            resolve_model,
        )

        Transcriber(resolve_model(language, cache_dir=Path(cache)))  # loads into the cache
        load = time.perf_counter() - started
        pipeline = TranscriptionPipeline(
            PipelineParams(
                model_cache=Path(cache), asr=AsrParams(beam_size=beam), diarization="off"
            )
        )
        for item in items:
            t0 = time.perf_counter()
            transcript = pipeline.run(lambda p=item.path: open(p, "rb"), language=language)
            seconds += time.perf_counter() - t0
            hyps.append(" ".join(u.text for u in transcript.utterances))
    else:
        from callvault.analysis import resolve_model

        path = resolve_model(language, cache_dir=Path(cache)).path
        t_load = time.perf_counter()
        model = _bare_model(str(path))
        load = time.perf_counter() - t_load
        for item in items:
            audio = decode_mono(item.path)
            t0 = time.perf_counter()
            hyps.append(_bare_text(model, audio, language, beam))
            seconds += time.perf_counter() - t0
    return {"hyps": hyps, "seconds": seconds, "load": load, "rss_mb": rss_mb()}


def job_call_callvault(path: str, data_dir: str, cache: str) -> dict:
    from faster_whisper.vad import get_speech_timestamps

    from callvault.analysis import AsrParams, Transcriber, Transcript, decode_legs, resolve_model
    from callvault.analysis._asr import vad_options
    from callvault.capture import FileImportOptions, import_file
    from callvault.config import load_config
    from callvault.services import open_context, process_call
    from callvault.vault import Vault

    config = load_config(
        env={}, data_dir=Path(data_dir), database_url=None, actor="bench", model_cache=Path(cache)
    )
    options = FileImportOptions(
        language="en", direction="inbound", caller=CALLER, callee=CALLEE, agent="bench"
    )
    with Vault.open(config) as vault:
        call = import_file(Path(path), options, max_bytes=config.max_input_bytes)
        call_id = vault.calls.store_call(call).call_id
    t0 = time.perf_counter()
    Transcriber(resolve_model("en", cache_dir=config.model_cache))  # a warm worker
    load = time.perf_counter() - t0

    marks: list[tuple[float, str]] = []

    def progress(fraction: float, stage: str) -> None:
        # The time up to a mark is charged to the stage of the mark before it; after
        # "merge" is done comes encrypting and storing the transcript.
        done = stage == "merge" and fraction >= 0.969
        marks.append((time.perf_counter(), "store transcript" if done else stage))

    t0 = time.perf_counter()
    with open_context(config) as ctx:  # opening the vault is timed, as before
        result = process_call(ctx, call_id, progress=progress)
    seconds = time.perf_counter() - t0
    rss = rss_mb()
    stages: dict[str, float] = {}
    last, stage_now = t0, "open vault + model"
    for moment, stage in marks:
        stages[stage_now] = stages.get(stage_now, 0.0) + moment - last
        last, stage_now = moment, stage
    stages["close"] = t0 + seconds - last

    with Vault.open(config) as vault:
        document = vault.transcripts.read_transcript(call_id, purpose="benchmark")
    transcript = Transcript.from_json(document or b"")
    text = " ".join(u.text for u in transcript.utterances)  # in order of start time

    # Finding speech alone (Silero VAD on each leg, as the pipeline does it).
    legs = decode_legs(lambda: open(path, "rb"))
    t0 = time.perf_counter()
    vad = vad_options(AsrParams())
    speech = sum(c["end"] - c["start"] for leg in legs for c in get_speech_timestamps(leg, vad))
    vad = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "load": load,
        "rss_mb": rss,
        "stages": stages,
        "text": text,
        "utterances": result.utterances,
        "status": result.status,
        "vad": vad,
        "speech_s": speech / SR,
        "legs": len(legs),
    }


def job_call_bare(path: str, cache: str) -> dict:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from callvault.analysis import resolve_model

    model_path = resolve_model("en", cache_dir=Path(cache)).path
    t0 = time.perf_counter()
    model = _bare_model(str(model_path))
    load = time.perf_counter() - t0
    audio = decode_mono(Path(path))
    t0 = time.perf_counter()
    text = _bare_text(model, audio, "en", 1)
    seconds = time.perf_counter() - t0
    rss = rss_mb()
    t0 = time.perf_counter()
    speech = sum(c["end"] - c["start"] for c in get_speech_timestamps(audio, VadOptions()))
    vad = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "load": load,
        "rss_mb": rss,
        "text": text,
        "vad": vad,
        "speech_s": speech / SR,
    }


def job_telephone(side: str, path: str, language: str, beam: int, cache: str) -> dict:
    """One telephone call: the text of each channel, and the recognition time."""
    from callvault.analysis import (
        AsrParams,
        PipelineParams,
        Transcriber,
        TranscriptionPipeline,
        decode_legs,
        resolve_model,
    )

    model = resolve_model(language, cache_dir=Path(cache))
    if side == "callvault":
        Transcriber(model)  # a warm worker: the model is loaded before timing
        pipeline = TranscriptionPipeline(
            PipelineParams(model_cache=Path(cache), asr=AsrParams(beam_size=beam))
        )
        t0 = time.perf_counter()
        transcript = pipeline.run(lambda: open(path, "rb"), language=language)
        seconds = time.perf_counter() - t0
        texts = [
            " ".join(u.text for u in transcript.utterances if u.channel == channel)
            for channel in (0, 1)
        ]
        screened = dict(transcript.screened)
    else:
        bare = _bare_model(str(model.path))
        legs = decode_legs(lambda: open(path, "rb"))
        t0 = time.perf_counter()
        texts = [_bare_text(bare, leg, language, beam) for leg in legs]
        seconds = time.perf_counter() - t0
        screened = {}
    return {"texts": texts, "seconds": seconds, "screened": screened}


# -- inputs -------------------------------------------------------------------------------


def downmixed(items: list[Item], tmp: Path) -> list[Item]:
    """The same items with every multichannel file mixed down to a mono WAV."""
    out = []
    for item in items:
        audio = decode(item.path)
        if audio.shape[0] > 1:
            path = tmp / f"mono_{len(out)}_{item.path.stem}.wav"
            write_wav(path, audio.mean(axis=0, keepdims=True))
            item = Item(item.label, path, item.reference)
        out.append(item)
    return out


def load_items(language: str, tmp: Path) -> list[Item]:
    folder = EVAL / language
    items = []
    with (folder / "references.tsv").open(encoding="utf-8", newline="") as source:
        for row in csv.DictReader(source, delimiter="\t", quoting=csv.QUOTE_NONE):
            name, _, channel = row["file"].partition("#")
            path = folder / name
            if channel:
                index = {"L": 0, "R": 1}[channel]
                path = tmp / f"{Path(name).stem}_{channel}.wav"
                if not path.exists():
                    write_wav(path, decode(folder / name)[index : index + 1])
            items.append(Item(row["file"], path, row["reference"]))
    return items


def build_call(
    items: list[Item], target: Path, seconds: float = 150.0, noise_dbfs: float | None = None
) -> tuple[float, str]:
    """Alternate clips on the left and right channel; the reference in time order.

    With `noise_dbfs`, white noise at that level is added to both channels, like the hiss
    of a phone line, so a listening leg is never digital silence.
    """
    gap = np.zeros(int(0.6 * SR), dtype=np.float32)
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    references = []
    total = 0
    for turn, item in enumerate(i for i in items if "#" not in i.label):
        clip = decode_mono(item.path)
        silence = np.zeros_like(clip)
        speaking, listening = (left, right) if turn % 2 == 0 else (right, left)
        speaking += [clip, gap]
        listening += [silence, gap]
        references.append(item.reference)
        total += clip.shape[0] + gap.shape[0]
        if total >= seconds * SR:
            break
    channels = np.stack([np.concatenate(left), np.concatenate(right)])
    if noise_dbfs is not None:
        rng = np.random.default_rng(7)
        level = 10 ** (noise_dbfs / 20)
        channels = channels + level * rng.standard_normal(channels.shape).astype(np.float32)
    write_wav(target, channels)
    return total / SR, " ".join(references)


TELEPHONE_VARIANTS = (("mu-law", "ulaw", None), ("A-law", "alaw", None))
TELEPHONE_NOISY = ("mu-law + line noise -45 dBFS", "ulaw", -45.0)


def build_telephone_call(
    items: list[Item], target: Path, law: str, noise_dbfs: float | None
) -> tuple[float, list[str]]:
    """The items turn by turn on the left and right channel of an 8 kHz G.711 stereo
    call; the reference of each channel."""
    rate = 8000
    pieces: list[tuple[int, int, np.ndarray]] = []
    references: list[list[str]] = [[], []]
    position = int(0.3 * rate)
    for turn, item in enumerate(i for i in items if "#" not in i.label):
        channel = turn % 2
        clip = telephone(*read_mono(item.path))
        pieces.append((channel, position, clip))
        references[channel].append(item.reference)
        position += clip.shape[0] + int(0.7 * rate)
    both = np.zeros((2, position + rate), dtype=np.float32)
    for channel, start, clip in pieces:
        both[channel, start : start + clip.shape[0]] += clip
    if noise_dbfs is not None:
        for channel in (0, 1):
            both[channel] += line_noise(both.shape[1], noise_dbfs, seed=channel + 1)
    write_g711(target, both, law)
    return both.shape[1] / rate, [" ".join(r) for r in references]


def per_channel_telephone(items: dict[str, list[Item]], cache: Path, tmp: Path, beam: int) -> None:
    """Part 3: per-channel WER on telephone versions of the corpus, callvault vs bare."""
    rows = []
    totals: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for language in ("en", "de"):
        for label, law, noise in (*TELEPHONE_VARIANTS, TELEPHONE_NOISY):
            path = tmp / f"telephone_{language}_{law}_{noise}.wav"
            seconds, references = build_telephone_call(items[language], path, law, noise)
            got = {
                side: in_child(job_telephone, side, str(path), language, beam, str(cache))
                for side in ("callvault", "bare")
            }
            pairs = totals.setdefault(language, {"callvault": [], "bare": []})
            for side in got:
                pairs[side] += list(zip(references, got[side]["texts"], strict=True))
            cells = []
            for channel in (0, 1):
                cv = wer([(references[channel], got["callvault"]["texts"][channel])])
                bare = wer([(references[channel], got["bare"]["texts"][channel])])
                cells.append(f"{cv:.2%} / {bare:.2%}")
            screened = got["callvault"]["screened"]
            rows.append(
                [
                    language,
                    label,
                    f"{seconds:.0f}",
                    *cells,
                    f"{got['callvault']['seconds'] / seconds:.3f} / "
                    f"{got['bare']['seconds'] / seconds:.3f}",
                    ", ".join(f"{k} {v}" for k, v in screened.items()) or "none",
                ]
            )
    print(f"## 3. Telephone calls (8 kHz G.711 stereo, human speech), per channel, beam {beam}\n")
    table(
        [
            "lang",
            "variant",
            "audio s",
            "WER ch0 cv / bare",
            "WER ch1 cv / bare",
            "RTF cv / bare",
            "words screened out",
        ],
        rows,
    )
    summary = []
    for language, pairs in totals.items():
        cv, bare = wer(pairs["callvault"]), wer(pairs["bare"])
        ratio = cv / bare if bare else (0.0 if cv == 0 else float("inf"))
        summary.append(
            [
                language,
                f"{cv:.2%}",
                f"{bare:.2%}",
                f"{ratio:.2f} ({verdict(ratio <= TARGET_RATIO)})",
            ]
        )
    table(["lang", "WER callvault", "WER bare per channel", "ratio <= 1.0"], summary)


def audio_seconds(items: list[Item]) -> float:
    return sum(decode(item.path).shape[1] for item in items) / SR


# -- report -------------------------------------------------------------------------------


def per_language(
    items: dict[str, list[Item]], models: dict[str, Any], cache: Path, tmp: Path, beam5: bool
) -> None:
    """Part 1: WER and RTF per language, callvault and bare faster-whisper."""
    runs = [("en", 1), ("de", 1)] + ([("en", 5)] if beam5 else [])
    rows = []
    for language, beam in runs:
        clips = items[language]
        seconds = audio_seconds(clips)
        refs = [item.reference for item in clips]
        got = {
            side: in_child(job_corpus, side, language, beam, clips, str(cache))
            for side in ("callvault", "bare")
        }
        got["callvault mono"] = in_child(
            job_corpus, "callvault", language, beam, downmixed(clips, tmp), str(cache)
        )
        w = {side: wer(list(zip(refs, got[side]["hyps"], strict=True))) for side in got}
        rtf = {side: got[side]["seconds"] / seconds for side in got}
        target = (
            f"WER <= 8 %: {verdict(w['callvault'] <= TARGET_WER_EN)}"
            if language == "en"
            else "reported"
        )
        model = models[language]
        rows.append(
            [
                language,
                f"{model.name} {model.version}",
                str(beam),
                str(len(clips)),
                f"{seconds:.1f}",
                f"{w['callvault']:.2%}",
                f"{w['callvault mono']:.2%}",
                f"{w['bare']:.2%}",
                f"{rtf['callvault']:.3f}",
                f"{rtf['callvault mono']:.3f}",
                f"{rtf['bare']:.3f}",
                f"{got['callvault']['load']:.2f} / {got['bare']['load']:.2f}",
                f"{got['callvault']['rss_mb']:.0f} / {got['bare']['rss_mb']:.0f}",
                target,
            ]
        )
    print("## 1. WER and RTF per language (eval-data/asr)\n")
    table(
        [
            "lang",
            "model",
            "beam",
            "clips",
            "audio s",
            "WER callvault",
            "WER cv (mono input)",
            "WER bare",
            "RTF callvault",
            "RTF cv (mono input)",
            "RTF bare",
            "load s cv / bare",
            "peak RSS MB cv / bare",
            "target",
        ],
        rows,
    )
    stereo = [i.label for lang in ("en", "de") for i in items[lang] if decode(i.path).shape[0] > 1]
    print(
        f"{len(stereo)} clips are stereo files ({', '.join(stereo)}): callvault takes each "
        "channel as one party of a call unless both carry the same signal (dual mono, "
        "then one leg). 'mono input' gives callvault the same clips mixed down to a mono "
        "WAV; the bare peer always gets the mono mix.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-beam5", action="store_true", help="skip the English beam 5 row")
    parser.add_argument(
        "--calls-only", action="store_true", help="only part 2, the whole pipeline on calls"
    )
    parser.add_argument(
        "--telephone-only", action="store_true", help="only part 3, telephone calls per channel"
    )
    parser.add_argument(
        "--beam", type=int, default=1, help="beam of part 3 (default 1, callvault's default)"
    )
    args = parser.parse_args()

    from callvault.analysis import resolve_model

    print("# callvault speech pipeline vs bare faster-whisper\n")
    print(
        machine_line(
            ("faster-whisper", "ctranslate2", "av", "onnxruntime", "callvault"),
            "CPU, int8, cpu_threads=2, one measurement per spawned child process.",
        )
    )

    with tempfile.TemporaryDirectory(prefix="callvault-bench-asr-") as name:
        tmp = Path(name)
        cache = tmp / "models"
        cache.mkdir()
        models = {lang: resolve_model(lang, cache_dir=cache) for lang in ("en", "de")}
        items = {lang: load_items(lang, tmp) for lang in ("en", "de")}

        if args.telephone_only:
            per_channel_telephone(items, cache, tmp, args.beam)
            return
        if not args.calls_only:
            per_language(items, models, cache, tmp, beam5=not args.no_beam5)

        # 2. the whole pipeline on two-party stereo calls
        synthetic = tmp / "synthetic_call.wav"
        synthetic_s, synthetic_ref = build_call(items["en"], synthetic)
        noisy = tmp / "synthetic_call_noise.wav"
        build_call(items["en"], noisy, noise_dbfs=-55.0)
        calls = [
            ("stereo_diarization.wav", EVAL / "en" / "stereo_diarization.wav", None),
            (f"synthetic call ({synthetic_s:.0f} s)", synthetic, synthetic_ref),
            (f"same call, line noise -55 dBFS ({synthetic_s:.0f} s)", noisy, synthetic_ref),
        ]
        rows, details = [], []
        for index, (label, path, reference) in enumerate(calls):
            seconds = decode(path).shape[1] / SR
            cv = in_child(job_call_callvault, str(path), str(tmp / f"data{index}"), str(cache))
            bare = in_child(job_call_bare, str(path), str(cache))
            rtf_cv, rtf_bare = cv["seconds"] / seconds, bare["seconds"] / seconds
            peak = max(cv["rss_mb"], bare["rss_mb"]) / 1024
            call_wer = (
                f"{wer([(reference, cv['text'])]):.2%} / {wer([(reference, bare['text'])]):.2%}"
                if reference
                else "-"
            )
            rows.append(
                [
                    label,
                    f"{seconds:.1f}",
                    f"{cv['seconds']:.2f}",
                    f"{bare['seconds']:.2f}",
                    f"{rtf_cv:.3f}",
                    f"{rtf_bare:.3f}",
                    f"{rtf_cv / rtf_bare:.2f} ({verdict(rtf_cv / rtf_bare <= TARGET_RATIO)})",
                    f"{verdict(rtf_cv <= TARGET_RTF)}",
                    f"{cv['rss_mb']:.0f} / {bare['rss_mb']:.0f} ({verdict(peak <= TARGET_RSS_GB)})",
                    call_wer,
                ]
            )
            stages = ", ".join(f"{k} {v:.2f} s" for k, v in cv["stages"].items())
            details.append(
                [
                    label,
                    cv["status"],
                    str(cv["utterances"]),
                    stages,
                    f"{cv['vad']:.2f} s ({cv['legs']} legs, {cv['speech_s']:.0f} s speech) / "
                    f"{bare['vad']:.2f} s ({bare['speech_s']:.0f} s speech)",
                    f"{cv['load']:.2f} / {bare['load']:.2f}",
                ]
            )
        print("## 2. Whole pipeline on two-party stereo calls (tiny.en, beam 1)\n")
        table(
            [
                "call",
                "audio s",
                "callvault process_call s",
                "bare (mono mix) s",
                "RTF callvault",
                "RTF bare",
                "ratio cv/bare <= 1.0",
                "cv RTF <= 0.06",
                "peak RSS MB cv / bare (<= 1.5 GB)",
                "WER cv / bare",
            ],
            rows,
        )
        print("Breakdown of process_call (stages from its progress callback):\n")
        table(
            [
                "call",
                "status",
                "utterances",
                "process_call stages",
                "finding speech alone cv / bare",
                "model load s cv / bare",
            ],
            details,
        )
        if not args.calls_only:
            per_channel_telephone(items, cache, tmp, args.beam)


if __name__ == "__main__":
    main()
