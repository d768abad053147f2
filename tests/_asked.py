"""Calls to ask questions of (`callvault ask`): three agents' calls processed by the real
pipeline after a scripted speech recognition (so the stored transcript is redacted and
both search indexes hold it), on the test's database."""

from __future__ import annotations

import dataclasses

from _audio import tone, wav_bytes
from _scripted_asr import ScriptedPipeline, said
from _stored import add_people
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import Config
from callvault.services import Context, process_call
from callvault.vault import Vault

# Team east: alice and bob; team west: carol (tests/_stored.py PEOPLE).
TRANSFER_CALL = (
    said("alice", 0, 0.2, "what is the transfer amount"),
    said("customer", 1, 2.0, "the amount is one hundred and thirty five dollars"),
    said("alice", 0, 4.5, "done it has been moved to your checking account"),
)
CARD_CALL = (
    said("bob", 0, 0.2, "which card did you lose"),
    said("customer", 1, 1.8, "my debit card the number is 4556 7375 8689 9855"),
    said("bob", 0, 5.0, "I will send a new debit card tomorrow"),
)
DOG_CALL = (
    said("carol", 0, 0.2, "is there anything else"),
    said("customer", 1, 1.6, "my dog is a golden retriever called biscuit"),
    said("carol", 0, 4.2, "lovely have a nice day"),
)
SCRIPTS = {"alice": TRANSFER_CALL, "bob": CARD_CALL, "carol": DOG_CALL}
CUSTOMERS = {"alice": "+14155550101", "bob": "+14155550102", "carol": "+14155550103"}
CARD_DIGITS = ("4556", "7375", "8689", "9855")


def store_call(vault: Vault, agent: str, seed: int) -> str:
    opts = FileImportOptions(
        caller="+442071838750",
        callee=CUSTOMERS[agent],
        direction="outbound",
        agent=agent,
        started_at="2026-03-02T09:30:00Z",
        language="en",
    )
    data = wav_bytes(tone(8.0, 16000, 2, seed=seed), 16000)
    return vault.calls.store_call(import_bytes(data, f"{agent}.wav", opts)).call_id


def asked_world(
    config: Config, vault: Vault, scopes: list[str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """The users of `PEOPLE` (with `scopes`, a token each) and one processed call of
    alice, bob and carol: (agent -> call id, username -> token)."""
    tokens = add_people(vault, scopes)
    ctx = Context(dataclasses.replace(config, workers=1), vault)
    calls = {}
    for seed, (agent, script) in enumerate(SCRIPTS.items()):
        calls[agent] = store_call(vault, agent, seed)
        process_call(ctx, calls[agent], pipeline=ScriptedPipeline(script))
    return calls, tokens
