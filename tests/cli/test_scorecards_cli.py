"""`callvault scorecard`: show, score, override and check, on a stored call."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from _context import as_context
from _scripted_asr import CARD_CALL, ScriptedPipeline, store
from callvault.cli import cli
from callvault.config import Config
from callvault.services import process_call
from callvault.vault import Vault

Invoke = Callable[..., Result]


@pytest.fixture
def run(config: Config) -> Invoke:
    env = {
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
        "CALLVAULT_ACTOR": "test:cli",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_show_override_score_and_check(
    run: Invoke, config: Config, vault: Vault, tmp_path: Path
) -> None:
    call_id, _ = store(vault)
    process_call(as_context(vault), call_id, pipeline=ScriptedPipeline(CARD_CALL))
    shown = run("scorecard", "show", call_id)
    assert shown.exit_code == 0, shown.output
    assert f"call {call_id}: rubric default v1" in shown.output
    assert "agreed-next-steps: 5" in shown.output
    assert "alice: I will send the receipt tomorrow" in shown.output
    assert "acknowledged: not enough evidence" in shown.output

    done = run("scorecard", "override", call_id, "agreed-next-steps", "2", "--reason", "vague")
    assert done.exit_code == 0 and "agreed-next-steps 5 -> 2" in done.output
    again = json.loads(run("scorecard", "score", call_id, "--json").stdout)
    (question,) = [
        q for s in again["sections"] for q in s["questions"] if q["id"] == "agreed-next-steps"
    ]
    assert question["score"] == 2 and question["machine_score"] == 5 and question["overridden"]
    (entry,) = again["history"]
    assert entry["actor"] == "test:cli" and entry["reason"] == "vague" and entry["old"] == 5
    assert {e["utterance"] for e in again["evidence"]} >= {2}

    bad = run("scorecard", "override", call_id, "agreed-next-steps", "9", "--reason", "x")
    assert bad.exit_code != 0 and "score 9 is outside the scale 1..5" in bad.output

    rubric = tmp_path / "r.toml"
    rubric.write_text('name = "x"\nsections = []\n', encoding="utf-8")
    checked = run("scorecard", "check", str(rubric))
    assert checked.exit_code != 0
    assert f"rubric {rubric}: key 'sections': must be a non-empty list" in checked.output
    default = Path(__file__).parents[2] / "src/callvault/analysis/scorecards/data/default.toml"
    ok = run("scorecard", "check", str(default))
    assert ok.exit_code == 0 and "rubric default v1: 5 sections, 8 questions" in ok.output
