"""Stored calls with hand-made transcripts and insights (no speech recognition, no
insight stages): what the team views and the training export read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from _audio import tone, wav_bytes
from callvault.accounts import Accounts
from callvault.analysis import Transcript, Utterance, Word
from callvault.capture import FileImportOptions, import_bytes
from callvault.vault import Vault

PASSWORD = "correct horse battery"


def add_user(vault: Vault, name: str, role: str, team: str | None) -> None:
    Accounts(vault).add_user(name, PASSWORD, role, team=team)


def store_call(
    vault: Vault,
    agent: str | None,
    seed: int,
    *,
    caller: str = "+14155550100",
    started_at: str = "2026-03-02T09:30:00Z",
) -> str:
    """A stereo tone call of `agent` (outbound, `caller` to +442071838750)."""
    data = wav_bytes(tone(4.0, 8000, 2, seed=seed), 8000)
    opts = FileImportOptions(
        caller=caller,
        callee="+442071838750",
        direction="outbound",
        agent=agent,
        started_at=started_at,
        language="en",
    )
    return vault.calls.store_call(import_bytes(data, f"call{seed}.wav", opts)).call_id


def utterance(speaker: str, channel: int, start: float, text: str) -> Utterance:
    words = text.split()
    step = 0.3
    timed = tuple(
        Word(start + i * step, start + (i + 1) * step, w, 0.9) for i, w in enumerate(words)
    )
    return Utterance(speaker, channel, start, start + step * len(words), text, 0.9, timed)


def insights_doc(
    agent: str,
    *,
    agent_share: float = 0.5,
    patience: float | None = 0.5,
    objections: int = 0,
    answered: bool = True,
    sentiment: float = 0.0,
    trackers: Sequence[str] = (),
) -> dict[str, Any]:
    """An insights document of the documented shape (docs/json.md) for a call whose
    utterances alternate customer (even) and agent (odd), 6 in all; objections are hits
    at utterance 2 (answered: the agent speaks at 3 and 5) or at 5 (not answered)."""
    talk = 20.0
    hits = [
        {"tracker": "objection.price", "kind": "objection", "speaker": "customer",
         "role": "customer", "utterances": [2 if answered else 5]}
        for _ in range(objections)
    ]  # fmt: skip
    counts = {name: 1 for name in trackers}
    if objections:
        counts["objection.price"] = objections
    return {
        "insights": {
            "format": 1,
            "metrics": {
                "total_talk": talk,
                "speakers": [
                    {
                        "speaker": agent,
                        "role": "agent",
                        "talk_time": talk * agent_share,
                        "patience": patience,
                        "utterances": [1, 3, 5],
                    },
                    {
                        "speaker": "customer",
                        "role": "customer",
                        "talk_time": talk * (1 - agent_share),
                        "patience": 0.2,
                        "utterances": [0, 2, 4],
                    },
                ],  # fmt: skip
            },
            "sentiment": {
                "items": [
                    {
                        "utterance": i,
                        "speaker": "customer" if i % 2 == 0 else agent,
                        "score": sentiment if i % 2 == 0 else 0.9,
                    }
                    for i in range(6)
                ],  # fmt: skip
            },
            "trackers": {"hits": hits, "counts": counts},
        },
        "redactions": {"transcript": [], "audio": {"spans": []}},
    }


def store_analysed(
    vault: Vault,
    call_id: str,
    utterances: Sequence[Utterance],
    document: dict[str, Any],
) -> None:
    """Store `utterances` as the call's transcript and `document` as its insights."""
    transcript = Transcript("done", "en", "test", "1", tuple(utterances), False)
    meta = {"format": 1, "stages": ["metrics", "sentiment", "trackers"]}
    vault.transcripts.store_transcript(
        call_id,
        transcript.to_json().encode(),
        status="done",
        language="en",
        model_name="test",
        model_version="1",
        utterances=len(utterances),
        words=sum(len(u.words) for u in utterances),
        insights=(json.dumps(document).encode(), meta),
    )


def plain_utterances(agent: str) -> list[Utterance]:
    lines = ["hello", "hi how can I help", "it is too expensive", "we can discuss the price",
             "okay", "thanks for calling"]  # fmt: skip
    return [
        utterance("customer" if i % 2 == 0 else agent, i % 2, i * 3.0, text)
        for i, text in enumerate(lines)
    ]
