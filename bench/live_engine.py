"""Benchmark of the live (streaming) engine: its WER against batch, and its word latency.

Not a test: it prints Markdown tables on stdout and exits 0 whatever the figures.

Audio: the English clips of the corpus (``$EVAL_DATA/asr/en``: the OSR telephone clip,
LJSpeech, LibriSpeech, JFK), each brought to the telephone band as a trunk recorder
would (``_telephone.telephone``: 8 kHz, 300-3400 Hz; the OSR clip is 8 kHz already and
is taken as it is) and fed to the engine as int16 samples in 20 ms frames, as ``capture
live`` feeds an RTP leg. The model is Whisper tiny.en, greedy, on 2 CPU threads.

1. WER (edits / reference words over the whole set, normalised as in ``bench/asr.py``):
   * "stream, paced": ``StreamEngine`` fed half a second at a time and let to catch up
     (``wait_idle``) after each step: the transcript a machine that keeps up with real
     time would show, LocalAgreement-2 and all (words made final inside utterances);
   * "stream, at once": the whole clip fed before the engine catches up: each utterance
     is decoded once, when the VAD has found its end;
   * "callvault batch": ``Transcriber.transcribe_leg`` (beam 1) on the same 8 kHz audio
     decoded by callvault's decoder, as the stored transcript is made after the call;
   * peer "bare faster-whisper": ``WhisperModel.transcribe`` on the whole clip (beam 1,
     ``vad_filter=True``, ``word_timestamps=True``, ``condition_on_previous_text=False``).
2. Word latency at real-time pace: N legs (N = 1, 4, 8) fed together by one thread at the
   pace of the wall clock, each leg a sequence of whole clips (the clips cycled, each leg
   starting at another clip, 0.8 s of silence between clips) of about ``--seconds`` of
   audio. Every leg speaks all the time, so N legs is the load of N calls in which
   someone is always talking (a real call has one party speaking at a time, so N legs is
   about N calls). For every final word: the wall time its update was emitted minus the
   wall time the audio at its end was fed; p50, p95 and max per N, with the number of
   decodes and the mean batch size, and the WER of those finals (the load makes the
   engine decode less often, which can change the words). "cores used" is the CPU time
   of this process per wall second during the run (2.0 is the whole 2-core machine) and
   "load avg" the 1-minute load average after it: on a machine shared with other work
   the engine gets less than two cores, and the latencies grow accordingly.

The engine runs with its default ``StreamParams`` (the encoder hears each buffer plus
10 s); ``--context S`` runs both parts with ``StreamParams(encoder_context_s=S)`` (``30``:
Whisper's whole 30 s window for every buffer, as before that default).

Run it from the repository root (``--quick``: 6 clips in part 1, 20 s legs in part 2)::

    .venv/bin/python bench/live_engine.py
    .venv/bin/python bench/live_engine.py --quick --json /tmp/live.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _common import machine_line, table
from _telephone import read_mono, telephone
from asr import wer
from callvault.analysis import AsrParams, Transcriber, decode_legs, resolve_model
from callvault.analysis.live import LiveWord, StreamEngine, StreamParams, WordsUpdate

EVAL = Path(os.environ.get("EVAL_DATA", "/work/shared/eval-data")) / "asr" / "en"
RATE = 8000
FRAME = RATE // 50  # 20 ms
GAP_S = 0.8
PARAMS = StreamParams()
VERBOSE = False


@dataclass(frozen=True)
class Clip:
    name: str
    reference: str
    pcm: np.ndarray  # int16 at 8 kHz


def load_clips(limit: int | None) -> list[Clip]:
    refs: dict[str, str] = {}
    for line in (EVAL / "references.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        name, reference = line.split("\t")[:2]
        refs[name] = reference
    names = [
        n for n in refs if "#" not in n and (n.startswith(("ljspeech/", "librispeech", "OSR")))
    ]
    names = ["OSR_us_000_0034_8k.wav", "jfk.flac"] + sorted(
        n for n in names if n != "OSR_us_000_0034_8k.wav"
    )
    clips = []
    for name in names[:limit]:
        audio, rate = read_mono(EVAL / name)
        band = audio if rate == RATE else telephone(audio, rate)
        pcm = (np.clip(band, -1.0, 1.0) * 32767.0).round().astype(np.int16)
        clips.append(Clip(name, refs[name], pcm))
    return clips


def write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.astype("<i2").tobytes())


def finals_text(updates: list[WordsUpdate]) -> str:
    return " ".join(w.text for u in updates for w in u.final)


def stream_clip(engine: StreamEngine, clip: Clip, paced: bool) -> str:
    updates: list[WordsUpdate] = []
    leg = engine.open_leg(0, sample_rate=RATE, language="en", on_update=updates.append)
    step = RATE // 2
    for start in range(0, clip.pcm.shape[0], step):
        block = clip.pcm[start : start + step]
        for i in range(0, block.shape[0], FRAME):
            leg.feed(block[i : i + FRAME])
        if paced:
            engine.wait_idle()
    leg.finish()
    return finals_text(updates)


def part_wer(clips: list[Clip], model: Any, report: dict[str, Any]) -> None:
    from faster_whisper import WhisperModel

    texts: dict[str, list[tuple[str, str]]] = {}
    seconds: dict[str, float] = {}
    with StreamEngine(model, params=PARAMS) as engine:
        for label, paced in (("stream, paced", True), ("stream, at once", False)):
            begun, before = time.perf_counter(), engine.decodes
            texts[label] = [(c.reference, stream_clip(engine, c, paced)) for c in clips]
            seconds[label] = time.perf_counter() - begun
            report.setdefault("decodes", {})[label] = engine.decodes - before
    transcriber = Transcriber(model)
    bare = WhisperModel(str(model.path), device="cpu", compute_type="int8", cpu_threads=2)
    texts["callvault batch"], texts["bare faster-whisper"] = [], []
    seconds["callvault batch"] = seconds["bare faster-whisper"] = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            path = Path(tmp) / "clip.wav"
            write_wav(path, clip.pcm)
            audio = decode_legs(lambda path=path: path.open("rb"))[0]
            begun = time.perf_counter()
            result = transcriber.transcribe_leg(audio, language="en", params=AsrParams(beam_size=1))
            seconds["callvault batch"] += time.perf_counter() - begun
            texts["callvault batch"].append(
                (clip.reference, " ".join(s.text for s in result.segments))
            )
            begun = time.perf_counter()
            segments, _ = bare.transcribe(
                audio,
                language="en",
                beam_size=1,
                word_timestamps=True,
                vad_filter=True,
                condition_on_previous_text=False,
            )
            text = " ".join(s.text.strip() for s in segments)
            seconds["bare faster-whisper"] += time.perf_counter() - begun
            texts["bare faster-whisper"].append((clip.reference, text))
    audio_s = sum(c.pcm.shape[0] for c in clips) / RATE
    rows = []
    for label, pairs in texts.items():
        rate = wer(pairs)
        report.setdefault("wer", {})[label] = rate
        rows.append([label, f"{100 * rate:.1f} %", f"{seconds[label]:.1f}"])
    print(f"## 1. WER on {len(clips)} English clips at 8 kHz ({audio_s:.0f} s of audio)\n")
    table(["transcript", "WER", "CPU wall s"], rows)
    print(f"Decodes by the engine: {report['decodes']}\n")
    if VERBOSE:
        for i, clip in enumerate(clips):
            print(
                f"- {clip.name}: "
                + "; ".join(
                    f"{label} {100 * wer([pairs[i]]):.0f} % {pairs[i][1]!r}"
                    for label, pairs in texts.items()
                )
            )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def leg_audio(clips: list[Clip], first: int, seconds: float) -> tuple[np.ndarray, str]:
    parts, refs, total, index = [], [], 0, first
    gap = np.zeros(int(GAP_S * RATE), dtype=np.int16)
    while total < seconds * RATE:
        clip = clips[index % len(clips)]
        parts += [clip.pcm, gap]
        refs.append(clip.reference)
        total += clip.pcm.shape[0] + gap.shape[0]
        index += 1
    return np.concatenate(parts), " ".join(refs)


def part_latency(
    clips: list[Clip], model: Any, counts: list[int], seconds: float, report: dict[str, Any]
) -> None:
    rows = []
    for count in counts:
        legs_audio = [leg_audio(clips, 3 * k, seconds) for k in range(count)]
        emitted: list[list[tuple[float, LiveWord]]] = [[] for _ in range(count)]
        cpu_before = cpu_seconds()
        with StreamEngine(model, params=PARAMS) as engine:

            def collect(update: WordsUpdate, emitted: list[Any] = emitted) -> None:
                now = time.perf_counter()
                emitted[update.channel].extend((now, w) for w in update.final)

            legs = [
                engine.open_leg(k, sample_rate=RATE, language="en", on_update=collect)
                for k in range(count)
            ]
            longest = max(a.shape[0] for a, _ in legs_audio)
            frames = (longest + FRAME - 1) // FRAME
            fed_at = np.zeros(frames)
            begun = time.perf_counter()
            for f in range(frames):
                for leg, (audio, _) in zip(legs, legs_audio, strict=True):
                    chunk = audio[f * FRAME : (f + 1) * FRAME]
                    leg.feed(chunk if chunk.shape[0] else np.zeros(FRAME, np.int16))
                fed_at[f] = time.perf_counter()
                pause = begun + (f + 1) / 50 - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            lag = time.perf_counter() - (begun + frames / 50)
            for leg in legs:
                leg.finish()
            decodes, batches = engine.decodes, engine.batches
            wall = time.perf_counter() - begun
        cores = (cpu_seconds() - cpu_before) / wall
        delays = []
        for words in emitted:
            for now, word in words:
                frame = min(frames - 1, int(word.end * 50))
                delays.append(now - fed_at[frame])
        rate = wer(
            [
                (ref, " ".join(w.text for _, w in words))
                for (_, ref), words in zip(legs_audio, emitted, strict=True)
            ]
        )
        p50, p95 = np.percentile(delays, [50, 95]) if delays else (float("nan"),) * 2
        report.setdefault("latency", {})[str(count)] = {
            "p50": float(p50),
            "p95": float(p95),
            "max": float(max(delays, default=float("nan"))),
            "words": len(delays),
            "decodes": decodes,
            "batches": batches,
            "wer": rate,
            "feeder_lag_s": lag,
            "cores_used": cores,
            "load_average": os.getloadavg()[0],
        }
        rows.append(
            [
                str(count),
                f"{longest / RATE:.0f}",
                str(len(delays)),
                f"{p50:.2f}",
                f"{p95:.2f}",
                f"{max(delays, default=float('nan')):.2f}",
                str(decodes),
                f"{decodes / max(batches, 1):.1f}",
                f"{100 * rate:.1f} %",
                f"{cores:.2f}",
                f"{os.getloadavg()[0]:.1f}",
            ]
        )
    print("## 2. Word latency at real-time pace (final words; emitted minus fed)\n")
    table(
        [
            "legs",
            "audio s/leg",
            "final words",
            "p50 s",
            "p95 s",
            "max s",
            "decodes",
            "mean batch",
            "WER",
            "cores used",
            "load avg",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips, shorter legs")
    parser.add_argument("--legs", default="1,4,8", help="leg counts for part 2")
    parser.add_argument("--seconds", type=float, default=40.0, help="audio per leg, part 2")
    parser.add_argument("--no-wer", action="store_true", help="skip part 1")
    parser.add_argument("--no-latency", action="store_true", help="skip part 2")
    parser.add_argument(
        "--context",
        type=float,
        default=None,
        help="StreamParams.encoder_context_s (default: the engine's, 10 s; 30 = Whisper's window)",
    )
    parser.add_argument("--verbose", action="store_true", help="part 1 per clip, with text")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    global PARAMS, VERBOSE
    PARAMS = (
        StreamParams() if args.context is None else StreamParams(encoder_context_s=args.context)
    )
    VERBOSE = args.verbose
    cache = Path(tempfile.gettempdir()) / "callvault-bench-models"
    model = resolve_model("en", cache_dir=cache)
    clips = load_clips(6 if args.quick else None)
    print(
        machine_line(
            ["faster-whisper", "ctranslate2", "onnxruntime"],
            "Whisper tiny.en int8, greedy, 2 threads; telephone-band 8 kHz int16 in 20 ms frames",
        )
    )
    report: dict[str, Any] = {}
    if not args.no_wer:
        part_wer(clips, model, report)
    if not args.no_latency:
        counts = [int(n) for n in args.legs.split(",")]
        part_latency(clips, model, counts, 20.0 if args.quick else args.seconds, report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
