"""`callvault team` and `callvault export-training` through CliRunner (SQLite; the
services' tests cover PostgreSQL): JSON, the role check and the messages people see."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from _config import make_config
from _teamdata import add_user, insights_doc, plain_utterances, store_analysed, store_call
from callvault.cli import cli
from callvault.vault import Vault


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_team_and_export_training(tmp_path: Path) -> None:
    with Vault.open(make_config(tmp_path / "data")) as vault:
        for n, agent in enumerate(("alice", "bob")):
            add_user(vault, agent, "rep", "east")
            call_id = store_call(vault, agent, n + 1)
            store_analysed(vault, call_id, plain_utterances(agent), insights_doc(agent))
            for party in ("+14155550100", "+442071838750"):
                vault.consent.record_consent(
                    party, method="verbal", scopes=["training"], call_id=call_id
                )
    env = {"CALLVAULT_DATA_DIR": str(tmp_path / "data"), "CALLVAULT_ACTOR": "test:cli"}

    shown = invoke(env, "team", "--json", "--since", "2026-03-01")
    assert shown.exit_code == 0, shown.output
    board = json.loads(shown.stdout)
    assert [p["name"] for p in board["persons"]] == ["alice", "bob"]
    assert board["k"] == 5 and board["epsilon"] is None and board["calls"] == 2
    table = invoke(env, "team", "--k", "2")
    assert table.exit_code == 0 and "epsilon spent: 0" in table.stdout

    # As a rep through CALLVAULT_ROLE: her own person only; the organisation of two
    # agents is suppressed at the default k of 5, with a noisy release refused at 0.
    rep = {**env, "CALLVAULT_ROLE": "rep", "CALLVAULT_ACTOR": "alice"}
    mine = json.loads(invoke(rep, "team", "--json").stdout)
    assert [p["name"] for p in mine["persons"]] == ["alice"]
    assert mine["groups"][0]["suppressed"].startswith("fewer than 5 agents")
    bad = invoke(rep, "team", "--epsilon", "0")
    assert bad.exit_code != 0 and "epsilon=0.0 is not valid" in bad.output

    out = tmp_path / "export"
    done = invoke(env, "export-training", "--out", str(out), "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["calls"] == 2
    assert (out / "DATASHEET.md").exists()
    again = invoke(env, "export-training", "--out", str(out))
    assert again.exit_code != 0 and "is not an empty directory" in again.output
    refused = invoke(rep, "export-training", "--out", str(tmp_path / "x"))
    assert refused.exit_code != 0
    assert "the rep role may not training.export" in refused.output
