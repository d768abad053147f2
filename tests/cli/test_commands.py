"""The callvault command end to end, through click's CliRunner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from _audio import tone, wav_bytes
from callvault.cli import cli


@pytest.fixture
def run(tmp_path: Path, backend: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": url,
        "CALLVAULT_ACTOR": "test:cli",
    }

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    invoke.env = env  # type: ignore[attr-defined]
    return invoke


def make_wav(tmp_path: Path, seed: int = 0, channels: int = 2) -> Path:
    path = tmp_path / f"call{seed}.wav"
    path.write_bytes(wav_bytes(tone(1.0, 8000, channels, seed), 8000))
    return path


def ingest(run, path: Path) -> str:  # type: ignore[no-untyped-def]
    result = run("ingest", "--consent", "pre-call-notice", str(path), "--json")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["calls"][0]["call_id"])


def test_init_creates_private_data_dir(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("init", "--json")
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["created"] is True
    data = tmp_path / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    (kek,) = (data / "keys" / "kek").glob("kek-*.key")
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "keys" / "signing.key").stat().st_mode) == 0o600
    assert info["signing_key"].startswith("ed25519:")
    again = run("init", "--json")
    assert json.loads(again.stdout)["created"] is False
    assert list((data / "keys" / "kek").glob("kek-*.key")) == [kek]


def test_ingest_list_show_export(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = make_wav(tmp_path)
    call_id = ingest(run, path)
    plain = run("ingest", "--consent", "pre-call-notice", str(path))
    assert plain.stdout == f"{call_id}  already stored  {path}\n"
    listed = json.loads(run("list", "--json").stdout)["calls"]
    assert [c["id"] for c in listed] == [call_id]
    shown = json.loads(run("show", call_id, "--json", "--purpose", "coaching").stdout)
    assert shown["id"] == call_id and shown["recording"]["channels"] == 2
    out = tmp_path / "copy.wav"
    result = run("export", call_id, "--out", str(out), "--purpose", "legal")
    assert result.exit_code == 0
    assert out.read_bytes() == path.read_bytes()
    again = run("export", call_id, "--out", str(out))
    assert again.exit_code == 2
    assert again.stderr == f"error: {out}: already exists; pass --force to replace it\n"
    entries = json.loads(run("audit", "list", "--json").stdout)["entries"]
    gate = ("policy.decision", "retention.set", "consent.record")  # what ingest's gate adds
    assert [
        (e["action"], e["actor"], e["purpose"]) for e in entries if e["action"] not in gate
    ] == [
        ("call.ingest", "test:cli", None),
        ("call.ingest", "test:cli", None),
        ("call.list", "test:cli", None),
        ("call.show", "test:cli", "coaching"),
        ("recording.export", "test:cli", "legal"),
    ]
    assert [e["action"] for e in entries].count("policy.decision") == 1  # not for the duplicate


def test_verify_exit_codes_and_names_the_fault(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = ingest(run, make_wav(tmp_path, 1))
    ingest(run, make_wav(tmp_path, 2))
    ok = run("verify", "--all", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    shown = json.loads(run("show", first, "--json").stdout)
    rid = shown["recording"]["id"]
    blob = tmp_path / "data" / "blobs" / rid[:2] / rid
    raw = bytearray(blob.read_bytes())
    raw[100] ^= 0xFF
    blob.write_bytes(bytes(raw))
    bad = run("verify", "--all")
    assert bad.exit_code == 1
    assert f"FAULT  call {first}: recording {rid}: the encrypted blob does not match" in bad.stdout
    assert bad.stdout.endswith("2 recording(s) checked, 1 with faults\n")
    single = run("verify", first, "--json")
    assert single.exit_code == 1
    assert json.loads(single.stdout)["recordings"][0]["recording_id"] == rid
    neither = run("verify")
    assert (neither.exit_code, neither.stderr) == (2, "error: give either a CALL_ID or --all\n")


def test_audit_verify_cli(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(run, make_wav(tmp_path))
    good = run("audit", "verify")
    count = len(json.loads(run("audit", "list", "--json").stdout)["entries"])
    assert (good.exit_code, good.stdout) == (0, f"audit chain intact: {count} entries\n")
    engine = create_engine(
        run.env["CALLVAULT_DATABASE_URL"]  # type: ignore[attr-defined]
        or f"sqlite:///{tmp_path / 'data' / 'callvault.db'}"
    )
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 1"))
    engine.dispose()
    bad = run("audit", "verify", "--json")
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    assert report["faults"] == [
        {
            "seq": 1,
            "kind": "altered",
            "message": "entry 1 was altered: its content does not match its hash",
        }
    ]


def test_delete_and_rotate(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gone = ingest(run, make_wav(tmp_path, 1))
    kept = ingest(run, make_wav(tmp_path, 2))
    refused = run("delete", gone, "--reason", "request")
    assert refused.exit_code == 2
    assert refused.stderr == "error: delete cannot be undone; pass --yes to confirm\n"
    assert run("delete", gone, "--reason", "request", "--yes").exit_code == 0
    missing = run("show", gone)
    assert missing.exit_code == 2
    assert (
        missing.stderr == f"error: call {gone} does not exist; `callvault list` shows the calls\n"
    )
    rotated = json.loads(run("keys", "rotate", "--json").stdout)
    assert rotated["rewrapped"] == 1 and len(rotated["retired"]) == 1
    assert run("verify", "--all").exit_code == 0
    assert (
        json.loads(run("show", kept, "--json").stdout)["recording"]["encryption"]["kek_id"]
        == rotated["kek_id"]
    )
    assert run("audit", "verify").exit_code == 0


@pytest.mark.parametrize("backend", ["sqlite"])
def test_config_masks_secrets(tmp_path: Path, backend: str) -> None:
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path),
        "CALLVAULT_DATABASE_URL": "postgresql+psycopg://cv:hunter2@localhost/cv",
    }
    result = CliRunner().invoke(cli, ["config", "--json"], env=env)
    assert result.exit_code == 0
    values = json.loads(result.stdout)
    assert values["database_url"]["value"] == "postgresql+psycopg://cv:****@localhost/cv"
    assert values["data_dir"] == {"value": str(tmp_path), "env": "CALLVAULT_DATA_DIR"}
    assert "hunter2" not in result.output


@pytest.mark.parametrize("backend", ["sqlite"])
def test_bad_setting_and_unreachable_database(tmp_path: Path, backend: str) -> None:
    bad = CliRunner().invoke(cli, ["list"], env={"CALLVAULT_CHUNK_SIZE": "tiny"})
    assert bad.exit_code == 2
    assert bad.stderr == (
        "error: CALLVAULT_CHUNK_SIZE='tiny' is not valid: expected a byte "
        "count such as 4096, 64MiB or 2GiB\n"
    )
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "d"),
        "CALLVAULT_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
    }
    down = CliRunner().invoke(cli, ["list"], env=env)
    assert down.exit_code == 2
    assert down.stderr == (
        "error: cannot open the database (OperationalError); check "
        "CALLVAULT_DATABASE_URL and that the server is running\n"
    )
    other = CliRunner().invoke(cli, ["list"], env={**env, "CALLVAULT_DATABASE_URL": "mysql://x/y"})
    assert other.exit_code == 2
    assert other.stderr == (
        "error: CALLVAULT_DATABASE_URL: database 'mysql' is not supported; "
        "use SQLite or PostgreSQL\n"
    )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_demo_ingests_a_spoken_call(tmp_path: Path, backend: str) -> None:
    env = {"CALLVAULT_DATA_DIR": str(tmp_path / "data"), "CALLVAULT_DATABASE_URL": ""}
    first = CliRunner().invoke(cli, ["demo"], env=env)
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    rec = out["call"]["recording"]
    assert rec["channels"] == 2 and rec["duration_s"] > 5
    assert out["call"]["direction"] == "inbound"
    second = json.loads(CliRunner().invoke(cli, ["demo"], env=env).stdout)
    assert second["ingested"]["duplicate"] is True
    assert second["call"]["id"] == out["call"]["id"]
