"""Benchmark of redaction and insights end to end on the scripted, labelled test calls.

Not a test: it prints Markdown tables on stdout and exits 1 when a target is missed
(0 with ``--no-fail``). Targets: recall of CREDIT_CARD, US_SSN, EMAIL, PHONE >= 0.98;
every card, CVV and SSN label cut in the transcript and in the audio (loudest 20 ms frame
of its span <= -60 dBFS); the audio inside every span callvault cut <= -60 dBFS;
collateral muting of non-PII speech < 3 %; the disclosure check right on every call;
insight stages <= 20 % of the transcription time. They apply to every set and variant that runs.

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
scored. Competitor names (`COMPETITORS` and those the scripts name) are given to the
tracker stage through a trackers file (``competitors = [...]``), as a deployment would
configure them.

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

Telephone mode (issue 16; ``--telephone``, ``--variants``, ``--set``). The figures above
come from clean 16 kHz audio of the calls the code was tuned on; a contact centre records
8 kHz G.711 with a party per channel. ``--telephone`` turns each synthesised call into a
stereo 8 kHz G.711 WAV (agent left, customer right) with ``bench/_telephone.py``: the
300-3400 Hz band, then ``ulaw`` (mu-law), ``alaw`` (A-law) or ``ulaw+noise`` (mu-law with
band-limited line noise at -45 dBFS on both channels, seeded from the script's hash); the
times do not change, so the label windows stay valid. It is imported and scored exactly
as the clean WAV (``--variants clean`` is the clean WAV, the peer to run beside them).
``--set scripted`` (default) runs the tuned-on calls, ``--set telephone`` the HELD-OUT
calls of ``bench/data/telephone_calls.toml`` (written for this benchmark, not tuned on:
card with expiry and security code, SSN read digit by digit, date of birth, PIN and
password asked for, e-mail, phone, names, the disclosure as the agent's first sentence,
a competitor, the customer's mood at the start and at the end, action items; two calls in
German), ``--set holdout`` a second held-out set written the same way
(``bench/data/holdout_calls.toml``: six calls, two in German), ``--set all`` all three.
Every table names its set (tuned on / held out) and variant.
The competitor names in the trackers file are `COMPETITORS` plus any a script names.

Scores added for it (all variants, clean included):

- Audio per label, loudest frame: the RMS level of the loudest 20 ms frame of the
  redacted audio inside each labelled span; per entity the maximum, and how many labels
  are cut (loudest frame <= -60 dBFS).
- Every card, CVV and SSN cut (target): each label of CREDIT_CARD, CVV and US_SSN is
  found (transcript, strict) and its loudest frame is at or below -60 dBFS.
- Collateral muting (target < 3 %): of the labelled non-PII speech, the share the
  redacted audio has muted. Non-PII speech = 20 ms frames inside a line of the channel,
  outside every PII label window of the channel (widened by 0.15 s) where the unredacted
  speech is above -45 dBFS (for the telephone variants: the telephone speech before the
  line noise, so noise alone never counts as speech); muted = the redacted frame is below
  -60 dBFS. A span cut with its margin, or a whole answer cut around the number, shows here.
  Printed as well: the same share for the speech outside the answers callvault cut
  because they were asked for (``reason: asked-for``, widened by the audio margin), which
  issue 16 has cut whole by design; that is the speech that must stay audible.
- Customer sentiment: the sign (>= 0.05 positive, <= -0.05 negative, else neutral, as
  callvault labels) of ``insights.sentiment.customer.start`` / ``.end`` (callvault's
  mean over the first and last third of the customer's utterances) against the script's
  ``sentiment_start`` / ``sentiment_end``.
- Action items: recall as above; precision = items that match a labelled action (same
  owner, an utterance overlapping the labelled line) / all items; F1.
- Disclosure detection (correct/total) and competitor recall, as above.

A call that fails to process is reported (its error's type only) and counts as a missed
target; the others still run.

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
    .venv/bin/python bench/insights.py --set telephone --telephone --no-hvb  # tuned on, G.711
    .venv/bin/python bench/insights.py --set all --variants clean,ulaw --no-hvb

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
from _scripted import DEFAULT, HOLDOUT, TELEPHONE, SynthResult, load_scripts, synthesize
from _telephone import telephone_call

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
# The telephone mode (issue 16): which scripts, which telephone line, what is measured.
SETS = {"scripted": DEFAULT, "telephone": TELEPHONE, "holdout": HOLDOUT}  # tuned on / held out
# The telephone set's misses were read and fixed in December 2026: it is tuned on now.
# The holdout set's first run was held out; its misses were read too (docs/insights.md).
SET_NOTE = {"scripted": "tuned on", "telephone": "tuned on", "holdout": "held out, then read"}
NOISE_DBFS = -45.0  # band-limited line noise of the "+noise" variant
VARIANTS = {  # name -> (G.711 law or None for the clean 16 kHz WAV, line noise dBFS)
    "clean": (None, None),
    "ulaw": ("ulaw", None),
    "alaw": ("alaw", None),
    "ulaw+noise": ("ulaw", NOISE_DBFS),
}
TELEPHONE_VARIANTS = ("ulaw", "alaw", "ulaw+noise")
VARIANT_NOTE = {
    "clean": "16 kHz 16-bit PCM, as synthesised",
    "ulaw": "8 kHz G.711 mu-law, 300-3400 Hz",
    "alaw": "8 kHz G.711 A-law, 300-3400 Hz",
    "ulaw+noise": f"8 kHz G.711 mu-law, 300-3400 Hz, line noise {NOISE_DBFS:.0f} dBFS",
}
# Competitor names as a deployment would configure them (the trackers file): those the
# scripts name and two that no script says.
COMPETITORS = ("Acme Dialer", "Brightline", "Nimbus", "Telvio", "Zentra", "Quillcall")
FRAME_S = 0.02  # 20 ms RMS frames for the loudest-frame and the collateral scores
MUTED_DBFS = -60.0  # a frame of the redacted audio this quiet is muted
SPEECH_DBFS = -45.0  # a frame of the unredacted speech this loud is speech
TARGET_COLLATERAL = 0.03
CUT_ENTITIES = ("CREDIT_CARD", "CVV", "US_SSN")  # every one cut, transcript and audio
REPORT_ENTITIES = (
    "CREDIT_CARD",
    "CVV",
    "CARD_EXPIRY",
    "US_SSN",
    "DATE_OF_BIRTH",
    "EMAIL",
    "PHONE",
    "PERSON",
)
SECRETS = ("PIN", "PASSWORD")  # reported where labelled
PLACEHOLDER = re.compile(r"^\[([A-Z_]+)\]$")
COMPATIBLE = {
    "CREDIT_CARD": {"CREDIT_CARD"},
    "CVV": {"CVV", "CREDIT_CARD"},
    "CARD_EXPIRY": {"CARD_EXPIRY", "CREDIT_CARD", "DATE_OF_BIRTH"},
    "DATE_OF_BIRTH": {"DATE_OF_BIRTH"},
    "US_SSN": {"US_SSN", "NATIONAL_ID"},
    "PIN": {"PIN", "PASSWORD", "CVV"},
    "PASSWORD": {"PASSWORD", "PIN"},
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


def frame_levels(samples: np.ndarray, rate: int) -> np.ndarray:
    """The RMS level (dBFS, -inf for silence) of each 20 ms frame of `samples`; a last
    partial frame counts as a frame."""
    step = max(1, round(rate * FRAME_S))
    if samples.size == 0:
        return np.zeros(0)
    padded = np.zeros(-(-samples.size // step) * step)
    padded[: samples.size] = np.square(samples.astype(np.float64))
    sums = padded.reshape(-1, step).sum(axis=1)
    counts = np.full(sums.shape, float(step))
    counts[-1] = samples.size - step * (sums.size - 1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(sums / counts)


def loudest_frame(samples: np.ndarray, rate: int) -> float:
    levels = frame_levels(samples, rate)
    return float(levels.max()) if levels.size else -math.inf


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
    variant: str = "clean"
    reference: np.ndarray | None = None  # the unredacted speech (telephone: before noise)
    reference_rate: int = 0


def prepare_input(synth: SynthResult, variant: str, workdir: Path) -> tuple[Path, np.ndarray, int]:
    """The file callvault imports for `variant` and the unredacted speech to compare the
    redacted audio with: the synthesised WAV itself (clean), or a stereo G.711 WAV of it
    (agent left, customer right) and its telephone speech before the line noise. The
    times do not change, so the label spans stay valid."""
    clean, rate = read_wav(synth.wav)
    law, noise = VARIANTS[variant]
    if law is None:
        return synth.wav, clean, rate
    folder = workdir / "telephone" / variant
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{synth.call.id}.wav"
    seed = int(synth.script_sha256[:8], 16)  # the same noise on every run
    speech = telephone_call(clean, rate, path, law, noise_dbfs=noise, seed=seed)
    return path, speech.astype(np.float64), 8000


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
    wav: Path | None = None,
) -> CallRun:
    from callvault.capture import FileImportOptions, import_file
    from callvault.config import load_config
    from callvault.services import Context, open_context, process_call
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
            captured = import_file(wav or synth.wav, options, max_bytes=config.max_input_bytes)
            call_id = vault.calls.store_call(captured).call_id
        if call.language not in pipelines:
            pipelines[call.language] = pipeline_for(config)
        marks: list[tuple[float, str, float]] = []
        t0 = time.perf_counter()
        with open_context(config) as ctx:
            result = process_call(
                ctx,
                call_id,
                pipeline=pipelines[call.language],
                progress=lambda fraction, stage: marks.append(
                    (time.perf_counter(), stage, fraction)
                ),
            )
        pii_at = next((t for t, stage, _ in marks if stage == "pii"), t0 + result.seconds)
        redact = [t for t, stage, _ in marks if stage == "redact-audio"]
        with Vault.open(config) as vault:
            document = call_document(Context(config, vault), call_id, purpose="benchmark")
            out = Path(tmp) / "redacted.wav"
            listen_audio(Context(config, vault), call_id, out, role="admin", purpose="benchmark")
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
    loudest: float = -math.inf  # dBFS of the loudest 20 ms frame in the labelled span
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
        compatible = COMPATIBLE.get(label.entity or "", {label.entity})
        loose = any(h in compatible for h in holders if h)
        a, b = (round(t * run.rate) for t in timing.span)
        level = dbfs(run.audio[timing.channel, a:b])
        loudest = loudest_frame(run.audio[timing.channel, a:b], run.rate)
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
                loudest,
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
    items: int = 0  # action items callvault found
    items_matched: int = 0  # ... that match a labelled action
    sentiment: tuple[float, float] | None = None  # the customer's, first and last third


def mood(score: float) -> str:
    """The sign of a sentiment score, with VADER's thresholds (as callvault labels)."""
    return "positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral"


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
    matched_items: set[int] = set()
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
            indices = [
                i
                for i, item in enumerate(items)
                if _owner(item, run) == owner
                and any(
                    utterances[u]["end"] > lo and utterances[u]["start"] < hi
                    for u in item["utterances"]
                )
            ]
            matched = [items[i] for i in indices]
            matched_items.update(indices)
            found["action"] += bool(matched)
            if timing.due_date is not None:
                due_total += 1
                day = timing.due_date.isoformat()
                due_ok += any(str(item["due"] or "")[:10] == day for item in matched)
    customer = (insights.get("sentiment") or {}).get("customer")
    return InsightScore(
        disclosure_ok=disclosure is not None and disclosure == expected,
        disclosure_passed=disclosure,
        found=found,
        total=total,
        due_ok=due_ok,
        due_total=due_total,
        items=len(items),
        items_matched=len(matched_items),
        sentiment=None if not customer else (float(customer["start"]), float(customer["end"])),
    )


