"""The LLM backend against a real HTTP server on 127.0.0.1.

The server is a stand-in for an OpenAI-compatible server (Ollama, vLLM, llama.cpp), which
cannot run here: it records each request and answers with canned JSON.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from callvault.analysis._records import Transcript, Utterance, Word
from callvault.analysis.insights._llm import LlmEndpoint, LlmSummarizer, build_messages
from callvault.analysis.insights._records import CallFacts
from callvault.errors import AnalysisError, ConfigError

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FACTS = CallFacts(duration=120.0, started_at=MONDAY, roles={"A": "agent", "B": "customer"})


def utt(speaker: str, start: float, text: str, step: float = 0.5) -> Utterance:
    """An utterance whose words start every `step` seconds from `start`."""
    words = tuple(
        Word(start + i * step, start + i * step + 0.4, w, 0.9) for i, w in enumerate(text.split())
    )
    return Utterance(speaker, None, start, start + step * len(words), text, 0.9, words)


TRANSCRIPT = Transcript(
    "done",
    "en",
    "test",
    "1",
    (
        utt("A", 0.0, "Thanks for calling, how can I help?"),
        utt("B", 5.0, "We want to move our twelve clinics to your billing system."),
        utt("A", 65.0, "Great, I'll send you a quote by Friday."),
    ),
    True,
)


class FakeLlm:
    """What the stand-in server answers, and what it was asked."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = b""
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def answer(self, content: object) -> None:
        text = content if isinstance(content, str) else json.dumps(content)
        envelope = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        self.status, self.body = 200, json.dumps(envelope).encode()


@pytest.fixture
def llm() -> Iterator[tuple[FakeLlm, str]]:
    fake = FakeLlm()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            length = int(self.headers["Content-Length"])
            fake.requests.append({"path": self.path, **json.loads(self.rfile.read(length))})
            fake.headers.append(dict(self.headers))
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(fake.body)))
            self.end_headers()
            self.wfile.write(fake.body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_request_and_parsed_result(llm: tuple[FakeLlm, str]) -> None:
    fake, url = llm
    fake.answer(
        {
            "summary": [
                {"text": "The customer wants to move twelve clinics.", "utterances": [1]},
                {"text": "The agent will send a quote.", "utterances": [2, 2]},
            ],
            "action_items": [
                {
                    "owner": "agent",
                    "text": "send a quote",
                    "due_text": "by Friday",
                    "utterances": [2],
                }
            ],
        }
    )
    summary, actions = LlmSummarizer(LlmEndpoint(url, "llama3", api_key="k-123")).run(
        TRANSCRIPT, FACTS
    )

    (request,) = fake.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["model"] == "llama3"
    assert request["temperature"] == 0
    assert request["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    user = request["messages"][1]["content"]
    assert "[0] agent (00:00): Thanks for calling, how can I help?" in user
    assert "[1] customer (00:05): We want to move our twelve clinics" in user
    assert "[2] agent (01:05): Great, I'll send you a quote by Friday." in user
    assert fake.headers[0]["Authorization"] == "Bearer k-123"

    assert summary.method == "llm:llama3"
    assert [(p.text, p.utterances, p.speaker, p.confidence) for p in summary.points] == [
        ("The customer wants to move twelve clinics.", (1,), "B", 0.7),
        ("The agent will send a quote.", (2,), "A", 0.7),
    ]
    assert summary.stamp.to_json()["params"]["method"] == "llm:llama3"
    (item,) = actions.items
    assert (item.owner, item.text, item.due, item.due_text, item.utterances) == (
        "agent",
        "Send a quote",
        datetime(2026, 11, 27, 17, 0, tzinfo=UTC),
        "by Friday",
        (2,),
    )
    assert actions.method == "llm:llama3"
    assert actions.to_json()["stamp"]["name"] == "actions"


def test_points_without_valid_citations_are_dropped(llm: tuple[FakeLlm, str]) -> None:
    fake, url = llm
    fake.answer(
        {
            "summary": [
                {"text": "No citation.", "utterances": []},
                {"text": "Out of range.", "utterances": [1, 3]},
                {"text": "Not a number.", "utterances": ["1"]},
                {"text": "A boolean.", "utterances": [True]},
                {"text": "  ", "utterances": [0]},
                "just a string",
                {"text": "Kept.", "utterances": [0]},
            ],
            "action_items": [
                {"owner": "agent", "text": "call back", "due_text": None, "utterances": [-1]},
                {"owner": None, "text": "send the quote", "due_text": None, "utterances": [2]},
            ],
        }
    )
    summary, actions = LlmSummarizer(LlmEndpoint(url, "m")).run(TRANSCRIPT, FACTS)
    assert [p.text for p in summary.points] == ["Kept."]
    assert [(i.owner, i.text, i.due, i.due_text) for i in actions.items] == [
        (None, "Send the quote", None, None)
    ]


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b'{"error": "boom"}', r"answered HTTP 500; check the server log"),
        (200, b"not json", r"did not answer with a chat completion holding a JSON object"),
        (200, b'{"choices": []}', r"did not answer with a chat completion holding a JSON"),
    ],
)
def test_http_errors_and_bad_envelopes(
    llm: tuple[FakeLlm, str], status: int, body: bytes, message: str
) -> None:
    fake, url = llm
    fake.status, fake.body = status, body
    with pytest.raises(AnalysisError, match=message) as info:
        LlmSummarizer(LlmEndpoint(url, "m")).run(TRANSCRIPT, FACTS)
    assert "clinics" not in str(info.value)


