"""Contacts: CSV import, matching participants, timelines and the signed CRM webhook, on
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from _audio import tone, wav_bytes
from callvault.analysis import Transcript, Utterance
from callvault.capture import FileImportOptions, import_bytes
from callvault.errors import CrmPushError, InputError, NotFound
from callvault.services import Context
from callvault.services.contacts import (
    account_timeline,
    contact_calls,
    contact_timeline,
    import_contacts_csv,
    list_contacts,
    push_call_to_crm,
    sign,
    verify_signature,
)
from callvault.vault import Vault

CALLEE = "+442071838750"
SECRET = "s3cret-webhook-key"


@pytest.fixture
def ctx(vault: Vault) -> Context:
    """The operator's context on the test's vault, as the command line opens one."""
    return Context(config=vault.config, vault=vault)


def write_csv(tmp_path: Path, text: str, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def store(vault: Vault, seed: int, caller: str | None, started_at: str) -> str:
    opts = FileImportOptions(
        caller=caller, callee=CALLEE, started_at=started_at, agent="alice", direction="inbound"
    )
    call = import_bytes(wav_bytes(tone(0.5, 8000, 2, seed), 8000), f"c{seed}.wav", opts)
    return vault.calls.store_call(call).call_id


def insights_doc(points: list[str], actions: list[str]) -> bytes:
    return json.dumps(
        {
            "insights": {
                "summary": {"points": [{"text": p, "utterances": [0]} for p in points]},
                "actions": {"items": [{"text": a, "owner": "agent", "due": None} for a in actions]},
            },
            "redactions": {},
        }
    ).encode()


def process(vault: Vault, call_id: str, points: list[str], actions: list[str]) -> None:
    """Store a transcript and an insights document as processing would (no ASR)."""
    transcript = Transcript(
        "done", "en", "test", "1", (Utterance("S0", 0, 0.0, 0.5, "hello", 0.9, ()),), False
    )
    vault.transcripts.store_transcript(
        call_id,
        transcript.to_json().encode(),
        status="done",
        language="en",
        model_name="test",
        model_version="1",
        utterances=1,
        words=1,
        insights=(insights_doc(points, actions), {"format": 1}),
    )


# -- import -------------------------------------------------------------------------------


def test_import_upserts_by_crm_id_then_phone_then_email(
    vault: Vault, ctx: Context, tmp_path: Path
) -> None:
    first = write_csv(
        tmp_path,
        "Name,PHONE,Email,account,crm_id\n"
        "Jane Doe,(415) 555-0100,Jane@Example.com,Acme,CRM-1\n"
        "Bob Roe,+44 20 7946 0000,,Acme,\n"
        "Carol Poe,,carol@example.org,Globex,\n",
    )
    result = import_contacts_csv(ctx, first)
    assert (result.rows, result.created, result.updated) == (3, 3, 0)
    by_name = {c.name: c for c in list_contacts(ctx)}
    assert by_name["Jane Doe"].phone == "+14155550100"
    assert by_name["Jane Doe"].email == "jane@example.com"
    assert by_name["Bob Roe"].phone == "+442079460000"

    second = write_csv(
        tmp_path,
        "crm_id,name,phone,email\n"
        "CRM-1,Jane Smith,,\n"  # by CRM id: renamed, phone kept
        ",Robert Roe,0044 20 7946 0000,\n"  # by phone (another format): renamed
        ",Caroline Poe,,CAROL@example.org\n",  # by e-mail, any case
        "again.csv",
    )
    result = import_contacts_csv(ctx, second, region="GB")
    assert (result.rows, result.created, result.updated) == (3, 0, 3)
    contacts = {c.id: c for c in list_contacts(ctx)}
    assert len(contacts) == 3
    jane = contacts[by_name["Jane Doe"].id]
    assert (jane.name, jane.phone, jane.account) == ("Jane Smith", "+14155550100", "Acme")
    assert contacts[by_name["Bob Roe"].id].name == "Robert Roe"
    assert contacts[by_name["Carol Poe"].id].name == "Caroline Poe"
    assert [c.name for c in list_contacts(ctx, account="Acme")] == ["Jane Smith", "Robert Roe"]
    assert [c.name for c in list_contacts(ctx, query="caro")] == ["Caroline Poe"]
    entries = vault.audit_entries(action="contacts.import")
    assert [e.details for e in entries] == [
        {"rows": 3, "created": 3, "updated": 0},
        {"rows": 3, "created": 0, "updated": 3},
    ]


def test_bad_row_writes_nothing_and_names_line_and_field(
    vault: Vault, ctx: Context, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path,
        "name,phone,email\nJane Doe,+14155550100,jane@example.com\n\nBob Roe,12,bob@example.com\n",
    )
    with pytest.raises(InputError) as caught:
        import_contacts_csv(ctx, path)
    assert str(caught.value) == (
        f"{path}, line 4: phone is not a phone number; write it with + and the country code "
        "(for example +442071234567) or give the region of national numbers (--region)"
    )
    assert "Bob" not in str(caught.value)
    assert list_contacts(ctx) == []
    assert vault.audit_entries(action="contacts.import") == []

    bad_email = write_csv(tmp_path, "name,email\nJane,not-an-address\n", "e.csv")
    with pytest.raises(InputError, match=r"line 2: email is not an e-mail address"):
        import_contacts_csv(ctx, bad_email)
    no_key = write_csv(tmp_path, "name,account\nJane,Acme\n", "k.csv")
    with pytest.raises(InputError, match=r"line 2: has no crm_id, phone or email"):
        import_contacts_csv(ctx, no_key)
    assert list_contacts(ctx) == []


def test_unknown_columns_are_an_error(vault: Vault, ctx: Context, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "name,phone,Mobile,notes\nJane,+14155550100,x,y\n")
    with pytest.raises(InputError) as caught:
        import_contacts_csv(ctx, path)
    assert str(caught.value) == (
        f"{path}: unknown column(s) 'mobile', 'notes'; the columns are name, phone, email, "
        "account, crm_id"
    )
    # A file without a header: its first line is data and is not echoed.
    headless = write_csv(tmp_path, "Jane Doe,+14155550100\n", "h.csv")
    with pytest.raises(InputError) as caught:
        import_contacts_csv(ctx, headless)
    assert "Jane" not in str(caught.value) and "line 1 must name the columns" in str(caught.value)
    assert list_contacts(ctx) == []


# -- matching and timelines ---------------------------------------------------------------


def test_participants_match_by_number_in_any_format_or_by_name(
    vault: Vault, ctx: Context, tmp_path: Path
) -> None:
    import_contacts_csv(
        ctx,
        write_csv(
            tmp_path,
            "name,phone,account\nJane Doe,415.555.0100,Acme\nSam Lee,+1 (415) 555-0177,Acme\n",
        ),
    )
    jane, sam = sorted(list_contacts(ctx), key=lambda c: c.name or "")
    by_number = store(vault, 1, "+1 415-555-0100", "2026-03-01T09:00:00Z")
    store(vault, 2, "+14155550199", "2026-03-02T09:00:00Z")  # nobody we know
    assert [c.call_id for c in contact_calls(ctx, jane.id)] == [by_number]
    assert contact_calls(ctx, sam.id) == []
    # A participant without a number matches by name, case-insensitively.
    opts = FileImportOptions(callee=CALLEE, started_at="2026-03-03T09:00:00Z")
    call = import_bytes(wav_bytes(tone(0.5, 8000, 2, 3), 8000), "n.wav", opts)
    first, *rest = call.participants
    call = dataclasses.replace(
        call, participants=(dataclasses.replace(first, phone=None, name="JANE doe"), *rest)
    )
    by_name = vault.calls.store_call(call).call_id
    assert [c.call_id for c in contact_calls(ctx, jane.id)] == [by_name, by_number]
    entry = vault.audit_entries(action="contacts.read", object_id=jane.id)[-1]
    assert entry.details == {"calls": [by_name, by_number]}
    logged = json.dumps([(e.object_id, e.details) for e in vault.audit_entries()])
    assert "5550100" not in logged and "jane" not in logged.lower()
    with pytest.raises(NotFound, match=r"contact nope does not exist"):
        contact_calls(ctx, "nope")


def test_timeline_newest_first_with_summary(vault: Vault, ctx: Context, tmp_path: Path) -> None:
    import_contacts_csv(
        ctx,
        write_csv(
            tmp_path,
            "name,phone,account,crm_id\nJane Doe,+14155550100,Acme,C1\n"
            "Bob Roe,+14155550111,Acme,C2\n",
        ),
    )
    jane = list_contacts(ctx, query="jane")[0]
    old = store(vault, 1, "+14155550100", "2026-01-05T10:00:00Z")
    new = store(vault, 2, "+14155550100", "2026-02-05T10:00:00Z")
    middle = store(vault, 3, "+14155550111", "2026-01-20T10:00:00Z")
    process(vault, old, ["Asked about the invoice."], ["Send the invoice copy"])
    process(vault, middle, ["Bob wants a demo."], [])

    timeline = contact_timeline(ctx, jane.id, purpose="support")
    assert timeline["contact"]["id"] == jane.id
    assert [c["id"] for c in timeline["calls"]] == [new, old]
    latest, earlier = timeline["calls"]
    assert (latest["summary"], latest["action_items"]) == (None, None)
    assert earlier["summary"] == ["Asked about the invoice."]
    assert earlier["action_items"] == [
        {"text": "Send the invoice copy", "owner": "agent", "due": None}
    ]
    assert earlier["started_at"] == "2026-01-05T10:00:00+00:00"
    assert (earlier["direction"], earlier["agent"], earlier["duration_s"]) == (
        "inbound",
        "alice",
        0.5,
    )

    account = account_timeline(ctx, "Acme", purpose=None)
    assert [c["name"] for c in account["contacts"]] == ["Bob Roe", "Jane Doe"]
    assert [c["id"] for c in account["calls"]] == [new, middle, old]
    assert account["calls"][1]["summary"] == ["Bob wants a demo."]
    assert account["calls"][1]["contact_ids"] != account["calls"][0]["contact_ids"]
    with pytest.raises(NotFound, match=r"no contact belongs to that account"):
        account_timeline(ctx, "Initech", purpose=None)


def test_restricted_call_content_is_withheld(vault: Vault, ctx: Context, tmp_path: Path) -> None:
    import_contacts_csv(ctx, write_csv(tmp_path, "name,phone\nJane,+14155550100\n"))
    call_id = store(vault, 1, "+14155550100", "2026-01-05T10:00:00Z")
    process(vault, call_id, ["Secret."], [])
    restriction = vault.restrictions.restrict("+14155550100", "subject objects")
    contact = list_contacts(ctx)[0]
    [entry] = contact_timeline(ctx, contact.id, purpose=None)["calls"]
    assert (entry["restricted"], entry["summary"]) == (restriction.id, None)


# -- the CRM webhook ----------------------------------------------------------------------


class FakeCrm:
    """A stand-in for a CRM's webhook endpoint (no CRM runs here): a real HTTP server on
    127.0.0.1 that answers with the scripted statuses and keeps what it received."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                crm.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = crm.statuses.pop(0) if crm.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/callvault"


