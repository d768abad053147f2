"""`callvault contacts` and `callvault crm push` through CliRunner, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from _audio import tone, wav_bytes
from callvault.cli import cli
from callvault.services.contacts import verify_signature

SECRET = "cli-webhook-secret"


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


def ingest(env: dict[str, str], tmp_path: Path, seed: int, caller: str, started: str) -> str:
    path = tmp_path / f"call{seed}.wav"
    path.write_bytes(wav_bytes(tone(0.5, 8000, 2, seed), 8000))
    result = run(
        env,
        "ingest",
        "--consent",
        "pre-call-notice",
        str(path),
        "--caller",
        caller,
        "--started-at",
        started,
        "--json",
    )
    return str(ok(result)["calls"][0]["call_id"])


def test_import_list_show_account(env: dict[str, str], tmp_path: Path) -> None:
    csv_path = tmp_path / "crm.csv"
    csv_path.write_text(
        "NAME,Phone,email,account,crm_id\n"
        "Jane Doe,020 7946 0000,jane@example.com,Acme,C1\n"
        "Bob Roe,+14155550111,,Acme,C2\n"
    )
    assert ok(run(env, "contacts", "import", str(csv_path), "--region", "gb", "--json")) == {
        "rows": 2,
        "created": 2,
        "updated": 0,
    }
    plain = run(env, "contacts", "import", str(csv_path), "--region", "GB")
    assert plain.exit_code == 0 and plain.stdout == "2 rows: 0 created, 2 updated\n"

    listed = ok(run(env, "contacts", "list", "--account", "Acme", "--json"))
    assert [(c["name"], c["phone"]) for c in listed] == [
        ("Bob Roe", "+14155550111"),
        ("Jane Doe", "+442079460000"),
    ]
    jane_id = listed[1]["id"]
    older = ingest(env, tmp_path, 1, "+44 20 7946 0000", "2026-01-01T10:00:00Z")
    newer = ingest(env, tmp_path, 2, "+442079460000", "2026-02-01T10:00:00Z")
    bobs = ingest(env, tmp_path, 3, "+14155550111", "2026-01-15T10:00:00Z")

    shown = ok(run(env, "contacts", "show", jane_id, "--json"))
    assert shown["contact"]["crm_id"] == "C1"
    assert [c["id"] for c in shown["calls"]] == [newer, older]
    assert shown["calls"][0]["summary"] is None
    text = run(env, "contacts", "show", jane_id)
    assert text.exit_code == 0 and "not processed yet" in text.stdout

    account = ok(run(env, "contacts", "account", "Acme", "--json"))
    assert [c["id"] for c in account["calls"]] == [newer, bobs, older]

    missing = run(env, "contacts", "show", "nope")
    assert missing.exit_code == 2
    assert missing.stderr == (
        "error: contact nope does not exist; `callvault contacts list` shows them\n"
    )


def test_import_errors(env: dict[str, str], tmp_path: Path) -> None:
    csv_path = tmp_path / "crm.csv"
    csv_path.write_text("name,phone,fax\nJane,+14155550100,1\n")
    result = run(env, "contacts", "import", str(csv_path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {csv_path}: unknown column(s) 'fax'; the columns are name, phone, email, "
        "account, crm_id\n"
    )
    csv_path.write_text("name,phone\nJane,+14155550100\nBob,+1 555\n")
    result = run(env, "contacts", "import", str(csv_path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {csv_path}, line 3: phone is not a phone number")
    assert "555" not in result.stderr.replace(str(csv_path), "")
    assert ok(run(env, "contacts", "list", "--json")) == []


class _Crm(BaseHTTPRequestHandler):
    """A stand-in for a CRM webhook (none can run here), answering 200."""

    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def crm_url() -> Iterator[str]:
    _Crm.received = []
    server = HTTPServer(("127.0.0.1", 0), _Crm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhook"
    server.shutdown()
    server.server_close()
    thread.join()


def test_crm_push(env: dict[str, str], tmp_path: Path, crm_url: str) -> None:
    call_id = ingest(env, tmp_path, 1, "+14155550100", "2026-01-01T10:00:00Z")
    missing = run(env, "crm", "push", call_id, "--url", crm_url, "--secret-env", "MY_CRM_KEY")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: the environment variable MY_CRM_KEY is not set")
    assert _Crm.received == []

    result = run({**env, "MY_CRM_KEY": SECRET}, "crm", "push", call_id, "--url", crm_url,
                 "--secret-env", "MY_CRM_KEY", "--json")  # fmt: skip
    assert ok(result) == {"call_id": call_id, "host": "127.0.0.1", "status": 200, "attempts": 1}
    [(headers, body)] = _Crm.received
    assert verify_signature(
        SECRET,
        headers["x-callvault-timestamp"],
        body,
        headers["x-callvault-signature"],
        now=time.time(),
    )
    assert json.loads(body)["call"]["id"] == call_id

    default = run({**env, "CALLVAULT_CRM_SECRET": SECRET}, "crm", "push", call_id, "--url", crm_url)
    assert default.exit_code == 0
    assert default.stdout == f"call {call_id} sent to 127.0.0.1: HTTP 200 after 1 attempt(s)\n"
