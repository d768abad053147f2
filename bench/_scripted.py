"""Scripted, labelled two-party test calls spoken by espeak-ng.

The scripts live in ``bench/data/scripted_calls.toml``: per call an id, a language, a
title, one espeak-ng voice per party, a speaking rate, the start time (ISO 8601, UTC), the
recording disclosure ("early": within the first 10 s, "late": after 40 s, "none"), the
expected customer sentiment trend where it is clear, optionally the customer's mood at the
start and at the end (``sentiment_start`` / ``sentiment_end``: "positive", "negative" or
"neutral"), and the lines, each with its labels (PII, objections, buying signals,
competitor mentions, action items, the disclosure). The held-out calls of the telephone
benchmark are in ``bench/data/telephone_calls.toml`` (`TELEPHONE`), a second held-out
set in ``bench/data/holdout_calls.toml`` (`HOLDOUT`), same format.

`synthesize` speaks every line with ``espeak-ng`` (one subprocess per line, the text passed
as an argument, never through a shell), resamples it to the target rate with PyAV (libswresample),
cuts the silence espeak adds before and after it (samples under -50 dBFS), and places the
lines one after another on the speaker's channel (channel 0 = agent, channel 1 =
customer) with a deterministic gap of 0.4-0.8 s; a line with ``overlap = S`` starts S
seconds before the speech so far ends (at most half of the previous line). It writes a
stereo 16-bit WAV ``<id>.wav`` and ``<id>.json`` (the call, each line's channel, start,
end and text, each label with its line index and, for labels that quote the line, the
time span of the quoted words).

How a label span is estimated, and its limits: espeak-ng's command line gives no word
timings, so the text before the quote and the text up to the end of the quote are spoken
on their own and the end of their speech (the last sample above -50 dBFS) is measured;
span = [line start + dur(prefix), line start + dur(prefix + quote)]. Spoken alone, a
prefix ends with a sentence-final lengthening and fall that the full line does not
have, so the start may come a little late and the end a little early or late (typically
within 0.2 s). Nothing is padded: the consumer adds its margins. The silence between the
prefix and the quote counts as part of the span's start side, not as the quote.

Labels: ``pii`` (entity, text; one of `PII_ENTITIES`, or of `SECRET_ENTITIES`, a PIN
or a password, which only the held-out calls label), ``objection`` (tracker, text),
``buying-signal`` (text), ``competitor`` (name), ``disclosure`` (text) quote their line
and get a span; ``action``
(owner, a paraphrased text, optional due) gets none, but its due phrase is resolved to a
day from ``started_at`` (see `resolve_due`). `check` reports a call outside 30-120 s or a
disclosure outside the window its call promises; the CLI exits 1 when any call fails.

Caching: a call is not synthesised again when ``<id>.wav`` and ``<id>.json`` exist and
the JSON's ``script_sha256`` equals the hash of the call's script entry, the sample rate,
this generator's version and the espeak-ng version.

Run it from the repository root::

    .venv/bin/python bench/_scripted.py OUTDIR
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import tomllib
import wave
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np

DEFAULT = Path(__file__).resolve().parent / "data" / "scripted_calls.toml"
TELEPHONE = Path(__file__).resolve().parent / "data" / "telephone_calls.toml"  # held out
HOLDOUT = Path(__file__).resolve().parent / "data" / "holdout_calls.toml"  # held out too
REFUSAL = Path(__file__).resolve().parent / "data" / "refusal_calls.toml"  # held out (issue 20)
GENERATOR_VERSION = "1"  # bump when placement, trimming or span estimation changes

SPEAKERS = {"agent": 0, "customer": 1}  # speaker -> channel
LANGUAGES = {"en", "de"}
DISCLOSURES = {"early", "late", "none"}
SENTIMENTS = {"improving", "declining", "steady"}
MOODS = {"positive", "negative", "neutral"}  # sentiment_start / sentiment_end
PII_ENTITIES = {
    "CREDIT_CARD",
    "CVV",
    "CARD_EXPIRY",
    "US_SSN",
    "IBAN",
    "EMAIL",
    "PHONE",
    "DATE_OF_BIRTH",
    "PERSON",
    "ADDRESS",
}
SECRET_ENTITIES = {"PIN", "PASSWORD"}  # labelled in the held-out calls only
TRACKERS = {
    "objection.price",
    "objection.timing",
    "objection.authority",
    "objection.need",
    "objection.competitor",
}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
DUES = {"today", "tomorrow", "next week", "end of week", "end of month", *WEEKDAYS}
# label type -> (required fields besides "type", optional fields); "text" is a quote of
# the line for every type but "action", where it is a paraphrase.
LABEL_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "pii": ({"entity", "text"}, set()),
    "objection": ({"tracker", "text"}, set()),
    "buying-signal": ({"text"}, set()),
    "competitor": ({"name"}, set()),
    "disclosure": ({"text"}, set()),
    "refusal": ({"text"}, set()),  # a party refusing the recording (bench/live.py)
    "action": ({"owner", "text"}, {"due"}),
}
CALL_FIELDS = {
    "id",
    "language",
    "title",
    "agent_voice",
    "customer_voice",
    "speed",
    "started_at",
    "disclosure",
    "sentiment",
    "sentiment_start",
    "sentiment_end",
    "lines",
}
OPTIONAL_CALL_FIELDS = {"sentiment", "sentiment_start", "sentiment_end"}
LINE_FIELDS = {"speaker", "text", "labels", "overlap"}
EARLY_S, LATE_S = 10.0, 40.0  # the disclosure windows the call-level field promises
SILENCE_DBFS = -50.0
GAP_S = (0.4, 0.8)


class ScriptError(ValueError):
    """A script in the TOML file is malformed; the message names the file line."""


@dataclass(frozen=True)
class Label:
    type: str
    text: str | None = None  # the quoted words (a paraphrase for "action")
    entity: str | None = None
    tracker: str | None = None
    name: str | None = None  # competitor name, quoted from the line
    owner: str | None = None
    due: str | None = None

    @property
    def quote(self) -> str | None:
        """The words of the line this label points at (None: a paraphrase, no span)."""
        if self.type == "action":
            return None
        return self.name if self.type == "competitor" else self.text

    def to_json(self) -> dict[str, Any]:
        fields = ("text", "entity", "tracker", "name", "owner", "due")
        data: dict[str, Any] = {"type": self.type}
        data.update({f: getattr(self, f) for f in fields if getattr(self, f) is not None})
        return data


@dataclass(frozen=True)
class Line:
    speaker: str
    text: str
    labels: tuple[Label, ...] = ()
    overlap: float = 0.0  # seconds this line starts before the speech so far ends

    @property
    def channel(self) -> int:
        return SPEAKERS[self.speaker]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"speaker": self.speaker, "text": self.text}
        if self.overlap:
            data["overlap"] = self.overlap
        data["labels"] = [label.to_json() for label in self.labels]
        return data


@dataclass(frozen=True)
class ScriptedCall:
    id: str
    language: str
    title: str
    agent_voice: str
    customer_voice: str
    speed: int
    started_at: datetime
    disclosure: str
    sentiment: str | None
    lines: tuple[Line, ...]
    sentiment_start: str | None = None  # the customer's mood over the first third
    sentiment_end: str | None = None  # ... and over the last third

    def voice(self, speaker: str) -> str:
        return self.agent_voice if speaker == "agent" else self.customer_voice

    def to_json(self) -> dict[str, Any]:
        # the moods only when set, so that the hash of an older script stays the same
        moods = {
            k: v
            for k, v in (
                ("sentiment_start", self.sentiment_start),
                ("sentiment_end", self.sentiment_end),
            )
            if v is not None
        }
        return {
            "id": self.id,
            "language": self.language,
            "title": self.title,
            "agent_voice": self.agent_voice,
            "customer_voice": self.customer_voice,
            "speed": self.speed,
            "started_at": self.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "weekday": WEEKDAYS[self.started_at.weekday()],
            "disclosure": self.disclosure,
            "sentiment": self.sentiment,
            **moods,
            "lines": [line.to_json() for line in self.lines],
        }


@dataclass(frozen=True)
class LineTiming:
    index: int
    speaker: str
    channel: int
    start: float
    end: float
    text: str

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "speaker": self.speaker,
            "channel": self.channel,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
        }


@dataclass(frozen=True)
class LabelTiming:
    line: int  # index into the call's lines
    channel: int
    label: Label
    span: tuple[float, float] | None  # seconds; None for labels that quote nothing
    due_date: date | None = None  # an action's due day resolved from started_at

    def to_json(self) -> dict[str, Any]:
        data = {"line": self.line, "channel": self.channel, **self.label.to_json()}
        data["span"] = None if self.span is None else [round(t, 3) for t in self.span]
        if self.label.type == "action":
            data["due_date"] = None if self.due_date is None else self.due_date.isoformat()
        return data


@dataclass(frozen=True)
class SynthResult:
    call: ScriptedCall
    wav: Path
    json: Path
    sample_rate: int
    duration: float
    lines: tuple[LineTiming, ...]
    labels: tuple[LabelTiming, ...]
    script_sha256: str
    cached: bool  # True when the files were already there and up to date

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1,
            "generator_version": GENERATOR_VERSION,
            "espeak_ng": espeak_version(),
            "script_sha256": self.script_sha256,
            "sample_rate": self.sample_rate,
            "duration": round(self.duration, 3),
            "channels": {"0": "agent", "1": "customer"},
            "call": {k: v for k, v in self.call.to_json().items() if k != "lines"},
            "lines": [line.to_json() for line in self.lines],
            "labels": [label.to_json() for label in self.labels],
        }


# -- loading ------------------------------------------------------------------------------


def _header_lines(raw: str) -> tuple[list[int], list[list[int]]]:
    """File line numbers of each ``[[calls]]`` and, per call, each ``[[calls.lines]]``."""
    calls: list[int] = []
    lines: list[list[int]] = []
    for number, text in enumerate(raw.splitlines(), 1):
        stripped = text.strip()
        if stripped == "[[calls]]":
            calls.append(number)
            lines.append([])
        elif stripped == "[[calls.lines]]" and lines:
            lines[-1].append(number)
    return calls, lines


def _label(data: Any, text: str, where: str) -> Label:
    if not isinstance(data, dict):
        raise ScriptError(f"{where}: a label must be a table")
    kind = data.get("type")
    if kind not in LABEL_FIELDS:
        raise ScriptError(
            f"{where}: unknown label type {kind!r}; use one of {sorted(LABEL_FIELDS)}"
        )
    required, optional = LABEL_FIELDS[kind]
    fields = set(data) - {"type"}
    if missing := required - fields:
        raise ScriptError(f"{where}: a {kind} label needs {sorted(missing)}")
    if extra := fields - required - optional:
        raise ScriptError(f"{where}: a {kind} label takes no {sorted(extra)}")
    if any(not isinstance(data[f], str) or not data[f].strip() for f in fields):
        raise ScriptError(f"{where}: label fields must be non-empty strings")
    label = Label(type=kind, **{f: data[f] for f in fields})
    if label.entity is not None and label.entity not in PII_ENTITIES | SECRET_ENTITIES:
        raise ScriptError(f"{where}: unknown PII entity {label.entity!r}")
    if label.tracker is not None and label.tracker not in TRACKERS:
        raise ScriptError(f"{where}: unknown tracker {label.tracker!r}")
    if label.owner is not None and label.owner not in SPEAKERS:
        raise ScriptError(f"{where}: action owner must be 'agent' or 'customer'")
    if label.due is not None and label.due not in DUES:
        raise ScriptError(f"{where}: unknown due {label.due!r}; use one of {sorted(DUES)}")
    quote = label.quote
    if quote is not None and quote not in text:
        # the message names the place, not the text (no transcript text in errors)
        field = "name" if kind == "competitor" else "text"
        raise ScriptError(f"{where}: the label's {field} is not a substring of the line text")
    return label


def _line(data: Any, where: str) -> Line:
    if not isinstance(data, dict):
        raise ScriptError(f"{where}: a line must be a table")
    if extra := set(data) - LINE_FIELDS:
        raise ScriptError(f"{where}: unknown line fields {sorted(extra)}")
    speaker = data.get("speaker")
    if speaker not in SPEAKERS:
        raise ScriptError(f"{where}: speaker must be 'agent' or 'customer', not {speaker!r}")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ScriptError(f"{where}: a line needs a non-empty text")
    overlap = data.get("overlap", 0.0)
    if not isinstance(overlap, int | float) or not 0.0 <= overlap <= 2.0:
        raise ScriptError(f"{where}: overlap must be 0..2 seconds")
    labels = data.get("labels", [])
    if not isinstance(labels, list):
        raise ScriptError(f"{where}: labels must be a list")
    parsed = tuple(_label(lab, text, f"{where} label {i + 1}") for i, lab in enumerate(labels))
    return Line(speaker=speaker, text=text, labels=parsed, overlap=float(overlap))


def _call(data: Any, where: str, line_wheres: list[str]) -> ScriptedCall:
    if not isinstance(data, dict):
        raise ScriptError(f"{where}: a call must be a table")
    if extra := set(data) - CALL_FIELDS:
        raise ScriptError(f"{where}: unknown call fields {sorted(extra)}")
    if missing := CALL_FIELDS - OPTIONAL_CALL_FIELDS - set(data):
        raise ScriptError(f"{where}: missing call fields {sorted(missing)}")
    call_id = data["id"]
    if not isinstance(call_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", call_id):
        raise ScriptError(f"{where}: id must be lowercase letters, digits and hyphens")
    where = f'{where} (call "{call_id}")'
    if data["language"] not in LANGUAGES:
        raise ScriptError(f"{where}: language must be one of {sorted(LANGUAGES)}")
    for key in ("title", "agent_voice", "customer_voice"):
        if not isinstance(data[key], str) or not data[key]:
            raise ScriptError(f"{where}: {key} must be a non-empty string")
    if data["agent_voice"] == data["customer_voice"]:
        raise ScriptError(f"{where}: the agent and customer voices must differ")
    speed = data["speed"]
    if not isinstance(speed, int) or not 80 <= speed <= 450:
        raise ScriptError(f"{where}: speed must be words per minute, 80..450")
    started = data["started_at"]
    if isinstance(started, str) and started.endswith("Z"):
        try:
            started_at = datetime.fromisoformat(started[:-1]).replace(tzinfo=UTC)
        except ValueError:
            started_at = None
    else:
        started_at = None
    if started_at is None:
        raise ScriptError(f"{where}: started_at must be ISO 8601 in UTC, like 2026-11-23T14:05:00Z")
    if data["disclosure"] not in DISCLOSURES:
        raise ScriptError(f"{where}: disclosure must be one of {sorted(DISCLOSURES)}")
    sentiment = data.get("sentiment")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise ScriptError(f"{where}: sentiment must be one of {sorted(SENTIMENTS)}")
    for key in ("sentiment_start", "sentiment_end"):
        if data.get(key) is not None and data[key] not in MOODS:
            raise ScriptError(f"{where}: {key} must be one of {sorted(MOODS)}")
    raw_lines = data["lines"]
    if not isinstance(raw_lines, list) or not raw_lines:
        raise ScriptError(f"{where}: a call needs lines")
    if len(line_wheres) != len(raw_lines):  # lines not written as [[calls.lines]] tables
        line_wheres = [where.split(" ")[0]] * len(raw_lines)
    lines: list[Line] = []
    for i, raw in enumerate(raw_lines):
        line_where = f'{line_wheres[i]} (call "{call_id}", line {i + 1})'
        line = _line(raw, line_where)
        if line.overlap and (not lines or lines[-1].speaker == line.speaker):
            raise ScriptError(f"{line_where}: only a change of speaker can overlap")
        lines.append(line)
    has_disclosure = any(lab.type == "disclosure" for line in lines for lab in line.labels)
    if has_disclosure != (data["disclosure"] != "none"):
        raise ScriptError(
            f'{where}: disclosure = "{data["disclosure"]}" but the lines have '
            f"{'a' if has_disclosure else 'no'} disclosure label"
        )
    return ScriptedCall(
        id=call_id,
        language=data["language"],
        title=data["title"],
        agent_voice=data["agent_voice"],
        customer_voice=data["customer_voice"],
        speed=speed,
        started_at=started_at,
        disclosure=data["disclosure"],
        sentiment=sentiment,
        lines=tuple(lines),
        sentiment_start=data.get("sentiment_start"),
        sentiment_end=data.get("sentiment_end"),
    )


def load_scripts(path: Path = DEFAULT) -> list[ScriptedCall]:
    """Every call in the TOML file, each label checked; `ScriptError` names the file line."""
    raw = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ScriptError(f"{path.name}: not valid TOML ({exc})") from exc
    calls = data.get("calls")
    if not isinstance(calls, list) or not calls:
        raise ScriptError(f"{path.name}: no [[calls]] tables")
    call_numbers, line_numbers = _header_lines(raw)
    if len(call_numbers) != len(calls):  # written some other way: name the call's index
        call_numbers, line_numbers = [0] * len(calls), [[] for _ in calls]
    result: list[ScriptedCall] = []
    for i, entry in enumerate(calls):
        where = f"{path.name}:{call_numbers[i]}" if call_numbers[i] else f"{path.name} call {i}"
        wheres = [f"{path.name}:{n}" for n in line_numbers[i]]
        result.append(_call(entry, where, wheres))
    if len({call.id for call in result}) != len(result):
        raise ScriptError(f"{path.name}: call ids must be unique")
    return result


# -- synthesis ----------------------------------------------------------------------------


@functools.cache
def espeak_version() -> str:
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split(":")[1].split("Data at")[0].strip() if ":" in out.stdout else ""


def script_sha256(call: ScriptedCall, sample_rate: int) -> str:
    entry = {
        "call": call.to_json(),
        "sample_rate": sample_rate,
        "generator_version": GENERATOR_VERSION,
        "espeak_ng": espeak_version(),
    }
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()


def speak(text: str, voice: str, speed: int, sample_rate: int) -> np.ndarray:
    """espeak-ng's speech of `text`, float32 mono at `sample_rate` (its silences kept)."""
    with tempfile.TemporaryDirectory(prefix="scripted-") as folder:
        path = Path(folder) / "line.wav"
        # "--" so that a text starting with "-" is never read as an option
        command = ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), "--", text]
        done = subprocess.run(command, capture_output=True, check=False)
        if done.returncode != 0 or not path.is_file():
            raise RuntimeError(f"espeak-ng failed for voice {voice!r} (exit {done.returncode})")
        chunks: list[np.ndarray] = []
        with av.open(str(path)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(container.streams.audio[0]):
                chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def _loud(audio: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.abs(audio) > 10.0 ** (SILENCE_DBFS / 20.0))


def speech_bounds(audio: np.ndarray) -> tuple[int, int]:
    """First loud sample and one past the last (samples above -50 dBFS); (0, 0) if none."""
    loud = _loud(audio)
    return (0, 0) if loud.size == 0 else (int(loud[0]), int(loud[-1]) + 1)


def gap_after(call_id: str, index: int) -> float:
    """The pause before line `index`: 0.4-0.8 s, the same on every run and machine."""
    digest = hashlib.sha256(f"{call_id}/{index}".encode()).digest()
    return GAP_S[0] + (GAP_S[1] - GAP_S[0]) * int.from_bytes(digest[:4], "big") / 2**32


def resolve_due(due: str | None, started_at: datetime) -> date | None:
    """The day a due phrase names, counted from the call's day (None: no single day).

    A weekday is its next occurrence after the call's day (a week later on the same
    weekday); "end of week" is that week's Friday, "next week" its following Monday.
    """
    day = started_at.date()
    if due is None or due == "end of month":
        return None
    if due == "today":
        return day
    if due == "tomorrow":
        return day + timedelta(days=1)
    if due == "next week":
        return day + timedelta(days=7 - day.weekday())
    if due == "end of week":
        return day + timedelta(days=(4 - day.weekday()) % 7)
    ahead = (WEEKDAYS.index(due) - day.weekday()) % 7
    return day + timedelta(days=ahead or 7)


def _load_cached(call: ScriptedCall, wav: Path, meta: Path, sha: str) -> SynthResult | None:
    if not (wav.is_file() and meta.is_file()):
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("script_sha256") != sha:
        return None
    lines = tuple(
        LineTiming(
            index=ln["index"],
            speaker=ln["speaker"],
            channel=ln["channel"],
            start=ln["start"],
            end=ln["end"],
            text=ln["text"],
        )
        for ln in data["lines"]
    )
    labels: list[LabelTiming] = []
    for raw in data["labels"]:
        # the label itself comes from the script (same hash), the timing from the file
        label = call.lines[raw["line"]].labels[len([x for x in labels if x.line == raw["line"]])]
        span = raw["span"]
        labels.append(
            LabelTiming(
                line=raw["line"],
                channel=raw["channel"],
                label=label,
                span=None if span is None else (span[0], span[1]),
                due_date=resolve_due(label.due, call.started_at),
            )
        )
    return SynthResult(
        call=call,
        wav=wav,
        json=meta,
        sample_rate=data["sample_rate"],
        duration=data["duration"],
        lines=lines,
        labels=tuple(labels),
        script_sha256=sha,
        cached=True,
    )


def synthesize(call: ScriptedCall, outdir: Path, sample_rate: int = 16000) -> SynthResult:
    """Write ``<id>.wav`` (stereo, 16-bit) and ``<id>.json`` under `outdir`; see the module."""
    outdir.mkdir(parents=True, exist_ok=True)
    wav, meta = outdir / f"{call.id}.wav", outdir / f"{call.id}.json"
    sha = script_sha256(call, sample_rate)
    if (cached := _load_cached(call, wav, meta, sha)) is not None:
        return cached

    speech_end = 0.0  # seconds: the latest end of speech placed so far, either channel
    pieces: list[tuple[int, int, np.ndarray]] = []  # (channel, first sample, audio)
    line_timings: list[LineTiming] = []
    label_timings: list[LabelTiming] = []
    for index, line in enumerate(call.lines):
        voice = call.voice(line.speaker)
        audio = speak(line.text, voice, call.speed, sample_rate)
        first, last = speech_bounds(audio)
        if last <= first:
            raise RuntimeError(f"espeak-ng said nothing for line {index + 1} of {call.id}")
        audio = audio[first:last]
        if index == 0:
            start = 0.0
        elif line.overlap:
            previous = line_timings[-1]
            start = speech_end - min(line.overlap, (previous.end - previous.start) / 2)
        else:
            start = speech_end + gap_after(call.id, index)
        offset = round(start * sample_rate)
        start = offset / sample_rate
        end = (offset + audio.size) / sample_rate
        pieces.append((line.channel, offset, audio))
        # times are kept to the millisecond, as the JSON has them, so a cached run reads equal
        timing = LineTiming(
            index, line.speaker, line.channel, round(start, 3), round(end, 3), line.text
        )
        line_timings.append(timing)
        speech_end = max(speech_end, end)

        durations: dict[str, float] = {}  # prefix text -> seconds from the line's first sound
        for label in line.labels:
            quote = label.quote
            span = None
            if quote is not None:
                at = line.text.index(quote)
                heads = (line.text[:at], line.text[: at + len(quote)])
                begin, stop = (
                    start + _prefix_seconds(h, voice, call.speed, sample_rate, first, durations)
                    for h in heads
                )
                stop = min(stop, end)
                span = (round(begin, 3), round(max(begin, stop), 3))
            due = resolve_due(label.due, call.started_at)
            label_timings.append(LabelTiming(index, line.channel, label, span, due))

    total = max(offset + audio.size for _, offset, audio in pieces)
    channels = np.zeros((2, total), dtype=np.float32)
    for channel, offset, audio in pieces:
        channels[channel, offset : offset + audio.size] += audio
    _write_wav(wav, channels, sample_rate)
    result = SynthResult(
        call=call,
        wav=wav,
        json=meta,
        sample_rate=sample_rate,
        duration=round(total / sample_rate, 3),
        lines=tuple(line_timings),
        labels=tuple(label_timings),
        script_sha256=sha,
        cached=False,
    )
    meta.write_text(json.dumps(result.to_json(), indent=1, ensure_ascii=False) + "\n", "utf-8")
    return result


def _prefix_seconds(
    prefix: str, voice: str, speed: int, sample_rate: int, lead: int, memo: dict[str, float]
) -> float:
    """How long after the line's first sound the speech of `prefix` alone ends."""
    prefix = prefix.rstrip()
    if not prefix:
        return 0.0
    if prefix not in memo:
        _, stop = speech_bounds(speak(prefix, voice, speed, sample_rate))
        memo[prefix] = max(0, stop - lead) / sample_rate
    return memo[prefix]


def _write_wav(path: Path, channels: np.ndarray, sample_rate: int) -> None:
    pcm = (np.clip(channels, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels.shape[0])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.T.tobytes())


def check(result: SynthResult) -> list[str]:
    """What the synthesised call breaks of its promises (duration, disclosure window)."""
    problems: list[str] = []
    if not 30.0 <= result.duration <= 120.0:
        problems.append(f"duration {result.duration:.1f} s is outside 30-120 s")
    spans = [t.span for t in result.labels if t.label.type == "disclosure" and t.span]
    if result.call.disclosure == "early" and not any(s[0] < EARLY_S for s in spans):
        problems.append(f"no disclosure starts within {EARLY_S:.0f} s")
    if result.call.disclosure == "late" and not all(s[0] > LATE_S for s in spans):
        problems.append(f"a disclosure starts before {LATE_S:.0f} s")
    return problems


# -- command line -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Synthesise the scripted test calls.")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--scripts", type=Path, default=DEFAULT)
    parser.add_argument("--sample-rate", type=int, default=16000)
    args = parser.parse_args(argv)
    calls = load_scripts(args.scripts)
    kinds = sorted(LABEL_FIELDS)
    header = ["id", "language", "duration (s)", "lines", *kinds, "cached", "problems"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    failed = False
    for call in calls:
        result = synthesize(call, args.outdir, args.sample_rate)
        counts = Counter(t.label.type for t in result.labels)
        problems = check(result)
        failed |= bool(problems)
        row = [call.id, call.language, f"{result.duration:.1f}", str(len(result.lines))]
        row += [str(counts[k]) for k in kinds]
        row += ["yes" if result.cached else "no", "; ".join(problems) or "-"]
        print("| " + " | ".join(row) + " |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