@pytest.fixture
def crm_server() -> Iterator[Callable[[list[int]], FakeCrm]]:
    started: list[FakeCrm] = []

    def make(statuses: list[int]) -> FakeCrm:
        crm = FakeCrm(statuses)
        crm.thread.start()
        started.append(crm)
        return crm

    yield make
    for crm in started:
        crm.server.shutdown()
        crm.server.server_close()
        crm.thread.join()


def test_push_retries_5xx_and_signs(vault: Vault, ctx: Context, tmp_path: Path, crm_server) -> None:  # type: ignore[no-untyped-def]
    import_contacts_csv(ctx, write_csv(tmp_path, "name,phone,crm_id\nJane,+14155550100,C1\n"))
    contact = list_contacts(ctx)[0]
    call_id = store(vault, 1, "+14155550100", "2026-01-05T10:00:00Z")
    process(vault, call_id, ["Asked about the invoice."], ["Send the invoice copy"])
    crm = crm_server([500, 503, 200])
    slept: list[float] = []
    result = push_call_to_crm(
        ctx, call_id, url=crm.url, secret=SECRET, purpose="crm sync", sleep=slept.append
    )
    assert (result.status, result.attempts, result.host) == (200, 3, "127.0.0.1")
    assert slept == [0.5, 1.0]
    assert len(crm.requests) == 3
    headers, body = crm.requests[-1]
    assert headers["content-type"] == "application/json"
    assert verify_signature(
        SECRET,
        headers["x-callvault-timestamp"],
        body,
        headers["x-callvault-signature"],
        now=time.time(),
    )
    payload = json.loads(body)
    assert payload["event"] == "call.processed"
    assert payload["call"]["id"] == call_id
    caller = payload["call"]["participants"][0]
    assert (caller["phone"], caller["contact_ids"]) == ("+14155550100", [contact.id])
    assert payload["call"]["participants"][1]["contact_ids"] == []
    assert payload["summary"] == ["Asked about the invoice."]
    assert payload["action_items"][0]["text"] == "Send the invoice copy"
    [entry] = vault.audit_entries(action="crm.push")
    assert (entry.object_id, entry.purpose) == (call_id, "crm sync")
    assert entry.details == {"host": "127.0.0.1", "status": 200, "attempts": 3, "ok": True}


