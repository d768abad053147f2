"""`callvault ask` on both databases: the answer, then its numbered quotes with call and
time; JSON; an LLM (a local stand-in, tests/_fake_llm.py) and its failure; the key never
shown by `callvault config`."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from _asked import TRANSFER_CALL, asked_world
from _fake_llm import fake_llm
from callvault.cli import cli
from callvault.config import Config
from callvault.vault import Vault


def _env(config: Config, **extra: str) -> dict[str, str]:
    return {
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
        "CALLVAULT_ACTOR": "test:cli",
        **extra,
    }


def _run(config: Config, *args: str, **extra: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=_env(config, **extra), catch_exceptions=False)


def test_ask_prints_the_answer_and_numbered_quotes(config: Config, vault: Vault) -> None:
    calls, _ = asked_world(config, vault)
    done = _run(config, "ask", "how much money was transferred?", "--limit", "2")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    answer = TRANSFER_CALL[1].text
    assert lines[0] == f"«{answer}» [1] (see also [2])"
    assert lines[1] == ""
    assert lines[2] == f"[1] {calls['alice']} 00:02 customer: «{answer}»"
    assert lines[3].startswith("[2] ") and len(lines) == 4
    as_json = json.loads(_run(config, "ask", "how much money was transferred", "--json").output)
    assert as_json["method"] == "extractive" and as_json["quotes"][0]["text"] == answer
    nothing = _run(config, "ask", "what breed is the dog", "--agent", "alice")
    assert nothing.output.startswith("Nothing found")
    entry = [e for e in vault.audit_entries() if e.action == "transcript.ask"][-1]
    assert entry.actor == "test:cli" and "breed" not in str(entry.to_dict())


def test_ask_with_an_llm_and_when_it_fails(config: Config, vault: Vault) -> None:
    asked_world(config, vault)
    with fake_llm("It was 135 dollars [1].") as server:
        env = {"CALLVAULT_ASK_LLM_URL": server.url, "CALLVAULT_ASK_LLM_KEY": "sk-hush-123"}
        worded = _run(config, "ask", "how much money was transferred", **env)
        assert worded.output.splitlines()[0] == "It was 135 dollars [1]."
        assert "note: worded by default" in worded.output
        plain = _run(config, "ask", "how much money was transferred", "--no-llm", **env)
        assert plain.output.startswith("«") and len(server.requests) == 1
        server.status = 503
        failed = _run(config, "ask", "how much money was transferred", **env)
        assert failed.output.startswith("«")
        assert "note: LLM unavailable: HTTP 503" in failed.output
        shown = _run(config, "config", **env)
        assert "sk-hush-123" not in shown.output and server.url in shown.output
