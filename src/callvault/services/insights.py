"""Use case: after transcription, cut personal data out of the transcript and the audio,
and derive the call's insights.

`analyse` is pure (no vault): PII detection on the transcript, the redacted transcript,
the audio spans to cut (the words of every finding, on the speaker's channel, and every
DTMF tone of a captured call, on every channel), and the insight stages over the
redacted transcript. `process_call` stores the result and then rewrites the audio
(`RewriteRepository` with `RedactSpans`, under a new data key, so the unredacted audio
is crypto-shredded unless the policy keeps it as the call's original).

The original is kept when a legal hold covers the call (a hold preserves evidence) or when
`redaction_keep_original` is `unless-payment` and neither payment data (card number,
expiry, security code, PIN) nor DTMF tones (which may be card digits) were cut; never
otherwise.
"""

from __future__ import annotations

import json
import logging
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from callvault.analysis import Transcript, Utterance
from callvault.analysis.insights import (
    DEFAULT_DISCLOSURE,
    DEFAULT_PROHIBITED,
    CallFacts,
    CallInsights,
    ComplianceParams,
    InsightParams,
    InsightsPipeline,
    LlmEndpoint,
    TrackerParams,
    tracker_from_config,
    words_of,
)
from callvault.analysis.pii import (
    PAYMENT_ENTITIES,
    PiiDetector,
    PiiFinding,
    PiiParams,
    redact_transcript,
)
from callvault.config import Config
from callvault.errors import ConfigError
from callvault.media import AudioSpan, RedactSpans
from callvault.services._speakers import Speaker
from callvault.vault import CallRecord

__all__ = [
    "DTMF_SECONDS",
    "Analysis",
    "RedactionPlan",
    "analyse",
    "call_facts",
    "competitor_names",
    "insight_params",
    "insights_document",
    "load_trackers_file",
]

log = logging.getLogger("callvault.services")

# An RFC 4733 event whose end was not seen is muted for this long.
DTMF_SECONDS = 0.5
_TRACKERS_KEYS = frozenset(
    {"competitors", "competitors_phonetic", "trackers", "compliance", "builtin"}
)
_COMPLIANCE_KEYS = frozenset({"disclosure", "prohibited"})


# -- configuration ----------------------------------------------------------------------