def test_push_4xx_is_final(vault: Vault, ctx: Context, crm_server) -> None:  # type: ignore[no-untyped-def]
    call_id = store(vault, 1, "+14155550100", "2026-01-05T10:00:00Z")
    crm = crm_server([400, 200])
    slept: list[float] = []
    with pytest.raises(CrmPushError) as caught:
        push_call_to_crm(ctx, call_id, url=crm.url, secret=SECRET, purpose=None, sleep=slept.append)
    assert str(caught.value) == (
        f"call {call_id}: the CRM webhook at 127.0.0.1 answered HTTP 400 after 1 attempt(s); "
        "check the URL and the secret the CRM expects"
    )
    assert (caught.value.status, caught.value.attempts) == (400, 1)
    assert len(crm.requests) == 1 and slept == []
    # Not processed yet: the event carries nulls, not an empty summary.
    assert json.loads(crm.requests[0][1])["summary"] is None
    [entry] = vault.audit_entries(action="crm.push")
    assert entry.details == {"host": "127.0.0.1", "status": 400, "attempts": 1, "ok": False}


def test_push_retries_connection_errors(vault: Vault, ctx: Context, crm_server) -> None:  # type: ignore[no-untyped-def]
    call_id = store(vault, 1, "+14155550100", "2026-01-05T10:00:00Z")
    crm = crm_server([])
    url = crm.url
    crm.server.server_close()  # nothing listens there any more
    slept: list[float] = []
    with pytest.raises(CrmPushError, match=r"could not be reached .* after 3 attempt"):
        push_call_to_crm(ctx, call_id, url=url, secret=SECRET, purpose=None, sleep=slept.append)
    assert slept == [0.5, 1.0]
    [entry] = vault.audit_entries(action="crm.push")
    assert entry.details == {"host": "127.0.0.1", "status": None, "attempts": 3, "ok": False}


def test_push_refuses_bad_url_and_empty_secret(vault: Vault, ctx: Context) -> None:
    call_id = store(vault, 1, "+14155550100", "2026-01-05T10:00:00Z")
    with pytest.raises(InputError, match=r"--url must be an http"):
        push_call_to_crm(ctx, call_id, url="ftp://crm", secret=SECRET, purpose=None)
    with pytest.raises(InputError, match=r"secret is empty"):
        push_call_to_crm(ctx, call_id, url="http://127.0.0.1:9/", secret="", purpose=None)
    assert vault.audit_entries(action="crm.push") == []


def test_verify_signature() -> None:
    body = b'{"event":"call.processed"}'
    header = sign(SECRET, 1_700_000_000, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, "1700000000", body, header, now=1_700_000_100)
    assert not verify_signature(SECRET, "1700000000", body, header, now=1_700_000_301)  # replay
    assert not verify_signature("other", "1700000000", body, header, now=1_700_000_000)
    assert not verify_signature(SECRET, "1700000001", body, header, now=1_700_000_000)
    assert not verify_signature(SECRET, "1700000000", body + b" ", header, now=1_700_000_000)
    assert not verify_signature(SECRET, "soon", body, header, now=1_700_000_000)
