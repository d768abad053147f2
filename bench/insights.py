"""Benchmark of redaction and insights end to end on the scripted, labelled test calls.

Not a test: it prints Markdown tables on stdout and exits 1 when a target is missed
(0 with ``--no-fail``).

Part 1, the scripted calls (``bench/data/scripted_calls.toml``, spoken by espeak-ng with
``bench/_scripted.py``; channel 0 = agent, channel 1 = customer). Each call goes into a
fresh vault (SQLite in a temporary data dir) with ``FileImportOptions(direction="outbound",
caller=<agent's number>, callee=<customer's number>, agent="bench", language, started_at)``:
on an outbound call the agent is the caller and the caller is channel 0, so the roles map
onto the channels as the script has them (checked: every utterance on channel 0 must be
the agent's, else the call is reported as mis-mapped). ``services.process_call`` runs in
this process (the Whisper model and presidio/spaCy load once; a warm-up call on the first
script, in its own vault, is timed and reported apart). Then ``services.calls.call_document``
(``show --json``) and ``services.calls.listen_audio`` (the redacted audio) are read and
scored. Competitor names of the scripts are given to the tracker stage through a trackers
file (``competitors = [...]``), as a deployment would configure them.

Scores (the "window" of a label is its span from the synthesiser, widened by 0.15 s each
side; only words of the label's channel count; a placeholder is a word like "[PHONE]"):

- Transcript recall, strict: a labelled PII item is *found* when at least one placeholder
  lies in its window and no word left in the window carries its content. A word carries
  the content when, after lower-casing and keeping letters and digits only, it has a
  digit, or it is a number word (zero..ninety, hundred, oh, double, ...), or it contains
  a content word of the label text (a word of 2+ letters other than "dot", "at", "and",
  "is"...). So "[CREDIT_CARD] I'm 855" fails (the "855" is left), "The number is
  [CREDIT_CARD]" passes. Whichever placeholder entity covers it does not matter here.
- Transcript recall, loose: some placeholder of a compatible entity overlaps the window
  (a card's CVV may be inside a [CREDIT_CARD]; an expiry may be read as a date).
- False redactions: placeholders whose time overlaps no PII label window on its channel.
- Audio, the target: the RMS level (dBFS) of the redacted audio inside every span
  callvault cut (from the call's `redactions.audio.spans`, widened by the margin it cut
  with) must be at or below -60 dBFS ("-inf" is digital silence).
- Audio per label: the same level inside each labelled span itself (no widening); per
  entity the maximum over its spans. A label left audible is a recall miss; those spans
  are listed with their excess.
- Disclosure: the compliance check "disclosure" passed iff the script's disclosure is
  "early" (within the check's window); late or none must fail.
- Trackers: a labelled objection is found when a hit of the same tracker starts inside
  the labelled line (its start - 0.5 s to its end + 0.5 s); buying signals and competitors
  likewise with any hit of that kind. Actions: a labelled action is found when an item of
  the same owner has an utterance overlapping the labelled line; its due date matches when
  the item's due equals the label's resolved day (only where the label names one).
- Timing: ``ProcessResult.seconds`` (the whole job), ``insight_seconds`` (PII and insight
  stages), the transcription time (from the start of the job to the "pii" progress mark:
  opening the vault, decoding, VAD + ASR, speakers) and the audio rewrite (between the
  "redact-audio" marks). Target: insight seconds <= 20 % of the transcription time, per
  call.

Part 2, a sanity score on real contact-centre text: the Harper Valley Bank transcripts in
``$EVAL_DATA/call_transcripts/harper_valley_bank`` (default ``/work/shared/eval-data``; read
in place, never copied). Human transcripts, so no ASR errors; each segment's words are
spread evenly over its time. PII detection, redaction and the insight stages run directly
(no vault). Per call: the task label, whether the summary or the action items mention the
task's key words, the disclosure check, runtime and PII findings per entity. Three calls
only, all lower case without punctuation: it says whether the stages behave sensibly on
real dialogue, not how accurate they are.

Work dir (``--workdir``, default ``bench/results/insights/``, git-ignored): the synthesised
calls (cached by script hash), the assembled speech models and the trackers file. Each
vault is a temporary directory, removed after its call.

Run it from the repository root (about 5 minutes on 2 cores; the first run also synthesises
the calls and assembles the models)::

    .venv/bin/python bench/insights.py
    .venv/bin/python bench/insights.py --calls en-card-payment,en-amex-dispute --debug
    .venv/bin/python bench/insights.py --margin 0.5 --no-hvb   # another audio margin

``--debug`` prints the ASR words around every PII miss and false redaction (terminal only;
it is call content, never write it to a file in the repository).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
import wave
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from _common import machine_line, table, verdict
from _scripted import ScriptedCall, SynthResult, load_scripts, synthesize

ROOT = Path(__file__).resolve().parent
DEFAULT_WORKDIR = ROOT / "results" / "insights"  # git-ignored (/bench/results/)
EVAL = Path(os.environ.get("EVAL_DATA", "/work/shared/eval-data"))
HVB = EVAL / "call_transcripts" / "harper_valley_bank"
AGENT_NUMBER, CUSTOMER_NUMBER = "+14155550100", "+14155550123"
WIDEN = 0.15
TARGET_RECALL = 0.98
RECALL_ENTITIES = ("CREDIT_CARD", "US_SSN", "EMAIL", "PHONE")
TARGET_DBFS = -60.0
TARGET_INSIGHT_SHARE = 0.20
PLACEHOLDER = re.compile(r"^\[([A-Z_]+)\]$")
COMPATIBLE = {
    "CREDIT_CARD": {"CREDIT_CARD"},
    "CVV": {"CVV", "CREDIT_CARD"},
    "CARD_EXPIRY": {"CARD_EXPIRY", "CREDIT_CARD", "DATE_OF_BIRTH"},
    "DATE_OF_BIRTH": {"DATE_OF_BIRTH"},
    "US_SSN": {"US_SSN"},
    "IBAN": {"IBAN"},
    "EMAIL": {"EMAIL"},
    "PHONE": {"PHONE"},
    "PERSON": {"PERSON"},
    "ADDRESS": {"ADDRESS"},
}
NUMBER_WORDS = set(
    "zero oh one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty "
    "seventy eighty ninety hundred thousand double triple".split()
)
GLUE = {"dot", "at", "and", "is", "the", "a", "of", "it", "my", "to"}
# Task key words of the Harper Valley Bank task types (any one of them counts).
TASK_WORDS = {
    "replace card": ("replace", "replacement", "card"),
    "transfer money": ("transfer",),
    "check balance": ("balance",),
    "order checks": ("checks", "checkbook"),
    "reset password": ("password",),
    "schedule appointment": ("appointment",),
    "get branch hours": ("hours",),
    "pay bill": ("bill",),
    "update address": ("address",),
    "routing number": ("routing",),
}


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def dbfs(samples: np.ndarray) -> float:
    if samples.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def fmt_db(value: float) -> str:
    return "-inf" if value == -math.inf else f"{value:.1f}"


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """(channels, samples) float in [-1, 1] and the rate of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as source:
        rate, channels = source.getframerate(), source.getnchannels()
        pcm = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    return pcm.reshape(-1, channels).T.astype(np.float64) / 32768.0, rate


