"""Benchmark: peak memory of ingest + processing against the length of a recording.

Issue 17: a 6.9 MB FLAC of ten hours of 8 kHz silence, uploaded by any rep, made
processing peak at 13.7 GB, because each leg was decoded into one float32 array at 16 kHz
(2.3 GB for ten hours), concatenated from its blocks (a second copy), and handed to
faster-whisper, whose Silero VAD pads it (a third) and batches it with context (a fourth),
twice (the first pass, then the search for skipped speech).

What one run measures, for each length (``--lengths``, default 10 min and 1 h; ``--long``
adds 10 h): a mono 8 kHz FLAC of silence with a little speech in it (jfk.flac of the
evaluation corpus, 11 s, at a tenth, half and nine tenths of the recording; a 440 Hz
tone where the corpus is absent), generated into a temporary directory. Each case runs
in a fresh spawned process (its own imports and peak RSS) that

1. ingests the file with ``services.ingest_files`` (probe, policy gate, encrypt, store)
   into an empty vault, with CALLVAULT_MAX_DURATION raised above the length;
2. processes the call with ``services.process_call`` (decode, VAD + ASR, redaction,
   insights, index), with whisper-tiny.en (beam 1) so that the long cases finish.

Two paths are compared in the same run, on the same file:

- ``windowed``: the pipeline as it is now: a recording longer than ``window_s`` (600 s)
  is decoded again per leg and recognised in windows cut in pauses;
- ``whole``: the same pipeline with ``window_s`` set to infinity, which is the code path
  before issue 17 byte for byte: ``decode_legs`` builds each leg whole and faster-whisper's
  ``transcribe`` (with its VAD) gets the whole array.

Up to ``window_s`` both paths are the same code (a short call is decoded whole either
way, and its transcript is unchanged); the 10 min case shows that. Reported per case:
the peak RSS after ingest, the peak RSS of ingest + processing (``ru_maxrss`` of the
child), the seconds each part took, and the words recognised (the two paths should find
the same speech). The ``whole`` path grows by about 0.9 GB per hour of 8 kHz mono audio
here (3.1 GB at 3 h); ``--long`` runs it on 10 h only with ``--long-baseline``.

    .venv/bin/python bench/memory.py                      # 10 min and 1 h, both paths
    .venv/bin/python bench/memory.py --long               # + 10 h (windowed only)
    .venv/bin/python bench/memory.py --long --long-baseline   # + 10 h whole (~14 GB)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from _common import in_child, machine_line, rss_mb, table

RATE = 8000
EVAL = Path(
    os.environ.get(
        "CALLVAULT_EVAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "eval-data"
    )
)


def _speech() -> tuple[np.ndarray, str]:
    """int16 mono samples at 8 kHz of the speech put into each recording, and its name."""
    path = EVAL / "asr" / "en" / "jfk.flac"
    if path.exists():
        from callvault.analysis import decode_legs

        (leg,) = decode_legs(lambda: path.open("rb"), sample_rate=RATE)[:1]
        return (np.clip(leg, -1, 1) * 32767).astype("<i2"), "jfk.flac (11 s)"
    t = np.arange(3 * RATE) / RATE
    return (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2"), "a 440 Hz tone (3 s)"


def write_recording(path: Path, seconds: float, speech: np.ndarray) -> None:
    """Mono 8 kHz FLAC of silence with `speech` at 10 %, 50 % and 90 %, minute by minute."""
    total = int(seconds * RATE)
    starts = [int(total * share) for share in (0.1, 0.5, 0.9)]
    block = 60 * RATE
    with av.open(str(path), mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=RATE, layout="mono")
        for start in range(0, total, block):
            samples = np.zeros(min(block, total - start), dtype="<i2")
            for at in starts:
                low, high = max(at, start), min(at + speech.size, start + samples.size)
                if low < high:
                    samples[low - start : high - start] = speech[low - at : high - at]
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def run_case(path: str, seconds: float, mode: str, work: str) -> dict[str, Any]:
    """In a fresh process: ingest `path` into an empty vault under `work`, process it."""
    from callvault.analysis import AsrParams, PipelineParams, TranscriptionPipeline
    from callvault.capture import FileImportOptions
    from callvault.config import load_config
    from callvault.services import ingest_files, open_context, process_call

    config = load_config(
        env={},
        data_dir=Path(work) / "data",
        max_duration=seconds + 60,
        actor="bench:memory",
        diarization="off",
    )
    options = FileImportOptions(
        caller="+14155550100", callee="+442071838750", direction="inbound", language="en"
    )
    started_rss = rss_mb()
    started = time.perf_counter()
    with open_context(config) as ctx:
        (stored,) = ingest_files(ctx, [Path(path)], options, consent="pre-call-notice")
    ingest_s = time.perf_counter() - started
    ingest_rss = rss_mb()
    pipeline = TranscriptionPipeline(
        PipelineParams(
            config.model_cache,
            asr=AsrParams(beam_size=1),
            diarization="off",
            max_duration=config.max_duration,
            window_s=math.inf if mode == "whole" else PipelineParams.window_s,
        )
    )
    started = time.perf_counter()
    with open_context(config) as ctx:
        result = process_call(ctx, stored.call_id, pipeline=pipeline)
    return {
        "start_rss": started_rss,
        "ingest_rss": ingest_rss,
        "peak_rss": rss_mb(),
        "ingest_s": ingest_s,
        "process_s": time.perf_counter() - started,
        "status": result.status,
        "words": result.words,
    }


def _length(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lengths", default="600,3600", help="seconds of each recording, comma-separated"
    )
    parser.add_argument("--long", action="store_true", help="add a 10 h recording")
    parser.add_argument(
        "--long-baseline",
        action="store_true",
        help="also run the whole-array path on 10 h (needs about 14 GB of memory)",
    )
    args = parser.parse_args()
    lengths = [float(part) for part in args.lengths.split(",") if part.strip()]
    if args.long:
        lengths.append(36000.0)
    speech, speech_name = _speech()
    print("# Peak memory of ingest + processing against recording length (issue 17)\n")
    print(
        machine_line(
            ["av", "faster-whisper", "ctranslate2", "onnxruntime", "numpy"],
            "whisper-tiny.en, beam 1, one process per case, peak RSS from ru_maxrss",
        )
    )
    print(f"Input: mono 8 kHz FLAC of digital silence with {speech_name} at 10, 50 and 90 %.\n")
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="callvault-bench-memory-") as tmp:
        for seconds in lengths:
            path = Path(tmp) / f"{int(seconds)}s.flac"
            write_recording(path, seconds, speech)
            size = path.stat().st_size / 1e6
            modes = ["windowed", "whole"]
            if seconds > 4 * 3600 and not args.long_baseline:
                modes = ["windowed"]
            for mode in modes:
                work = Path(tmp) / f"{int(seconds)}-{mode}"
                work.mkdir()
                print(f"running {_length(seconds)} {mode} ...", file=sys.stderr, flush=True)
                got = in_child(run_case, str(path), seconds, mode, str(work))
                rows.append(
                    [
                        _length(seconds),
                        f"{size:.2f}",
                        mode,
                        f"{got['ingest_rss']:.0f}",
                        f"{got['peak_rss']:.0f}",
                        f"{got['ingest_s']:.1f}",
                        f"{got['process_s']:.1f}",
                        f"{got['status']}, {got['words']} words",
                    ]
                )
            if "whole" not in modes:
                rows.append(
                    [
                        _length(seconds),
                        f"{size:.2f}",
                        "whole",
                        "not run",
                        "",
                        "",
                        "",
                        "(--long-baseline)",
                    ]
                )
    table(
        [
            "length",
            "file MB",
            "path",
            "peak RSS after ingest (MiB)",
            "peak RSS ingest + processing (MiB)",
            "ingest s",
            "processing s",
            "transcript",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