def _phrases(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table of language = [phrases]")
    out: dict[str, tuple[str, ...]] = {}
    for language, phrases in raw.items():
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise ConfigError(f"{where}.{language} must be a list of phrases")
        out[str(language)] = tuple(phrases)
    return out


def load_trackers_file(path: Path, *, disclosure_within: float = 30.0) -> TrackerParams:
    """User-defined trackers, competitor names and compliance phrases from a TOML file
    (docs/insights.md). Unknown keys are errors: a misspelt tracker is not silently off."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"trackers file {path} cannot be read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"trackers file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - _TRACKERS_KEYS)
    if unknown:
        raise ConfigError(
            f"trackers file {path}: unknown key {unknown[0]!r}; expected "
            f"{', '.join(sorted(_TRACKERS_KEYS))}"
        )
    competitors = raw.get("competitors", [])
    if not isinstance(competitors, list) or not all(isinstance(c, str) for c in competitors):
        raise ConfigError(f"trackers file {path}: competitors must be a list of names")
    trackers = raw.get("trackers", {})
    if not isinstance(trackers, Mapping):
        raise ConfigError(f"trackers file {path}: [trackers] must be a table of trackers")
    specs = []
    for name, spec in trackers.items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"trackers file {path}: [trackers.{name}] must be a table")
        specs.append(tracker_from_config(str(name), spec))
    compliance_raw = raw.get("compliance", {})
    if not isinstance(compliance_raw, Mapping):
        raise ConfigError(f"trackers file {path}: [compliance] must be a table")
    unknown = sorted(set(compliance_raw) - _COMPLIANCE_KEYS)
    if unknown:
        raise ConfigError(f"trackers file {path}: unknown key compliance.{unknown[0]}")
    compliance = ComplianceParams(
        disclosure_phrases=_phrases(compliance_raw["disclosure"], "compliance.disclosure")
        if "disclosure" in compliance_raw
        else DEFAULT_DISCLOSURE,
        disclosure_within_s=disclosure_within,
        prohibited_phrases=_phrases(compliance_raw["prohibited"], "compliance.prohibited")
        if "prohibited" in compliance_raw
        else DEFAULT_PROHIBITED,
    )
    builtin = raw.get("builtin", True)
    if not isinstance(builtin, bool):
        raise ConfigError(f"trackers file {path}: builtin must be true or false")
    phonetic = raw.get("competitors_phonetic", True)
    if not isinstance(phonetic, bool):
        raise ConfigError(f"trackers file {path}: competitors_phonetic must be true or false")
    params = TrackerParams(
        trackers=tuple(specs),
        competitors=competitor_names(competitors),
        builtin=builtin,
        compliance=compliance,
        phonetic=phonetic,
    )
    params.validate()
    return params


def competitor_names(*sources: Sequence[str]) -> tuple[str, ...]:
    """The names of every source in order, each once: two names are the same when their
    words are (case, punctuation and umlaut spelling aside: "ACME dialer" is "Acme
    Dialer"). The first spelling given is kept."""
    names: dict[tuple[str, ...], str] = {}
    for source in sources:
        for name in source:
            names.setdefault(tuple(words_of(name)), name.strip())
    return tuple(names.values())


def insight_params(config: Config) -> InsightParams:
    """The insight stages' parameters from the settings; a bad trackers file or LLM
    setting is a ConfigError before any call is touched.

    Competitor names are those of `CALLVAULT_COMPETITORS` and then the trackers file's.
    Contacts are not a source: their `account` is the customer's company, and nothing
    marks an account as a competitor."""
    if config.trackers is not None:
        trackers = load_trackers_file(config.trackers, disclosure_within=config.disclosure_within)
    else:
        trackers = TrackerParams(
            compliance=ComplianceParams(disclosure_within_s=config.disclosure_within)
        )
    trackers = replace(
        trackers, competitors=competitor_names(config.competitors, trackers.competitors)
    )
    llm = None
    if config.llm_url:
        if not config.llm_model:
            raise ConfigError(
                "CALLVAULT_LLM_URL is set but CALLVAULT_LLM_MODEL is not; name the model"
            )
        llm = LlmEndpoint(config.llm_url, config.llm_model, api_key=config.llm_api_key)
    params = InsightParams(trackers=trackers, llm=llm)
    params.validate()
    return params


# -- one call ---------------------------------------------------------------------------


def call_facts(
    record: CallRecord, speakers: Mapping[int, Speaker], transcript: Transcript
) -> CallFacts:
    """Roles come from the channels' participants; a mono call has none."""
    roles = {s.label: s.role for s in speakers.values()}
    duration = record.recording.frames / record.recording.sample_rate
    return CallFacts(
        duration=duration,
        language=transcript.language or record.language,
        started_at=record.started_at,
        roles=roles,
    )


@dataclass(frozen=True)
class RedactionPlan:
    """What the audio loses, and whether its original is kept."""

    spans: tuple[tuple[AudioSpan, str], ...]  # each span with why: an entity or "DTMF"
    mode: str
    margin: float
    keep_original: bool
    original_reason: str  # "legal-hold", "policy", "payment-data" or "policy-never"

    @property
    def payment(self) -> bool:
        return any(why in PAYMENT_ENTITIES or why == "DTMF" for _, why in self.spans)

    def edit(self) -> RedactSpans:
        return RedactSpans(tuple(span for span, _ in self.spans), self.mode, self.margin)

    def to_json(self, applied: bool) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "margin_s": self.margin,
            "applied": applied,
            "spans": [
                {
                    "start": round(span.start, 3),
                    "end": round(span.end, 3),
                    "channel": span.channel,
                    "reason": why,
                }
                for span, why in self.spans
            ],
            "original": {"kept": self.keep_original, "reason": self.original_reason},
        }


@dataclass(frozen=True)
class Analysis:
    """The redacted transcript, what was redacted, and the insights."""

    transcript: Transcript
    findings: tuple[PiiFinding, ...]
    plan: RedactionPlan
    insights: CallInsights
    pii_stamp: dict[str, Any]
    pii_seconds: float

    @property
    def seconds(self) -> float:
        return self.pii_seconds + self.insights.seconds


def _dtmf_spans(record: CallRecord) -> list[tuple[AudioSpan, str]]:
    spans = []
    for tone in (record.network or {}).get("dtmf", []):
        start = float(tone["start"])
        duration = tone.get("duration")
        length = float(duration) if duration else DTMF_SECONDS
        # Every channel: a gateway often plays the tones in-band to the other leg too.
        spans.append((AudioSpan(start, start + max(length, 0.04), None), "DTMF"))
    return spans


def _wordless_spans(before: Transcript, after: Transcript) -> list[tuple[AudioSpan, str]]:
    """Utterances without word times whose text the redaction changed: cut whole."""
    spans = []
    for old, new in zip(before.utterances, after.utterances, strict=True):
        if not old.words and old.text != new.text:
            spans.append((AudioSpan(old.start, old.end, old.channel), "TEXT"))
    return spans


def _plan(
    config: Config,
    findings: Sequence[PiiFinding],
    extra: list[tuple[AudioSpan, str]],
    held: bool,
) -> RedactionPlan:
    spans = [(AudioSpan(f.start, f.end, f.channel), f.entity) for f in findings] + extra
    spans.sort(key=lambda item: (item[0].start, item[0].end))
    plan = RedactionPlan(
        tuple(spans), config.redaction_audio, config.redaction_margin, False, "policy-never"
    )
    if held:
        keep, why = True, "legal-hold"
    elif config.redaction_keep_original == "never":
        keep, why = False, "policy-never"
    elif plan.payment:
        keep, why = False, "payment-data"
    else:
        keep, why = True, "policy"
    return RedactionPlan(plan.spans, plan.mode, plan.margin, keep and bool(spans), why)


_DETECTORS: dict[tuple[str, ...], PiiDetector] = {}


def _detector(entities: tuple[str, ...]) -> PiiDetector:
    detector = _DETECTORS.get(entities)
    if detector is None:
        detector = _DETECTORS[entities] = PiiDetector(PiiParams(entities=entities))
    return detector


def redact_text(config: Config, text: str, language: str | None) -> str:
    """`text` typed by a person (a rectified utterance) with its personal data replaced by
    placeholders, as a transcript's would be: what is never kept from speech (a card
    number, a CVV) is not kept from a keyboard either."""
    words = text.split()
    utterance = Utterance("speaker", None, 0.0, 0.4 * len(words), text, 1.0, ())
    probe = Transcript("done", language, "typed", "1", (utterance,), False)
    detector = _detector(config.redaction_entities)
    return redact_transcript(probe, (), detector=detector).utterances[0].text


def analyse(
    config: Config,
    record: CallRecord,
    speakers: Mapping[int, Speaker],
    transcript: Transcript,
    *,
    held: bool = False,
    params: InsightParams | None = None,
    hook: Callable[[str, float], None] | None = None,
) -> Analysis:
    """Redaction and insights of one transcribed call (no vault, no database)."""
    report = hook or (lambda stage, fraction: None)
    report("pii", 0.0)
    started = time.perf_counter()
    detector = _detector(config.redaction_entities)
    findings = detector.detect(transcript) if transcript.utterances else ()
    redacted = redact_transcript(transcript, findings, detector=detector)
    extra = _dtmf_spans(record) + _wordless_spans(transcript, redacted)
    plan = _plan(config, findings, extra, held)
    pii_seconds = time.perf_counter() - started
    report("pii", 1.0)
    facts = call_facts(record, speakers, redacted)
    pipeline = InsightsPipeline(params or insight_params(config))
    insights = pipeline.run(redacted, facts, hook=hook)
    log.info(
        "call %s: %d findings, %d audio spans, insights in %.2f s",
        record.id,
        len(findings),
        len(plan.spans),
        insights.seconds,
    )
    return Analysis(
        transcript=redacted,
        findings=tuple(findings),
        plan=plan,
        insights=insights,
        pii_stamp=detector.stamp.to_json(),
        pii_seconds=pii_seconds,
    )


def insights_document(analysis: Analysis, *, applied: bool) -> bytes:
    """The stored insights artifact: `insights` and `redactions` as in docs/json.md."""
    document = {
        "insights": analysis.insights.to_json(),
        "redactions": {
            "stage": {**analysis.pii_stamp, "seconds": round(analysis.pii_seconds, 4)},
            "transcript": [f.to_json() for f in analysis.findings],
            "audio": analysis.plan.to_json(applied),
        },
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def mark_applied(document: bytes) -> bytes:
    """The insights document once the audio redaction has been stored."""
    data = json.loads(document)
    data["redactions"]["audio"]["applied"] = True
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