def test_bad_json_content_and_missing_lists(llm: tuple[FakeLlm, str]) -> None:
    fake, url = llm
    fake.answer("{not json, twelve clinics")
    with pytest.raises(AnalysisError, match="chat completion holding a JSON object") as info:
        LlmSummarizer(LlmEndpoint(url, "m")).run(TRANSCRIPT, FACTS)
    assert "clinics" not in str(info.value)
    fake.answer({"summary": "twelve clinics"})
    with pytest.raises(AnalysisError, match="without the lists 'summary' and 'action_items'"):
        LlmSummarizer(LlmEndpoint(url, "m")).run(TRANSCRIPT, FACTS)


def test_unreachable_endpoint() -> None:
    # Port 9 (discard) on localhost: nothing listens, the connection is refused at once.
    endpoint = LlmEndpoint("http://127.0.0.1:9/v1", "m", timeout_s=2)
    with pytest.raises(AnalysisError, match=r"http://127.0.0.1:9/v1/chat/completions did not"):
        LlmSummarizer(endpoint).run(TRANSCRIPT, FACTS)


def test_nothing_of_the_call_is_logged(
    llm: tuple[FakeLlm, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = llm
    fake.answer({"summary": [{"text": "Twelve clinics.", "utterances": [7]}], "action_items": []})
    with caplog.at_level(logging.DEBUG, logger="callvault"):
        LlmSummarizer(LlmEndpoint(url, "m")).run(TRANSCRIPT, FACTS)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "bytes" in logged and "dropped 1" in logged
    assert "clinic" not in logged.casefold() and "quote" not in logged


def test_endpoint_is_checked() -> None:
    with pytest.raises(ConfigError, match="base_url must start with http:// or https://"):
        LlmSummarizer(LlmEndpoint("127.0.0.1:8080", "m"))
    with pytest.raises(ConfigError, match="model is empty"):
        LlmSummarizer(LlmEndpoint("http://127.0.0.1:8080", " "))


def test_messages_use_speaker_labels_without_roles() -> None:
    facts = CallFacts(duration=10.0)
    user = build_messages(TRANSCRIPT, facts)[1]["content"]
    assert user.splitlines()[:2] == ["Call language: en", "Transcript:"]
    assert user.splitlines()[2] == "[0] A (00:00): Thanks for calling, how can I help?"
