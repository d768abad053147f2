"""Summary and action items from a configured LLM (an OpenAI-compatible chat endpoint).

`LlmSummarizer(endpoint).run(transcript, facts)` sends one `POST {base_url}/chat/completions`
(Ollama, vLLM, llama.cpp server and others speak it) with the standard library's
`urllib.request`, temperature 0 and `response_format={"type": "json_object"}`. The prompt
lists the utterances as `[index] speaker (mm:ss): text` (speaker: the role when known)
and asks for
`{"summary": [{"text", "utterances"}], "action_items": [{"owner", "text", "due_text",
"utterances"}]}`.

The answer is checked strictly: it must be a JSON object whose "summary" and
"action_items" are lists, else `AnalysisError`. A point or item that is not an object
with non-empty text, or that cites no utterance, or cites an index that does not exist, is
dropped: every kept statement points back at what was said. Due dates are resolved with
`resolve_due` against the call's start time. Results have the same types as the built-in
stages, with method "llm:<model>" and confidence 0.7 (a model may still misread what a
cited utterance says).

Privacy. The transcript goes only to the endpoint configured; nothing here runs unless
an endpoint is configured. Errors and logs carry the endpoint, status, sizes and timings,
never prompt or response text.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callvault.analysis._records import Transcript
from callvault.analysis.insights._actions import STAGE as ACTIONS_STAGE
from callvault.analysis.insights._actions import ActionItem, ActionsResult, owner_label
from callvault.analysis.insights._dates import resolve_due
from callvault.analysis.insights._records import CallFacts, StageStamp
from callvault.analysis.insights._summary import STAGE as SUMMARY_STAGE
from callvault.analysis.insights._summary import SummaryPoint, SummaryResult
from callvault.errors import AnalysisError, ConfigError

__all__ = ["LLM_CONFIDENCE", "LlmEndpoint", "LlmSummarizer", "build_messages"]

log = logging.getLogger("callvault.analysis")

VERSION = "1"
LLM_CONFIDENCE = 0.7
MAX_TEXT = 1000  # characters kept of one point or item

SYSTEM_PROMPT = (
    "You summarise a recorded business phone call and list its follow-up action items. "
    "Use only what the transcript says. Each transcript line is "
    "'[index] speaker (mm:ss): text'. Answer with one JSON object and nothing else: "
    '{"summary": [{"text": "<one sentence>", "utterances": [<index>, ...]}], '
    '"action_items": [{"owner": "<speaker or role who must act>", "text": "<what to do>", '
    '"due_text": "<the words that say when, as said>" or null, '
    '"utterances": [<index>, ...]}]}. '
    "Every summary point and action item must cite the indices of the utterances it comes "
    "from. At most 8 summary points. Write in the language of the call."
)


@dataclass(frozen=True)
class LlmEndpoint:
    """An OpenAI-compatible server: `base_url` up to, not including, "/chat/completions"
    (e.g. "http://127.0.0.1:11434/v1")."""

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60

    def validate(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("llm endpoint: base_url must start with http:// or https://")
        if not self.model.strip():
            raise ConfigError("llm endpoint: model is empty; name the model to use")
        if self.timeout_s <= 0:
            raise ConfigError("llm endpoint: timeout_s must be more than 0")

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


def _clock(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def build_messages(transcript: Transcript, facts: CallFacts) -> list[dict[str, str]]:
    """The chat messages sent for a call."""
    lines = [
        f"[{i}] {owner_label(facts, u.speaker)} ({_clock(u.start)}): {u.text.strip()}"
        for i, u in enumerate(transcript.utterances)
    ]
    language = transcript.language or facts.language or "unknown"
    user = f"Call language: {language}\nTranscript:\n" + "\n".join(lines)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


class LlmSummarizer:
    """Summary and action items of a call from one LLM request."""

    def __init__(self, endpoint: LlmEndpoint) -> None:
        endpoint.validate()
        self.endpoint = endpoint

    @property
    def method(self) -> str:
        return f"llm:{self.endpoint.model}"

    def _stamp(self, stage: str) -> StageStamp:
        params = {"method": self.method, "base_url": self.endpoint.base_url}
        return StageStamp(stage, VERSION, params)

    def run(self, transcript: Transcript, facts: CallFacts) -> tuple[SummaryResult, ActionsResult]:
        """Ask the endpoint; raise `AnalysisError` when it fails or answers unusably."""
        answer = self._ask(build_messages(transcript, facts))
        summary_raw = answer.get("summary")
        items_raw = answer.get("action_items")
        if not isinstance(summary_raw, list) or not isinstance(items_raw, list):
            raise AnalysisError(
                f"llm summary: {self.endpoint.url} answered JSON without the lists "
                "'summary' and 'action_items'"
            )
        count = len(transcript.utterances)
        points = []
        for raw in summary_raw:
            cited = _citations(raw, count)
            text = _text(raw, "text")
            if cited is None or text is None:
                continue
            speaker = transcript.utterances[cited[0]].speaker
            points.append(SummaryPoint(text, cited, speaker, LLM_CONFIDENCE))
        items = []
        language = transcript.language or facts.language
        for raw in items_raw:
            cited = _citations(raw, count)
            text = _text(raw, "text")
            if cited is None or text is None or not isinstance(raw, Mapping):
                continue
            owner = _text(raw, "owner")
            due_said = _text(raw, "due_text")
            due, due_text = (None, None)
            if due_said is not None:
                due, found = resolve_due(due_said, facts.started_at, language)
                due_text = found or due_said
            items.append(
                ActionItem(
                    owner=owner,
                    text=text[0].upper() + text[1:],
                    due=due,
                    due_text=due_text,
                    kind="llm",
                    speaker=transcript.utterances[cited[0]].speaker,
                    confidence=LLM_CONFIDENCE,
                    utterances=cited,
                )
            )
        dropped = len(summary_raw) + len(items_raw) - len(points) - len(items)
        if dropped:
            log.info("llm summary: dropped %d points/items without valid citations", dropped)
        return (
            SummaryResult(self.method, tuple(points), "", self._stamp(SUMMARY_STAGE)),
            ActionsResult(self.method, tuple(items), self._stamp(ACTIONS_STAGE)),
        )

    def _ask(self, messages: list[dict[str, str]]) -> Mapping[str, Any]:
        endpoint = self.endpoint
        body = json.dumps(
            {
                "model": endpoint.model,
                "messages": messages,
                "temperature": 0,
                "response_format": {"type": "json_object"},
                "stream": False,
            }
        ).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        request = urllib.request.Request(endpoint.url, data=body, headers=headers, method="POST")
        began = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=endpoint.timeout_s) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            raise AnalysisError(
                f"llm summary: {endpoint.url} answered HTTP {exc.code}; check the server log"
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            raise AnalysisError(
                f"llm summary: {endpoint.url} did not answer ({_safe(reason)}); "
                "check that the server runs and the URL"
            ) from None
        log.debug(
            "llm summary: sent %d bytes, received %d bytes in %.2f s",
            len(body),
            len(payload),
            time.monotonic() - began,
        )
        try:
            envelope = json.loads(payload)
            content = envelope["choices"][0]["message"]["content"]
            answer = json.loads(content) if isinstance(content, str) else None
        except (ValueError, KeyError, IndexError, TypeError):
            answer = None
        if not isinstance(answer, dict):
            raise AnalysisError(
                f"llm summary: {endpoint.url} did not answer with a chat completion holding "
                "a JSON object; check that the model supports JSON output"
            )
        return answer


def _safe(reason: object) -> str:
    """An error reason without anything that could echo data: its class or a short text."""
    if isinstance(reason, BaseException):
        return type(reason).__name__
    text = str(reason)
    return text if len(text) <= 80 else type(reason).__name__


def _citations(raw: object, count: int) -> tuple[int, ...] | None:
    """The cited utterance indices, or None when there are none or one is invalid."""
    if not isinstance(raw, Mapping):
        return None
    cited = raw.get("utterances")
    if not isinstance(cited, list) or not cited:
        return None
    out: list[int] = []
    for value in cited:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
            return None
        if value not in out:
            out.append(value)
    return tuple(sorted(out))


def _text(raw: object, key: str) -> str | None:
    if not isinstance(raw, Mapping):
        return None
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        return None
    return " ".join(value.split())[:MAX_TEXT]
