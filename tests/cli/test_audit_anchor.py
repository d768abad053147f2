"""`callvault audit anchor` and `callvault audit verify --anchors` (issue 21), on SQLite and
PostgreSQL, against the attack they exist for: a history rewritten with the signing key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import _forge as forge
from callvault.cli import cli
from callvault.config import Config
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


def add_entries(config: Config, count: int, tag: str = "x") -> None:
    with Vault.open(config) as vault:
        forge.add_entries(vault, count, tag)


def rewrite_history(config: Config, seq: int) -> None:
    with Vault.open(config) as vault:
        forge.rewrite_history(vault, seq)


def truncate_history(config: Config, keep: int) -> None:
    with Vault.open(config) as vault:
        forge.truncate_history(vault, keep)


def anchor(run: Invoke, place: Path, *extra: str) -> dict[str, object]:
    result = run("audit", "anchor", "--to", str(place), "--json", *extra)
    assert result.exit_code == 0, result.output
    found: dict[str, object] = json.loads(result.output)
    return found


def test_a_rewrite_with_the_signing_key_fails_only_the_anchored_check(
    run: Invoke, config: Config, tmp_path: Path
) -> None:
    place = tmp_path / "anchors"
    add_entries(config, 3)
    first = anchor(run, place)
    add_entries(config, 3, "y")
    second = anchor(run, place)
    assert first["written"] and second["written"]
    ok = run("audit", "verify", "--anchors", str(place))
    assert ok.exit_code == 0, ok.output
    assert ok.output == "audit chain intact and extends all 2 anchored checkpoint(s)\n"

    rewrite_history(config, seq=2)
    plain = run("audit", "verify")
    assert plain.exit_code == 0, plain.output  # the signed head alone is fooled
    caught = run("audit", "verify", "--anchors", str(place))
    assert caught.exit_code == 1
    lines = caught.output.splitlines()
    assert lines[-1] == "audit anchors broken: 2 fault(s), 2 checkpoint(s)"
    for found in (first, second):
        assert any(
            line.startswith(
                f"FAULT  {found['name']}: the chain no longer extends the checkpoint "
                f"of entry {found['seq']} anchored at "
            )
            and line.endswith("has another hash (the history up to it was rewritten)")
            for line in lines
        ), caught.output


def test_verify_anchors_as_json_names_the_checkpoint(
    run: Invoke, config: Config, tmp_path: Path
) -> None:
    place = tmp_path / "anchors"
    add_entries(config, 2)
    early = anchor(run, place)
    add_entries(config, 2, "y")
    late = anchor(run, place)
    # Entries after the early checkpoint rewritten: only the late one is no longer extended.
    rewrite_history(config, seq=int(str(early["seq"])) + 1)
    result = run("audit", "verify", "--anchors", str(place), "--json")
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["ok"] is False
    assert [(c["name"], c["ok"]) for c in body["checkpoints"]] == [
        (early["name"], True),
        (late["name"], False),
    ]


def test_truncation_below_an_anchor_is_caught(run: Invoke, config: Config, tmp_path: Path) -> None:
    place = tmp_path / "anchors"
    add_entries(config, 4)
    found = anchor(run, place)
    truncate_history(config, keep=int(str(found["seq"])) - 2)
    assert run("audit", "verify").exit_code == 0
    caught = run("audit", "verify", "--anchors", str(place))
    assert caught.exit_code == 1
    assert "(entries were removed)" in caught.output


def test_a_forged_anchor_file_is_reported(run: Invoke, config: Config, tmp_path: Path) -> None:
    place = tmp_path / "anchors"
    add_entries(config, 2)
    real = anchor(run, place)
    body = json.loads((place / str(real["name"])).read_bytes())
    body["hash"] = "f" * 64
    forged = place / "audit-anchor-000000000001-20260101T000000Z.json"
    forged.write_text(json.dumps(body))
    caught = run("audit", "verify", "--anchors", str(place))
    assert caught.exit_code == 1
    assert (
        f"FAULT  {forged.name}: the checkpoint of entry {body['seq']} anchored at {body['at']} "
        "has an invalid signature: it is forged or damaged"
    ) in caught.output.splitlines()


def test_anchor_twice_with_an_unchanged_head(run: Invoke, config: Config, tmp_path: Path) -> None:
    place = tmp_path / "anchors"
    add_entries(config, 1)
    anchor(run, place)
    again = run("audit", "anchor", "--to", str(place))
    assert again.exit_code == 0
    assert "has not moved since the last checkpoint" in again.output
    time.sleep(1.05)  # names are to the second; one second on, a forced one is new
    assert anchor(run, place, "--force")["written"] is True
    files = sorted(place.glob("audit-anchor-*.json"))
    assert all(path.stat().st_mode & 0o777 == 0o400 for path in files)


def test_anchor_with_nowhere_to_go(run: Invoke) -> None:
    result = run("audit", "anchor")
    assert result.exit_code != 0
    assert "nowhere to anchor: give --to DIR|s3://bucket or --tsa URL" in result.output
