"""The settings of `callvault ask` (issue 22): the optional LLM that words an answer."""

from __future__ import annotations

from callvault.config._values import Setting, http_host, parse_seconds

__all__ = ["ASK_SETTINGS", "parse_llm_url"]


def parse_llm_url(raw: str) -> str:
    """The http:// or https:// base URL of an OpenAI-compatible server (no trailing /)."""
    if http_host(raw) is None:
        raise ValueError(
            "expected the http:// or https:// URL of an OpenAI-compatible server, such as "
            "http://127.0.0.1:8080"
        )
    return raw.rstrip("/")


ASK_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "ask_llm_url",
        "Base URL of an OpenAI-compatible server (/v1/chat/completions) that words the "
        "answers of `callvault ask` from the quoted utterances; empty: extractive answers "
        "only. When set, the quotes of every question leave this machine for that server.",
        parse_llm_url,
        None,
    ),
    Setting(
        "ask_llm_model",
        "The model name sent to the LLM server with each question.",
        str,
        lambda: "default",
    ),
    Setting(
        "ask_llm_key",
        "Bearer key for the LLM server, if it needs one. Secret: never shown.",
        str,
        None,
        secret=True,
    ),
    Setting(
        "ask_llm_timeout",
        "Seconds (1 to 300) to wait for the LLM server before answering extractively.",
        parse_seconds(1, 300),
        lambda: 30.0,
    ),
)
