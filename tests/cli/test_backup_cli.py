"""`callvault backup keygen|create|list|verify|prune` and `callvault restore` through
CliRunner: exit codes, JSON and the messages people see (SQLite; the services' own tests
cover PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from _audio import tone, wav_bytes
from callvault.cli import cli


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def ok(result: Result) -> dict:  # type: ignore[type-arg]
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_keygen_create_list_verify_prune_restore(tmp_path: Path) -> None:
    identity = tmp_path / "offline" / "backup.key"
    identity.parent.mkdir()
    keygen = CliRunner().invoke(cli, ["backup", "keygen", "--out", str(identity)])
    assert keygen.exit_code == 0, keygen.output
    recipient = keygen.stdout.strip()
    assert recipient.startswith("age1") and identity.stat().st_mode & 0o777 == 0o600
    again = CliRunner().invoke(cli, ["backup", "keygen", "--out", str(identity)])
    assert again.exit_code != 0 and "never overwritten" in again.output

    target = str(tmp_path / "backups")
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_ACTOR": "test:cli",
        "CALLVAULT_BACKUP_RECIPIENT": recipient,
        "CALLVAULT_BACKUP_TO": target,
    }
    wav = tmp_path / "call.wav"
    wav.write_bytes(wav_bytes(tone(1.0, 8000, 2, 3), 8000))
    ok(invoke(env, "ingest", "--consent", "pre-call-notice", str(wav), "--json"))

    made = ok(invoke(env, "backup", "create", "--json"))
    assert made["calls"] == 1 and made["objects"] == 1 and not made["incremental"]
    text = invoke(env, "backup", "create", "--incremental")
    assert text.exit_code == 0 and "incremental on " + made["id"] in text.output
    listed = ok(invoke(env, "backup", "list", "--json"))["backups"]
    assert [b["complete"] for b in listed] == [True, True]

    verified = ok(invoke(env, "backup", "verify", "--all", "--json"))
    assert verified["ok"] and len(verified["backups"]) == 2
    assert "no recovery key given" in verified["backups"][0]["skipped"][0]

    manifest = Path(target) / "sets" / made["id"] / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"calls":1', '"calls":2'))
    bad = invoke(env, "backup", "verify", "--backup", made["id"])
    assert bad.exit_code == 1
    assert f"FAULT  {made['id']}  sets/{made['id']}/manifest.json" in bad.output

    pruned = ok(invoke(env, "backup", "prune", "--keep-daily", "1", "--keep-weekly", "0", "--json"))
    assert pruned["deleted"] == [made["id"]]

    restored = {
        **env,
        "CALLVAULT_DATA_DIR": str(tmp_path / "restored"),
        "CALLVAULT_BACKUP_IDENTITY": str(identity),
    }
    done = ok(invoke(restored, "restore", "--from", target, "--json"))
    assert done["calls"] == 1 and done["audit_ok"]
    assert ok(invoke(restored, "audit", "verify", "--json"))["ok"]
    checked = invoke(restored, "verify", "--all")
    assert checked.exit_code == 0, checked.output


def test_restore_without_a_key_or_into_a_vault_says_why(tmp_path: Path) -> None:
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_BACKUP_PASSPHRASE": "correct horse battery staple",
    }
    target = str(tmp_path / "backups")
    ok(invoke(env, "backup", "create", "--to", target, "--json"))
    refused = CliRunner().invoke(cli, ["restore", "--from", target], env=env)
    assert refused.exit_code != 0 and "empty data directory" in refused.output
    keyless = {"CALLVAULT_DATA_DIR": str(tmp_path / "new")}
    refused = CliRunner().invoke(cli, ["restore", "--from", target], env=keyless)
    assert refused.exit_code != 0 and "CALLVAULT_BACKUP_IDENTITY" in refused.output
    nowhere = CliRunner().invoke(cli, ["backup", "create"], env=env)
    assert nowhere.exit_code != 0 and "CALLVAULT_BACKUP_TO" in nowhere.output