def asked_windows(run: CallRun) -> dict[int, list[tuple[float, float]]]:
    """Per channel, the answers callvault cut because they were asked for (`reason:
    asked-for`), widened by the audio margin it cut with."""
    redactions = run.document.get("redactions") or {}
    margin = float((redactions.get("audio") or {}).get("margin_s") or 0.0)
    windows: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for item in redactions.get("transcript") or []:
        if item.get("reason") == "asked-for" and item.get("channel") is not None:
            windows[int(item["channel"])].append(
                (float(item["start"]) - margin, float(item["end"]) + margin)
            )
    return windows


def score_collateral(
    run: CallRun,
) -> tuple[dict[int, int], dict[int, int], dict[int, int], dict[int, int]]:
    """Per channel: the 20 ms frames of labelled non-PII speech (inside a line of the
    channel, outside every PII label window of it widened by `WIDEN`, the unredacted
    speech above `SPEECH_DBFS`) and how many of them the redacted audio has muted (below
    `MUTED_DBFS`); then the same two counts for the speech outside the answers cut
    because they were asked for (which are cut whole by design, issue 16)."""
    speech: dict[int, int] = {}
    muted: dict[int, int] = {}
    speech_out: dict[int, int] = {}
    muted_out: dict[int, int] = {}
    if run.reference is None:
        return speech, muted, speech_out, muted_out
    asked = asked_windows(run)
    windows: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for timing in run.synth.labels:
        if timing.label.type == "pii" and timing.span is not None:
            windows[timing.channel].append((timing.span[0] - WIDEN, timing.span[1] + WIDEN))
    for channel in range(min(run.reference.shape[0], run.audio.shape[0])):
        before = frame_levels(run.reference[channel], run.reference_rate)
        after = frame_levels(run.audio[channel], run.rate)
        n = min(before.size, after.size)
        t0 = np.arange(n) * FRAME_S
        t1 = t0 + FRAME_S
        spoken = np.zeros(n, dtype=bool)
        for line in run.synth.lines:
            if line.channel == channel:
                spoken |= (t0 >= line.start) & (t1 <= line.end)
        for lo, hi in windows[channel]:
            spoken &= ~((t1 > lo) & (t0 < hi))
        spoken &= before[:n] > SPEECH_DBFS
        speech[channel] = int(spoken.sum())
        muted[channel] = int((spoken & (after[:n] < MUTED_DBFS)).sum())
        outside = spoken.copy()
        for lo, hi in asked[channel]:
            outside &= ~((t1 > lo) & (t0 < hi))
        speech_out[channel] = int(outside.sum())
        muted_out[channel] = int((outside & (after[:n] < MUTED_DBFS)).sum())
    return speech, muted, speech_out, muted_out


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


def pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def f1(found: int, total: int, matched: int, items: int) -> tuple[str, str, str]:
    """Precision, recall and F1 of action items as text ("-" where undefined)."""
    precision = matched / items if items else None
    recall = found / total if total else None
    score = None
    if precision is not None and recall is not None:
        score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    p, r, f = ("-" if v is None else f"{v:.2f}" for v in (precision, recall, score))
    return p, r, f


def report_group(
    runs: list[CallRun], set_name: str, variant: str, debug: bool, summary: list[list[str]]
) -> list[str]:
    """Print the tables of one set and variant; the targets it misses."""
    where = f"set `{set_name}` ({SET_NOTE[set_name]}), variant `{variant}`"
    failed: list[str] = []

    def miss(what: str) -> None:
        failed.append(f"{what} [{set_name}/{variant}]")

    print(f"## {where}: {VARIANT_NOTE[variant]}\n")
    pii: list[PiiScore] = []
    false: list[tuple[str, str]] = []
    for run in runs:
        scores, wrong = score_pii(run, debug)
        pii += scores
        false += wrong
    bad_channels = [r.synth.call.id for r in runs if not r.channel_ok]
    if bad_channels:
        miss("channel mapping")
        print(f"Channel 0 is NOT the agent in: {', '.join(bad_channels)}\n")

    print(f"### PII in the transcript and the audio, {where}\n")
    rows = []
    labelled = {s.entity for s in pii}
    entities = [*REPORT_ENTITIES, *(e for e in SECRETS if e in labelled)]
    entities += sorted(labelled - set(entities))
    cut_ok: dict[str, bool] = {}
    for entity in [*entities, "all"]:
        group = [s for s in pii if entity in (s.entity, "all")]
        falses = sum(1 for _, e in false if e == entity) if entity != "all" else len(false)
        if not group:
            rows.append([entity, "0", "-", "-", "-", "-", "-", "-", "-", "-", str(falses)])
            continue
        strict = sum(s.strict for s in group) / len(group)
        loose = sum(s.loose for s in group) / len(group)
        worst = max(s.level for s in group)
        loudest = max(s.loudest for s in group)
        audio_cut = sum(s.loudest <= TARGET_DBFS for s in group)
        target = entity in RECALL_ENTITIES
        ok = strict >= TARGET_RECALL and loose >= TARGET_RECALL
        if target and not ok:
            miss(f"{entity} recall")
        every = "-"
        if entity in CUT_ENTITIES:
            cut_ok[entity] = all(s.strict for s in group) and audio_cut == len(group)
            every = verdict(cut_ok[entity])
            if not cut_ok[entity]:
                miss(f"every {entity} cut")
        rows.append(
            [
                entity,
                str(len(group)),
                f"{strict:.2f}",
                f"{loose:.2f}",
                verdict(ok) if target else "-",
                fmt_db(worst),
                f"{audio_cut}/{len(group)}",
                fmt_db(loudest),
                verdict(loudest <= TARGET_DBFS),
                every,
                str(falses),
            ]
        )
    table(
        [
            "entity",
            "labels",
            "transcript recall strict",
            "transcript recall loose",
            f"recall >= {TARGET_RECALL}",
            "max span dBFS",
            f"audio cut (loudest frame <= {TARGET_DBFS:.0f})",
            "loudest 20 ms frame, max",
            f"<= {TARGET_DBFS:.0f}",
            "every one cut",
            "false redactions",
        ],
        rows,
    )
    # The target: the audio inside every span callvault cut (with its margin) is at or
    # below -60 dBFS. Labelled spans still audible above are the recall misses.
    cut_levels = [level for run in runs for level in redacted_levels(run)]
    cut_worst = max(cut_levels, default=float("-inf"))
    if cut_worst > TARGET_DBFS:
        miss("audio")
    print(
        f"Audio inside the {len(cut_levels)} spans callvault cut (margin included): "
        f"loudest {fmt_db(cut_worst)} dBFS, target <= {TARGET_DBFS:.0f}: "
        f"{verdict(cut_worst <= TARGET_DBFS)}.\n"
    )
    loud = [s for s in pii if s.loudest > TARGET_DBFS]
    if loud:
        print("Labelled spans with a frame left audible:\n")
        table(
            [
                "call",
                "entity",
                "span (s)",
                "channel",
                "span dBFS",
                "loudest frame dBFS",
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
                    fmt_db(s.loudest),
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

    print(f"### Collateral muting, {where}\n")
    print(
        f"Labelled non-PII speech: 20 ms frames inside a line of the channel, outside every "
        f"PII label window widened by {WIDEN} s, the unredacted speech above "
        f"{SPEECH_DBFS:.0f} dBFS; muted: the redacted frame below {MUTED_DBFS:.0f} dBFS.\n"
    )
    speech: Counter[int] = Counter()
    muted: Counter[int] = Counter()
    speech_out: Counter[int] = Counter()
    muted_out: Counter[int] = Counter()
    worst_calls: list[tuple[float, str]] = []
    for run in runs:
        said, cut, said_out, cut_out = score_collateral(run)
        speech.update(said)
        muted.update(cut)
        speech_out.update(said_out)
        muted_out.update(cut_out)
        total = sum(said.values())
        if total:
            worst_calls.append((sum(cut.values()) / total, run.synth.call.id))
    rows = []
    for name, channels in (("agent (0)", [0]), ("customer (1)", [1]), ("both", [0, 1])):
        s_frames = sum(speech[c] for c in channels)
        m_frames = sum(muted[c] for c in channels)
        o_frames = sum(speech_out[c] for c in channels)
        mo_frames = sum(muted_out[c] for c in channels)
        rows.append(
            [
                name,
                f"{s_frames * FRAME_S:.1f}",
                f"{m_frames * FRAME_S:.2f}",
                pct(m_frames, s_frames),
                verdict(m_frames < TARGET_COLLATERAL * s_frames) if s_frames else "-",
                f"{o_frames * FRAME_S:.1f}",
                pct(mo_frames, o_frames),
            ]
        )
    table(
        [
            "channel",
            "speech (s)",
            "muted (s)",
            "collateral",
            f"< {TARGET_COLLATERAL:.0%}",
            "speech outside asked-for answers (s)",
            "collateral there",
        ],
        rows,
    )
    all_speech, all_muted = sum(speech.values()), sum(muted.values())
    if all_speech and all_muted >= TARGET_COLLATERAL * all_speech:
        miss("collateral muting")
    if worst_calls:
        share, call_id = max(worst_calls)
        print(f"Most collateral in one call: {call_id}, {share:.1%}.\n")

    print(f"### Insights per call, {where}\n")
    rows = []
    totals: Counter[str] = Counter()
    founds: Counter[str] = Counter()
    due_ok = due_total = items = items_matched = 0
    disclosure_ok = 0
    moods: Counter[str] = Counter()
    for run in runs:
        score = score_insights(run)
        call = run.synth.call
        totals.update(score.total)
        founds.update(score.found)
        due_ok += score.due_ok
        due_total += score.due_total
        items += score.items
        items_matched += score.items_matched
        disclosure_ok += score.disclosure_ok
        if not score.disclosure_ok:
            miss(f"disclosure {call.id}")
        said = []
        for edge, label, index in (
            ("start", call.sentiment_start, 0),
            ("end", call.sentiment_end, 1),
        ):
            if label is None:
                said.append("-")
                continue
            moods[f"{edge} total"] += 1
            if score.sentiment is None:
                said.append(f"{label}: none")
                continue
            value = score.sentiment[index]
            right = mood(value) == label
            moods[edge] += right
            said.append(f"{label}: {value:+.2f} {'ok' if right else 'WRONG'}")
        rows.append(
            [
                call.id,
                call.disclosure,
                "-" if score.disclosure_passed is None else str(score.disclosure_passed).lower(),
                verdict(score.disclosure_ok),
                *(
                    f"{score.found[k]}/{score.total[k]}" if score.total[k] else "-"
                    for k in ("objection", "buying-signal", "competitor", "action")
                ),
                f"{score.items_matched}/{score.items}" if score.items else "0",
                f"{score.due_ok}/{score.due_total}" if score.due_total else "-",
                *said,
            ]
        )
    rows.append(
        [
            "all",
            "",
            "",
            f"{disclosure_ok}/{len(runs)}",
            *(
                f"{founds[k]}/{totals[k]}" if totals[k] else "-"
                for k in ("objection", "buying-signal", "competitor", "action")
            ),
            f"{items_matched}/{items}" if items else "0",
            f"{due_ok}/{due_total}" if due_total else "-",
            f"{moods['start']}/{moods['start total']}" if moods["start total"] else "-",
            f"{moods['end']}/{moods['end total']}" if moods["end total"] else "-",
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
            "actions found",
            "items matching a label",
            "due dates",
            "customer sentiment, start (label: score)",
            "customer sentiment, end",
        ],
        rows,
    )
    precision, recall, f_score = f1(founds["action"], totals["action"], items_matched, items)
    print(f"### Insight scores, {where}\n")
    table(
        ["score", "value"],
        [
            ["disclosure detection (correct/total)", f"{disclosure_ok}/{len(runs)}"],
            [
                "competitor recall",
                f"{founds['competitor']}/{totals['competitor']}" if totals["competitor"] else "-",
            ],
            [
                "customer sentiment at the start (sign right/labelled)",
                f"{moods['start']}/{moods['start total']}" if moods["start total"] else "-",
            ],
            [
                "customer sentiment at the end (sign right/labelled)",
                f"{moods['end']}/{moods['end total']}" if moods["end total"] else "-",
            ],
            ["action items: precision", precision],
            ["action items: recall", recall],
            ["action items: F1", f_score],
        ],
    )

    print(f"### Timing (seconds), {where}\n")
    rows = []
    for run in runs:
        share = run.insight_seconds / max(run.transcribe_seconds, 1e-9)
        if share > TARGET_INSIGHT_SHARE:
            miss(f"timing {run.synth.call.id}")
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
    summary.append(
        [
            set_name,
            SET_NOTE[set_name],
            variant,
            str(len(runs)),
            *(
                "-" if e not in cut_ok else verdict(cut_ok[e])
                for e in CUT_ENTITIES  # every card, CVV, SSN cut in transcript and audio
            ),
            f"{pct(all_muted, all_speech)} "
            f"({pct(sum(muted_out.values()), sum(speech_out.values()))} outside asked-for)",
            f"{disclosure_ok}/{len(runs)}",
            f"{founds['competitor']}/{totals['competitor']}" if totals["competitor"] else "-",
            f"{moods['start']}/{moods['start total']}" if moods["start total"] else "-",
            f"{moods['end']}/{moods['end total']}" if moods["end total"] else "-",
            f_score,
        ]
    )
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", help="comma-separated call ids (default: all of the set)")
    parser.add_argument(
        "--set",
        choices=("scripted", "telephone", "holdout", "all"),
        default="scripted",
        help="which scripts: the tuned-on scripted calls (default), the held-out "
        "telephone_calls.toml, the second held-out holdout_calls.toml, or all three",
    )
    parser.add_argument(
        "--telephone",
        action="store_true",
        help=f"telephone versions of the calls ({', '.join(TELEPHONE_VARIANTS)}) "
        "instead of the clean 16 kHz WAVs",
    )
    parser.add_argument(
        "--variants",
        help=f"comma-separated, of {', '.join(VARIANTS)} (default: clean; with "
        f"--telephone: {','.join(TELEPHONE_VARIANTS)})",
    )
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
    if args.variants:
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown or not variants:
            parser.error(f"unknown variants: {', '.join(unknown)}; use {', '.join(VARIANTS)}")
    else:
        variants = list(TELEPHONE_VARIANTS) if args.telephone else ["clean"]

    import logging

    logging.getLogger("callvault").setLevel(logging.WARNING)  # no call content in logs
    set_names = list(SETS) if args.set == "all" else [args.set]
    sets = {name: load_scripts(SETS[name]) for name in set_names}
    if args.calls:
        wanted = set(args.calls.split(","))
        unknown = wanted - {c.id for calls in sets.values() for c in calls}
        if unknown:
            parser.error(f"unknown call ids: {', '.join(sorted(unknown))}")
        sets = {name: [c for c in calls if c.id in wanted] for name, calls in sets.items()}
        sets = {name: calls for name, calls in sets.items() if calls}
    workdir: Path = args.workdir
    cache = workdir / "models"
    cache.mkdir(parents=True, exist_ok=True)
    synths = {
        name: [synthesize(call, workdir / "calls") for call in calls]
        for name, calls in sets.items()
    }
    trackers = workdir / "trackers.toml"
    # the same competitor list whichever set runs: the configured ones and any a script names
    named = {
        label.name
        for path in SETS.values()
        for call in load_scripts(path)
        for line in call.lines
        for label in line.labels
        if label.name
    }
    names = sorted(set(COMPETITORS) | named)
    trackers.write_text(f"competitors = {json.dumps(names)}\n", encoding="utf-8")

    count = sum(len(s) for s in synths.values())
    print("# callvault redaction and insights benchmark\n")
    print(
        machine_line(
            ["faster-whisper", "presidio-analyzer", "spacy"],
            f"{count} scripted calls x {len(variants)} variants "
            f"({', '.join(variants)}), sets: "
            + ", ".join(f"{n} ({SET_NOTE[n]})" for n in synths)
            + "; in-process services.process_call, one vault each",
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
    from callvault.config import parse_model_map as _parse_model_map

    asr_models = _parse_model_map(args.asr_models) if args.asr_models else None
    if asr_models:
        print(f"Speech models: {args.asr_models} (defaults for other languages).\n")

    failed: list[str] = []
    first_set = next(iter(synths))
    first = synths[first_set][0]
    t0 = time.perf_counter()
    warm_wav, _, _ = prepare_input(first, variants[0], workdir)
    warm = run_call(first, cache, trackers, pipelines, args.margin, asr_models, warm_wav)
    warm_wall = time.perf_counter() - t0

    summary: list[list[str]] = []
    for set_name, set_synths in synths.items():
        for variant in variants:
            runs: list[CallRun] = []
            for synth in set_synths:
                wav, reference, reference_rate = prepare_input(synth, variant, workdir)
                try:
                    run = run_call(synth, cache, trackers, pipelines, args.margin, asr_models, wav)
                except Exception as exc:  # a broken call is reported, the others still run
                    # the error's type only: a message might quote call content
                    print(f"Processing {synth.call.id} ({variant}) failed: {type(exc).__name__}\n")
                    failed.append(f"processing {synth.call.id} [{set_name}/{variant}]")
                    if args.debug:
                        import traceback

                        traceback.print_exc(file=sys.stderr)
                    continue
                run.variant = variant
                run.reference = reference
                run.reference_rate = reference_rate
                runs.append(run)
            if runs:
                failed += report_group(runs, set_name, variant, args.debug, summary)

    print("## Summary\n")
    table(
        [
            "set",
            "",
            "variant",
            "calls",
            *(f"every {e} cut" for e in CUT_ENTITIES),
            f"collateral (< {TARGET_COLLATERAL:.0%})",
            "disclosure",
            "competitors",
            "sentiment start",
            "sentiment end",
            "action F1",
        ],
        summary,
    )

    print("## Timing of the first call\n")
    print(
        f"Model load: presidio + spaCy {presidio_load:.1f} s. Warm-up call ({warm.synth.call.id}, "
        f"{variants[0]}, Whisper load included): {warm_wall:.1f} s wall, job "
        f"{warm.seconds:.1f} s, insight stages {warm.insight_seconds:.2f} s (not in the "
        "timing tables).\n"
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
