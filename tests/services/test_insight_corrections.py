"""Corrections of insights: kept with their history, applied when read, and still applied
after the call is processed again (and its audio rewritten again)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from _context import as_context
from _scripted_asr import CARD_CALL, ScriptedPipeline, store
from callvault.cli import cli
from callvault.config import Config
from callvault.errors import InputError
from callvault.services import call_document, process_call
from callvault.services.insight_corrections import add_action, correct_insight
from callvault.vault import Vault


def insights(vault: Vault, call_id: str) -> dict:  # type: ignore[type-arg]
    doc = call_document(as_context(vault), call_id, purpose="test")["insights"]
    assert doc is not None
    return doc


def test_corrections_survive_a_rerun(config: Config, vault: Vault) -> None:
    call_id, _ = store(vault)
    process_call(as_context(vault), call_id, pipeline=ScriptedPipeline(CARD_CALL))
    before = insights(vault, call_id)
    assert before["corrections"] == []
    (item,) = before["actions"]["items"]
    assert item["due"] == "2026-03-03T17:00:00+00:00"

    correct_insight(
        as_context(vault), call_id, "actions", 0, "due", "2026-03-06", reason="customer said Friday"
    )
    correct_insight(
        as_context(vault), call_id, "actions", 0, "owner", "billing team", reason="handed over"
    )
    keyword = before["keywords"]["keywords"][0]["text"]
    correct_insight(as_context(vault), call_id, "keywords", 0, "removed", "true", reason="noise")
    add_action(
        as_context(vault),
        call_id,
        utterance=1,
        owner="customer",
        text="Check the card statement",
        reason="missed by the rules",
    )

    def check(doc: dict) -> None:  # type: ignore[type-arg]
        first, added = doc["actions"]["items"]
        assert first["due"] == "2026-03-06T17:00:00+00:00" and first["owner"] == "billing team"
        assert first["corrected"] is True
        assert added["text"] == "Check the card statement" and added["added"] is True
        assert keyword not in [k["text"] for k in doc["keywords"]["keywords"]]
        assert [c["applied"] for c in doc["corrections"]] == [True, True, True, True]

    check(insights(vault, call_id))
    # Processed again: the stages run again and the audio is rewritten under a new key;
    # the corrections are re-keyed with it and apply to the new insights.
    process_call(as_context(vault), call_id, pipeline=ScriptedPipeline(CARD_CALL))
    check(insights(vault, call_id))

    history = [c for c in vault.corrections.corrections(call_id) if c.target == "insight"]
    assert [c.key.rsplit("/", 1)[1] for c in history] == ["due", "owner", "removed", "item"]
    assert json.loads(history[0].old or "null") == "2026-03-03T17:00:00+00:00"
    actions = [e.action for e in vault.audit_entries()]
    assert actions.count("insight.correct") == 4


def test_bad_corrections_are_refused(config: Config, vault: Vault) -> None:
    call_id, _ = store(vault)
    with pytest.raises(InputError, match="has no insights yet"):
        correct_insight(as_context(vault), call_id, "actions", 0, "due", "2026-03-06", reason="x")
    process_call(as_context(vault), call_id, pipeline=ScriptedPipeline(CARD_CALL))
    with pytest.raises(InputError, match="unknown section 'mood'"):
        correct_insight(as_context(vault), call_id, "mood", 0, "label", "x", reason="x")
    with pytest.raises(InputError, match="no correctable field 'speaker'"):
        correct_insight(as_context(vault), call_id, "actions", 0, "speaker", "x", reason="x")
    with pytest.raises(InputError, match="has no actions item 5"):
        correct_insight(as_context(vault), call_id, "actions", 5, "due", "2026-03-06", reason="x")
    with pytest.raises(InputError, match="is not ISO 8601"):
        correct_insight(as_context(vault), call_id, "actions", 0, "due", "Friday", reason="x")
    with pytest.raises(InputError, match="positive, negative or neutral"):
        correct_insight(as_context(vault), call_id, "sentiment", 0, "label", "angry", reason="x")


def test_insights_cli(tmp_path, backend: str, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    env = {"CALLVAULT_DATA_DIR": str(tmp_path / "data"), "CALLVAULT_DATABASE_URL": url}
    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["demo"], env=env).stdout)["call"]
    call_id = shown["id"]
    checks = shown["insights"]["trackers"]["compliance"]["checks"]
    assert checks[0]["name"] == "disclosure" and checks[0]["passed"] is True
    done = runner.invoke(
        cli,
        ["insights", "correct", call_id, "compliance", "0", "passed", "false", "--reason", "late"],
        env=env,
    )
    assert done.exit_code == 0, done.output
    again = json.loads(runner.invoke(cli, ["show", call_id, "--json"], env=env).stdout)
    assert again["insights"]["trackers"]["compliance"]["checks"][0]["passed"] is False
    history = runner.invoke(cli, ["insights", "history", call_id, "--json"], env=env)
    (entry,) = json.loads(history.stdout)["corrections"]
    assert entry["old"] == "true" and entry["new"] == "false" and entry["reason"] == "late"