# -- one scripted call ----------------------------------------------------------------------


@dataclass
class CallRun:
    synth: SynthResult
    document: dict[str, Any]
    audio: np.ndarray
    rate: int
    seconds: float
    insight_seconds: float
    transcribe_seconds: float
    redact_seconds: float
    channel_ok: bool


@dataclass
class Words:
    """The transcript's words of one channel: (start, end, text)."""

    items: list[tuple[float, float, str]] = field(default_factory=list)

    def within(self, lo: float, hi: float) -> list[tuple[float, float, str]]:
        return [w for w in self.items if w[1] > lo and w[0] < hi]


def words_by_channel(document: dict[str, Any]) -> dict[int, Words]:
    out: dict[int, Words] = defaultdict(Words)
    for utterance in (document.get("transcript") or {}).get("utterances", []):
        for word in utterance["words"]:
            out[utterance["channel"]].items.append(
                (word["start"], word["end"], word["text"].strip())
            )
    return out


def run_call(
    synth: SynthResult,
    cache: Path,
    trackers: Path,
    pipelines: dict[str, Any],
    margin: float | None = None,
    asr_models: dict[str, str] | None = None,
) -> CallRun:
    from callvault.capture import FileImportOptions, import_file
    from callvault.config import load_config
    from callvault.services import process_call
    from callvault.services.calls import call_document, listen_audio
    from callvault.services.process import pipeline_for
    from callvault.vault import Vault

    call = synth.call
    with tempfile.TemporaryDirectory(prefix="bench-insights-") as tmp:
        config = load_config(
            env={},
            data_dir=Path(tmp) / "data",
            database_url=None,
            actor="bench",
            model_cache=cache,
            trackers=trackers,
            **({} if margin is None else {"redaction_margin": margin}),
            **({} if not asr_models else {"asr_models": asr_models}),
        )
        options = FileImportOptions(
            language=call.language,
            direction="outbound",  # the agent calls: caller = agent = channel 0
            caller=AGENT_NUMBER,
            callee=CUSTOMER_NUMBER,
            agent="bench",
            started_at=call.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        with Vault.open(config) as vault:
            captured = import_file(synth.wav, options, max_bytes=config.max_input_bytes)
            call_id = vault.store_call(captured).call_id
        if call.language not in pipelines:
            pipelines[call.language] = pipeline_for(config)
        marks: list[tuple[float, str, float]] = []
        t0 = time.perf_counter()
        result = process_call(
            config,
            call_id,
            pipeline=pipelines[call.language],
            progress=lambda fraction, stage: marks.append((time.perf_counter(), stage, fraction)),
        )
        pii_at = next((t for t, stage, _ in marks if stage == "pii"), t0 + result.seconds)
        redact = [t for t, stage, _ in marks if stage == "redact-audio"]
        with Vault.open(config) as vault:
            document = call_document(vault, call_id, purpose="benchmark")
            out = Path(tmp) / "redacted.wav"
            listen_audio(vault, call_id, out, role="admin", purpose="benchmark")
            audio, rate = read_wav(out)
    roles = {u["channel"]: u["speaker"] for u in document["transcript"]["utterances"]}
    return CallRun(
        synth=synth,
        document=document,
        audio=audio,
        rate=rate,
        seconds=result.seconds,
        insight_seconds=result.insight_seconds,
        transcribe_seconds=pii_at - t0,
        redact_seconds=(redact[-1] - redact[0]) if len(redact) >= 2 else 0.0,
        channel_ok=roles.get(0) == "bench" and roles.get(1, "customer") == "customer",
    )


# -- scoring ---------------------------------------------------------------------------------


def content_words(text: str) -> set[str]:
    return {w for w in (norm(t) for t in text.split()) if len(w) >= 2 and w not in GLUE}


def carries(word: str, content: set[str]) -> bool:
    w = norm(word)
    if not w or PLACEHOLDER.match(word.strip(".,?!")):
        return False
    if any(c.isdigit() for c in w) or w in NUMBER_WORDS:
        return True
    return any(c in w for c in content if c not in NUMBER_WORDS)


@dataclass
class PiiScore:
    entity: str
    call: str
    strict: bool
    loose: bool
    level: float  # dBFS in the labelled span
    span: tuple[float, float]
    channel: int
    muted: float = 0.0  # share of the span's 10 ms frames that are digital silence
    head: float = 0.0  # seconds of the span before its first muted frame (all: none muted)
    tail: float = 0.0  # seconds of the span after its last muted frame


def redacted_levels(run: CallRun) -> list[float]:
    """The level (dBFS) of the redacted audio inside each span callvault cut, widened by
    the margin it cut with, on the span's channel."""
    audio = (run.document.get("redactions") or {}).get("audio") or {}
    margin = float(audio.get("margin_s") or 0.0)
    levels = []
    for span in audio.get("spans") or []:
        a = max(0, round((span["start"] - margin) * run.rate))
        b = min(run.audio.shape[1], round((span["end"] + margin) * run.rate))
        channels = range(run.audio.shape[0]) if span["channel"] is None else [span["channel"]]
        if b > a:
            levels.extend(dbfs(run.audio[channel, a:b]) for channel in channels)
    return levels


def muted_edges(samples: np.ndarray, rate: int) -> tuple[float, float, float]:
    """Share of 10 ms frames that are digital silence, and the unmuted seconds before the
    first and after the last such frame."""
    step = rate // 100
    frames = samples[: samples.size // step * step].reshape(-1, step)
    if frames.shape[0] == 0:
        return 1.0, 0.0, 0.0
    silent = np.flatnonzero(np.abs(frames).max(axis=1) == 0)
    total = frames.shape[0] / 100
    if silent.size == 0:
        return 0.0, total, total
    return silent.size / frames.shape[0], silent[0] / 100, total - (silent[-1] + 1) / 100


def placeholder_of(text: str) -> str | None:
    match = PLACEHOLDER.match(text.strip(".,?!"))
    return match[1] if match else None


def score_pii(run: CallRun, debug: bool) -> tuple[list[PiiScore], list[tuple[str, str]]]:
    by_channel = words_by_channel(run.document)
    scores: list[PiiScore] = []
    windows: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for timing in run.synth.labels:
        label = timing.label
        if label.type != "pii" or timing.span is None:
            continue
        lo, hi = timing.span[0] - WIDEN, timing.span[1] + WIDEN
        windows[timing.channel].append((lo, hi))
        inside = by_channel[timing.channel].within(lo, hi)
        holders = [placeholder_of(w[2]) for w in inside]
        content = content_words(label.text or "")
        leaked = [w for w in inside if carries(w[2], content)]
        strict = any(holders) and not leaked
        loose = any(h in COMPATIBLE[label.entity or ""] for h in holders if h)
        a, b = (round(t * run.rate) for t in timing.span)
        level = dbfs(run.audio[timing.channel, a:b])
        muted, head, tail = muted_edges(run.audio[timing.channel, a:b], run.rate)
        scores.append(
            PiiScore(
                label.entity or "",
                run.synth.call.id,
                strict,
                loose,
                level,
                timing.span,
                timing.channel,
                muted,
                head,
                tail,
            )
        )
        if debug and not (strict and loose):
            near = by_channel[timing.channel].within(lo - 1.5, hi + 1.5)
            print(
                f"DEBUG miss {run.synth.call.id} {label.entity} {timing.span}: "
                + " ".join(f"{w[2]}@{w[0]:.2f}" for w in near),
                file=sys.stderr,
            )
    false: list[tuple[str, str]] = []
    for channel, words in by_channel.items():
        for start, end, text in words.items:
            entity = placeholder_of(text)
            if entity and not any(end > lo and start < hi for lo, hi in windows[channel]):
                false.append((run.synth.call.id, entity))
                if debug:
                    near = words.within(start - 2.0, end + 2.0)
                    print(
                        f"DEBUG false {run.synth.call.id} {entity} @{start:.2f}: "
                        + " ".join(w[2] for w in near),
                        file=sys.stderr,
                    )
    return scores, false


@dataclass
class InsightScore:
    disclosure_ok: bool
    disclosure_passed: bool | None
    found: Counter[str]
    total: Counter[str]
    due_ok: int
    due_total: int


def score_insights(run: CallRun) -> InsightScore:
    insights = run.document.get("insights") or {}
    trackers = insights.get("trackers") or {}
    checks = (trackers.get("compliance") or {}).get("checks", [])
    disclosure = next((c["passed"] for c in checks if c["name"] == "disclosure"), None)
    expected = run.synth.call.disclosure == "early"
    hits = trackers.get("hits", [])
    utterances = run.document["transcript"]["utterances"]
    items = (insights.get("actions") or {}).get("items", [])
    lines = run.synth.lines
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    due_ok = due_total = 0
    for timing in run.synth.labels:
        label = timing.label
        line = lines[timing.line]
        lo, hi = line.start - 0.5, line.end + 0.5
        if label.type in ("objection", "buying-signal", "competitor"):
            kind = label.type
            total[kind] += 1
            found[kind] += any(
                lo <= h["time"] <= hi
                and (h["tracker"] == label.tracker if kind == "objection" else h["kind"] == kind)
                for h in hits
            )
        elif label.type == "action":
            total["action"] += 1
            owner = "agent" if label.owner == "agent" else "customer"
            matched = [
                item
                for item in items
                if _owner(item, run) == owner
                and any(
                    utterances[u]["end"] > lo and utterances[u]["start"] < hi
                    for u in item["utterances"]
                )
            ]
            found["action"] += bool(matched)
            if timing.due_date is not None:
                due_total += 1
                day = timing.due_date.isoformat()
                due_ok += any(str(item["due"] or "")[:10] == day for item in matched)
    return InsightScore(
        disclosure_ok=disclosure is not None and disclosure == expected,
        disclosure_passed=disclosure,
        found=found,
        total=total,
        due_ok=due_ok,
        due_total=due_total,
    )


def _owner(item: dict[str, Any], run: CallRun) -> str:
    owner = str(item.get("owner") or "")
    if owner in ("agent", "customer"):
        return owner
    return "agent" if item.get("speaker") == "bench" else "customer"


# -- Harper Valley Bank ---------------------------------------------------------------------


def hvb_transcript(path: Path) -> tuple[Any, dict[str, Any]]:
    from callvault.analysis import Transcript, Utterance, Word

    data = json.loads(path.read_text(encoding="utf-8"))
    utterances = []
    for segment in sorted(data["segments"], key=lambda s: s["start_ms"]):
        text = re.sub(r"\[\w+\]", " ", segment["human_transcript"]).strip()  # "[noise]"
        parts = text.split()
        if not parts:
            continue
        start = segment["start_ms"] / 1000
        end = start + segment["duration_ms"] / 1000
        step = (end - start) / len(parts)
        words = tuple(
            Word(start + i * step, start + (i + 1) * step, p, 1.0) for i, p in enumerate(parts)
        )
        role = "agent" if segment["speaker_role"] == "agent" else "customer"
        channel = 0 if role == "agent" else 1
        utterances.append(Utterance(role, channel, start, end, text, 1.0, words))
    transcript = Transcript("done", "en", "human", "1", tuple(utterances), True)
    return transcript, data["metadata"]


def hvb(detector: Any) -> list[list[str]]:
    from callvault.analysis.insights import CallFacts, InsightParams, InsightsPipeline
    from callvault.analysis.pii import redact_transcript

    rows = []
    for path in sorted(HVB.glob("*.json")):
        transcript, meta = hvb_transcript(path)
        facts = CallFacts(
            duration=max(u.end for u in transcript.utterances),
            language="en",
            roles={"agent": "agent", "customer": "customer"},
        )
        t0 = time.perf_counter()
        findings = detector.detect(transcript)
        redacted = redact_transcript(transcript, findings, detector=detector)
        insights = InsightsPipeline(InsightParams()).run(redacted, facts)
        seconds = time.perf_counter() - t0
        data = insights.to_json()
        task = meta["tasks"][0]["task_type"] if meta.get("tasks") else "?"
        keys = TASK_WORDS.get(task, tuple(task.split()))
        summary = " ".join(p["text"] for p in data["summary"]["points"]).lower()
        summary += " " + data["summary"]["topics"].lower()
        actions = " ".join(i["text"] for i in data["actions"]["items"]).lower()
        checks = (data["trackers"].get("compliance") or {}).get("checks", [])
        disclosure = next((c["passed"] for c in checks if c["name"] == "disclosure"), None)
        pii = Counter(f.entity for f in findings)
        said = any("record" in u.text for u in transcript.utterances)
        rows.append(
            [
                path.stem[:8],
                task,
                "yes" if any(k in summary for k in keys) else "no",
                f"{len(data['actions']['items'])}: "
                + ("yes" if any(k in actions for k in keys) else "no"),
                ("-" if disclosure is None else ("passed" if disclosure else "failed"))
                + f" ({'a' if said else 'no'} recording notice in the text)",
                f"{seconds:.2f}",
                ", ".join(f"{k} {v}" for k, v in sorted(pii.items())) or "-",
            ]
        )
    return rows


# -- report ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", help="comma-separated call ids (default: all)")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even if a target is missed")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--debug", action="store_true", help="print ASR words around misses")
    parser.add_argument("--no-hvb", action="store_true", help="skip part 2")
    parser.add_argument(
        "--margin", type=float, help="audio redaction margin in seconds (default: the setting's)"
    )
    parser.add_argument(
        "--asr-models",
        help="speech model per language instead of the defaults, as CALLVAULT_ASR_MODELS "
        "(en=whisper-base)",
    )
    args = parser.parse_args(argv)

    import logging

    logging.getLogger("callvault").setLevel(logging.WARNING)  # no call content in logs
    calls: list[ScriptedCall] = load_scripts()
    if args.calls:
        wanted = set(args.calls.split(","))
        unknown = wanted - {c.id for c in calls}
        if unknown:
            parser.error(f"unknown call ids: {', '.join(sorted(unknown))}")
        calls = [c for c in calls if c.id in wanted]
    workdir: Path = args.workdir
    cache = workdir / "models"
    cache.mkdir(parents=True, exist_ok=True)
    synths = [synthesize(call, workdir / "calls") for call in calls]
    trackers = workdir / "trackers.toml"
    names = sorted({t.label.name or "" for s in synths for t in s.labels if t.label.name})
    trackers.write_text(f"competitors = {json.dumps(names)}\n", encoding="utf-8")

    print("# callvault redaction and insights benchmark\n")
    print(
        machine_line(
            ["faster-whisper", "presidio-analyzer", "spacy"],
            f"{len(synths)} scripted calls, in-process services.process_call, one vault each",
        )
    )

    from callvault.analysis.pii import PiiDetector
    from callvault.config import load_config
    from callvault.services.insights import _detector

    t0 = time.perf_counter()
    config = load_config(env={}, data_dir=workdir / "unused", database_url=None)
    margin = config.redaction_margin if args.margin is None else args.margin
    print(f"Audio redaction margin: {margin:.2f} s; label windows widened by {WIDEN} s.\n")
    _detector(config.redaction_entities).load()
    presidio_load = time.perf_counter() - t0
    pipelines: dict[str, Any] = {}
    t0 = time.perf_counter()
    from callvault.config import _parse_model_map

    asr_models = _parse_model_map(args.asr_models) if args.asr_models else None
    if asr_models:
        print(f"Speech models: {args.asr_models} (defaults for other languages).\n")
    warm = run_call(synths[0], cache, trackers, pipelines, args.margin, asr_models)
    warm_wall = time.perf_counter() - t0

    runs: list[CallRun] = []
    for synth in synths:
        runs.append(run_call(synth, cache, trackers, pipelines, args.margin, asr_models))

    failed: list[str] = []
    pii: list[PiiScore] = []
    false: list[tuple[str, str]] = []
    for run in runs:
        scores, wrong = score_pii(run, args.debug)
        pii += scores
        false += wrong
    bad_channels = [r.synth.call.id for r in runs if not r.channel_ok]
    if bad_channels:
        failed.append("channel mapping")
        print(f"Channel 0 is NOT the agent in: {', '.join(bad_channels)}\n")

    print("## PII in the transcript and the audio\n")
    rows = []
    entities = sorted({s.entity for s in pii})
    for entity in [*entities, "all"]:
        group = [s for s in pii if entity in (s.entity, "all")]
        strict = sum(s.strict for s in group) / len(group)
        loose = sum(s.loose for s in group) / len(group)
        worst = max(s.level for s in group)
        target = entity in RECALL_ENTITIES
        ok = strict >= TARGET_RECALL and loose >= TARGET_RECALL
        if target and not ok:
            failed.append(f"{entity} recall")
        rows.append(
            [
                entity,
                str(len(group)),
                f"{strict:.2f}",
                f"{loose:.2f}",
                verdict(ok) if target else "-",
                fmt_db(worst),
                verdict(worst <= TARGET_DBFS),
                str(sum(1 for _, e in false if e == entity) if entity != "all" else len(false)),
            ]
        )
    table(
        [
            "entity",
            "labels",
            "recall strict",
            "recall loose",
            f"recall >= {TARGET_RECALL}",
            "max dBFS in span",
            f"audio <= {TARGET_DBFS:.0f}",
            "false redactions",
        ],
        rows,
    )
    # The target: the audio inside every span callvault cut (with its margin) is at or
    # below -60 dBFS. Labelled spans still audible above are the recall misses.
    cut_levels = [level for run in runs for level in redacted_levels(run)]
    cut_worst = max(cut_levels, default=float("-inf"))
    if cut_worst > TARGET_DBFS:
        failed.append("audio")
    print(
        f"Audio inside the {len(cut_levels)} spans callvault cut (margin included): "
        f"loudest {fmt_db(cut_worst)} dBFS, target <= {TARGET_DBFS:.0f}: "
        f"{verdict(cut_worst <= TARGET_DBFS)}.\n"
    )
    loud = [s for s in pii if s.level > TARGET_DBFS]
    if loud:
        print("Labelled spans left audible (the labels missed above):\n")
        table(
            [
                "call",
                "entity",
                "span (s)",
                "channel",
                "dBFS",
                "over by (dB)",
                "muted share",
                "unmuted head (s)",
                "unmuted tail (s)",
            ],
            [
                [
                    s.call,
                    s.entity,
                    f"{s.span[0]:.2f}-{s.span[1]:.2f}",
                    str(s.channel),
                    fmt_db(s.level),
                    f"{s.level - TARGET_DBFS:.1f}",
                    f"{s.muted:.0%}",
                    f"{s.head:.2f}",
                    f"{s.tail:.2f}",
                ]
                for s in loud
            ],
        )
    misses = [s for s in pii if not (s.strict and s.loose)]
    if misses:
        kinds = {(True, False): "loose", (False, True): "strict"}
        described = [
            f"{s.call} {s.entity} ({kinds.get((s.strict, s.loose), 'both')})" for s in misses
        ]
        print("Missed (which score): " + ", ".join(described) + "\n")
    if false:
        counts = Counter(false)
        print("False redactions: " + ", ".join(f"{c} {e} x{n}" for (c, e), n in counts.items()))
        print()

    print("## Insights per call\n")
    rows = []
    totals: Counter[str] = Counter()
    founds: Counter[str] = Counter()
    due_ok = due_total = 0
    for run in runs:
        score = score_insights(run)
        totals.update(score.total)
        founds.update(score.found)
        due_ok += score.due_ok
        due_total += score.due_total
        if not score.disclosure_ok:
            failed.append(f"disclosure {run.synth.call.id}")
        rows.append(
            [
                run.synth.call.id,
                run.synth.call.disclosure,
                "-" if score.disclosure_passed is None else str(score.disclosure_passed).lower(),
                verdict(score.disclosure_ok),
                *(
                    f"{score.found[k]}/{score.total[k]}" if score.total[k] else "-"
                    for k in ("objection", "buying-signal", "competitor", "action")
                ),
                f"{score.due_ok}/{score.due_total}" if score.due_total else "-",
            ]
        )
    rows.append(
        [
            "all",
            "",
            "",
            "",
            *(
                f"{founds[k]}/{totals[k]}" if totals[k] else "-"
                for k in ("objection", "buying-signal", "competitor", "action")
            ),
            f"{due_ok}/{due_total}" if due_total else "-",
        ]
    )
    table(
        [
            "call",
            "disclosure label",
            "check passed",
            "correct",
            "objections",
            "buying signals",
            "competitors",
            "actions",
            "due dates",
        ],
        rows,
    )

    print("## Timing (seconds)\n")
    print(
        f"Model load: presidio + spaCy {presidio_load:.1f} s. Warm-up call ({warm.synth.call.id}, "
        f"Whisper load included): {warm_wall:.1f} s wall, job {warm.seconds:.1f} s, "
        f"insight stages {warm.insight_seconds:.2f} s (not in the rows below).\n"
    )
    rows = []
    for run in runs:
        share = run.insight_seconds / max(run.transcribe_seconds, 1e-9)
        if share > TARGET_INSIGHT_SHARE:
            failed.append(f"timing {run.synth.call.id}")
        rows.append(
            [
                run.synth.call.id,
                f"{run.synth.duration:.1f}",
                f"{run.seconds:.2f}",
                f"{run.transcribe_seconds:.2f}",
                f"{run.insight_seconds:.3f}",
                f"{run.redact_seconds:.2f}",
                f"{share:.1%}",
                verdict(share <= TARGET_INSIGHT_SHARE),
            ]
        )
    table(
        [
            "call",
            "audio",
            "job",
            "transcription",
            "insight stages",
            "audio redaction",
            "insight / transcription",
            f"<= {TARGET_INSIGHT_SHARE:.0%}",
        ],
        rows,
    )

    if not args.no_hvb and HVB.is_dir():
        print("## Harper Valley Bank human transcripts (sanity score, analysis level)\n")
        detector = PiiDetector()
        table(
            [
                "call",
                "task",
                "summary mentions task",
                "action items: mention task",
                "disclosure",
                "seconds",
                "PII found",
            ],
            hvb(detector),
        )

    if failed:
        print("Targets missed: " + ", ".join(failed) + ".")
    else:
        print("All targets met.")
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
