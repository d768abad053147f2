"""`callvault outcome` and `callvault predict` through CliRunner, on SQLite and
PostgreSQL: recording, listing, importing with a line-numbered error, and training
refused with the numbers it needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from _audio import tone, wav_bytes
from callvault.cli import cli


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


def ok(result: Result) -> dict:  # type: ignore[type-arg]
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def ingest(env: dict[str, str], tmp_path: Path, seed: int) -> str:
    path = tmp_path / f"call{seed}.wav"
    path.write_bytes(wav_bytes(tone(0.5, 8000, 2, seed), 8000))
    result = run(env, "ingest", "--consent", "pre-call-notice", str(path), "--json")
    return str(ok(result)["calls"][0]["call_id"])


def test_set_list_import_and_refused_training(env: dict[str, str], tmp_path: Path) -> None:
    call_id = ingest(env, tmp_path, 1)
    recorded = ok(run(env, "outcome", "set", call_id, "won", "--note", "signed", "--json"))
    assert (recorded["call_id"], recorded["outcome"], recorded["source"]) == (call_id, "won", "cli")
    plain = run(env, "outcome", "set", "lost", "--deal", "D-1")
    assert plain.exit_code == 0 and plain.stdout.startswith("recorded lost (")
    listed = ok(run(env, "outcome", "list", "--json"))["outcomes"]
    assert [(o["outcome"], o["deal"]) for o in listed] == [("won", None), ("lost", "D-1")]

    bad = tmp_path / "outcomes.csv"
    bad.write_text(f"call_id,outcome\n{call_id},resolved\n{call_id},perhaps\n")
    refused = run(env, "outcome", "import", str(bad))
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"error: {bad}, line 3: outcome must be one of won, lost, churned, resolved, open\n"
    )
    bad.write_text(f"call_id,outcome\n{call_id},resolved\n")
    assert run(env, "outcome", "import", str(bad)).stdout == "1 outcomes recorded\n"

    # Labelled calls need insights: this one has none, so nothing can be trained on.
    training = run(env, "predict", "train")
    assert training.exit_code == 2
    assert training.stderr == (
        "error: needs at least 30 labelled calls with 10 of each outcome (won/resolved and "
        "lost/churned); has 0 (0 won/resolved, 0 lost/churned); 1 labelled calls were left "
        "out (restricted or without insights)\n"
    )
    missing = run(env, "predict", "call", call_id)
    assert missing.exit_code == 2
    assert "no outcome model has been trained yet" in missing.stderr
