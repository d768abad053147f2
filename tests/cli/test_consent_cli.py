"""`callvault ingest` through the consent gate and `consent add` releasing a quarantined
call, through CliRunner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from _audio import tone, wav_bytes
from callvault.cli import cli

CALLER, CALLEE = "+493012345678", "+498912345678"  # Germany: every party must consent


@pytest.fixture
def env(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    return {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": url,
        "CALLVAULT_ACTOR": "test:cli",
    }


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def wav(tmp_path: Path, seed: int = 0) -> str:
    path = tmp_path / f"call{seed}.wav"
    path.write_bytes(wav_bytes(tone(0.5, 8000, 2, seed), 8000))
    return str(path)


def ingest(env: dict[str, str], path: str, *extra: str) -> Result:
    return run(env, "ingest", path, "--caller", CALLER, "--callee", CALLEE, "--json", *extra)


def test_quarantine_then_consent_releases_and_queues(env: dict[str, str], tmp_path: Path) -> None:
    refused = ingest(env, wav(tmp_path))
    assert refused.exit_code == 2
    assert "needs the consent of every party" in refused.stderr

    env = {**env, "CALLVAULT_CONSENT_MISSING": "quarantine"}
    stored = json.loads(ingest(env, wav(tmp_path)).stdout)["calls"][0]
    assert (stored["consent_state"], stored["job_id"]) == ("quarantined", None)
    text = run(env, "ingest", wav(tmp_path, 1), "--caller", CALLER, "--callee", CALLEE)
    assert "in quarantine until every party's consent is recorded" in text.stdout
    assert json.loads(run(env, "jobs", "list", "--json").stdout)["jobs"] == []

    call_id = stored["call_id"]
    first = run(
        env, "consent", "add", "--call", call_id, "--participant", CALLER,
        "--method", "verbal", "--scope", "record", "--scope", "analyse", "--json",
    )  # fmt: skip
    assert json.loads(first.stdout)["released"] is False
    second = run(
        env, "consent", "add", "--call", call_id, "--participant", CALLEE,
        "--method", "verbal", "--scope", "record", "--scope", "analyse",
    )  # fmt: skip
    assert second.exit_code == 0, second.output
    assert f"call {call_id}: every party has consented; released and queued" in second.stdout
    shown = json.loads(run(env, "show", call_id, "--json").stdout)
    assert shown["consent_state"] == "given"
    jobs = json.loads(run(env, "jobs", "list", "--json").stdout)["jobs"]
    assert len(jobs) == 1 and jobs[0]["status"] == "queued"


def test_standing_consent_admits_later_calls(env: dict[str, str], tmp_path: Path) -> None:
    for party in (CALLER, CALLEE):
        added = run(
            env, "consent", "add", "--participant", party, "--method", "web",
            "--scope", "record", "--at", "2026-01-01T00:00:00Z",
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        assert "standing" in added.stdout
    stored = ingest(env, wav(tmp_path), "--started-at", "2026-02-01T09:00:00Z")
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.stdout)["calls"][0]["consent_state"] == "given"


def test_team_group_and_category_reach_the_rules(env: dict[str, str], tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'default = "do-not-record"\n[[rule]]\nname = "sales"\naction = "record"\nteam = "sales"\n'
    )
    env = {**env, "CALLVAULT_POLICY_RULES": str(rules)}
    refused = ingest(env, wav(tmp_path), "--consent", "verbal")
    assert refused.exit_code == 2 and "default: do-not-record" in refused.stderr
    assert ingest(env, wav(tmp_path), "--consent", "verbal", "--team", "sales").exit_code == 0
    hr = ingest(env, wav(tmp_path, 1), "--consent", "verbal", "--team", "sales", "--category", "hr")
    assert hr.exit_code == 2 and "deny.categories" in hr.stderr
