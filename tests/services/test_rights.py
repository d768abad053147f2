"""Data subjects' requests (find, export, erase), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from _audio import tone, wav_bytes
from _context import as_context
from callvault.analysis import Transcript, Utterance
from callvault.capture import FileImportOptions, import_bytes
from callvault.cli import cli
from callvault.config import Config
from callvault.errors import ErasureRefused, InputError
from callvault.search import IndexRow, SearchIndex
from callvault.services import erase_subject, export_subject, find_subject
from callvault.services import rights as rights_service
from callvault.vault import Vault

SUBJECT = "+14155550100"
OTHER = "+14155550199"
CALLEE = "+442071838750"


def audio(seed: int) -> bytes:
    return wav_bytes(tone(0.5, 8000, 2, seed), 8000)


def store(vault: Vault, seed: int, caller: str = SUBJECT, name: str | None = None) -> str:
    opts = FileImportOptions(caller=caller, callee=CALLEE, started_at="2026-03-01T09:30:00Z")
    call = import_bytes(audio(seed), f"call-{seed}.wav", opts)
    if name is not None:
        first, *rest = call.participants
        call = dataclasses.replace(
            call, participants=(dataclasses.replace(first, name=name), *rest)
        )
    return vault.calls.store_call(call).call_id


def transcribe(vault: Vault, call_id: str, text: str) -> None:
    transcript = Transcript(
        status="done",
        language="en",
        model_name="test",
        model_version="1",
        utterances=(Utterance("S0", 0, 0.0, 0.5, text, 0.9, ()),),
        diarized=False,
    )
    recording_id = vault.transcripts.store_transcript(
        call_id,
        transcript.to_json().encode(),
        status="done",
        language="en",
        model_name="test",
        model_version="1",
        utterances=1,
        words=len(text.split()),
    )
    row = IndexRow(call_id, recording_id, 0, "S0", "caller", None, "en", None, 0.0, 0.5, text)
    with vault.engine.execution_options(callvault_write=True).begin() as conn:
        SearchIndex(vault.engine, vault.search_key).index_utterances(conn, [row])


def hits(vault: Vault, query: str) -> list[str]:
    return [h.call_id for h in SearchIndex(vault.engine, vault.search_key).search(query)]


# -- find ----------------------------------------------------------------------------------


def test_find_by_number_and_by_name(vault: Vault) -> None:
    first = store(vault, 0)
    second = store(vault, 1, caller=OTHER, name="Jane Doe")
    store(vault, 2, caller=OTHER)

    found = find_subject(as_context(vault), "+1 415 555 0100")
    assert found.subject == SUBJECT
    assert [c.to_json() for c in found.calls] == [
        {
            "call_id": first,
            "started_at": "2026-03-01T09:30:00+00:00",
            "role": "caller",
            "other_participants": 1,
        }
    ]
    by_name = find_subject(as_context(vault), "jane doe")
    assert [(c.call_id, c.role) for c in by_name.calls] == [(second, "caller")]
    assert find_subject(as_context(vault), "+14155550111").calls == ()

    entries = vault.audit_entries(action="rights.find")
    assert [e.details for e in entries] == [
        {"count": 1, "calls": [first]},
        {"count": 1, "calls": [second]},
        {"count": 0, "calls": []},
    ]
    # The subject is personal data: it never enters the chain that cannot be edited.
    chain = json.dumps([e.to_dict() for e in vault.audit_entries()])
    assert SUBJECT not in chain and "Jane" not in chain


# -- export --------------------------------------------------------------------------------


def test_export_writes_every_file_and_documents_it(vault: Vault, tmp_path: Path) -> None:
    first, second = store(vault, 0), store(vault, 1)
    store(vault, 2, caller=OTHER)
    transcribe(vault, first, "my card number is secret")
    consent = vault.consent.record_consent(
        SUBJECT, method="verbal", scopes=["record"], call_id=first
    )
    vault.consent.record_consent(OTHER, method="verbal", scopes=["record"])
    out = tmp_path / "export" / "subject.zip"
    out.parent.mkdir()

    result = export_subject(as_context(vault), SUBJECT, out, purpose="DSAR 42")

    assert result.call_ids == (first, second)
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert names == set(result.files)
        assert names == {
            "README.txt",
            "subject.json",
            "consents.json",
            "audit.json",
            *(f"calls/{c}/{f}" for c in (first, second) for f in ("call.json", "audio.wav")),
        }
        readme = archive.read("README.txt").decode()
        assert all(f"\n{name}  " in readme for name in names)
        subject = json.loads(archive.read("subject.json"))
        assert subject["subject"] == SUBJECT
        assert [c["call_id"] for c in subject["calls"]] == [first, second]
        assert archive.read(f"calls/{first}/audio.wav") == audio(0)
        assert archive.read(f"calls/{second}/audio.wav") == audio(1)
        document = json.loads(archive.read(f"calls/{first}/call.json"))
        assert document["id"] == first
        assert document["transcript"]["utterances"][0]["text"] == "my card number is secret"
        assert json.loads(archive.read(f"calls/{second}/call.json"))["transcript"] is None
        consents = json.loads(archive.read("consents.json"))["consents"]
        assert [c["id"] for c in consents] == [consent.id]
        entries = json.loads(archive.read("audit.json"))["entries"]
    actions = {(e["action"], e["object_id"]) for e in entries}
    assert ("call.ingest", first) in actions and ("consent.record", consent.id) in actions
    assert ("recording.export", document["recording"]["id"]) in actions
    assert [p.name for p in out.parent.iterdir()] == ["subject.zip"]
    (summary,) = vault.audit_entries(action="rights.export")
    assert summary.purpose == "DSAR 42" and summary.details["calls"] == [first, second]
    assert vault.verify_audit().ok


def test_export_refuses_existing_file_and_data_dir(vault: Vault, tmp_path: Path) -> None:
    store(vault, 0)
    out = tmp_path / "taken.zip"
    out.write_bytes(b"keep me")
    with pytest.raises(InputError) as refused:
        export_subject(as_context(vault), SUBJECT, out)
    assert str(refused.value) == f"{out}: already exists; pass --force to replace it"
    assert out.read_bytes() == b"keep me"
    export_subject(as_context(vault), SUBJECT, out, overwrite=True)
    assert zipfile.is_zipfile(out)

    inside = vault.config.data_dir / "x.zip"
    with pytest.raises(InputError, match="is inside the data directory"):
        export_subject(as_context(vault), SUBJECT, inside)
    assert not inside.exists()


def test_export_leaves_nothing_behind_on_failure(
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(vault, 0)
    store(vault, 1)
    calls = 0

    def failing(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk on fire")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    real = rights_service.call_document
    monkeypatch.setattr(rights_service, "call_document", failing)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(OSError, match="disk on fire"):
        export_subject(as_context(vault), SUBJECT, out_dir / "subject.zip")
    assert list(out_dir.iterdir()) == []
    assert vault.audit_entries(action="rights.export") == []


# -- erase ---------------------------------------------------------------------------------


def test_erase_removes_every_call_of_the_subject(vault: Vault) -> None:
    first, second = store(vault, 0), store(vault, 1, caller=OTHER, name="Jane Doe")
    third = store(vault, 2, caller=OTHER)
    named = store(vault, 3, caller=CALLEE, name="JANE DOE")
    for call_id in (first, second, third, named):
        transcribe(vault, call_id, "refund please")
    recordings = {c: vault.calls.get_call(c).recording.id for c in (first, second, third, named)}

    result = erase_subject(as_context(vault), "Jane Doe", reason="art. 17 request 7")
    assert result.to_json() == {"subject": "Jane Doe", "erased": [second, named]}
    result = erase_subject(as_context(vault), SUBJECT, reason="art. 17 request 8")
    assert result.erased == (first,)

    assert hits(vault, "refund") == [third]
    assert [c.id for c in vault.calls.list_calls()] == [third]
    with vault.engine.connect() as conn:
        keys = {row[0] for row in conn.exec_driver_sql("SELECT recording_id FROM data_keys")}
    assert keys == {recordings[third]}
    assert vault.verify_audit().ok
    summaries = vault.audit_entries(action="rights.erase")
    assert [e.details["erased"] for e in summaries] == [[second, named], [first]]
    assert summaries[0].purpose == "art. 17 request 7" and summaries[0].details["complete"]
    assert len(vault.audit_entries(action="call.erase")) == 3
    chain = json.dumps([e.to_dict() for e in vault.audit_entries()])
    assert SUBJECT not in chain and "Jane" not in chain


def test_erase_is_refused_whole_by_a_hold_or_a_mifid_duty(vault: Vault) -> None:
    free, held, kept = store(vault, 0), store(vault, 1), store(vault, 2)
    hold = vault.holds.add_hold(held, reason="Smith v Acme")
    until = datetime.now(UTC) + timedelta(days=365)
    vault.holds.set_retention(kept, "mifid-ii", until)

    with pytest.raises(ErasureRefused) as refused:
        erase_subject(as_context(vault), SUBJECT, reason="asked")
    assert str(refused.value) == (
        "the erasure request is refused and nothing was erased: "
        f"call {held} is under legal hold {hold.id} (Smith v Acme); "
        f"call {kept} has retention class mifid-ii, a duty to keep it until "
        f"{until.isoformat()}"
    )
    assert {c.id for c in vault.calls.list_calls()} == {free, held, kept}
    assert vault.audit_entries(action="call.erase") == []
    assert vault.audit_entries(action="rights.erase") == []

    # A subject hold blocks too; once everything is lifted the request goes through.
    vault.holds.release_hold(hold.id, reason="settled")
    subject_hold = vault.holds.add_hold(subject=SUBJECT, reason="inquiry")
    with pytest.raises(ErasureRefused, match=f"legal hold {subject_hold.id} \\(inquiry\\)"):
        erase_subject(as_context(vault), SUBJECT, reason="asked")
    vault.holds.release_hold(subject_hold.id, reason="over")
    vault.holds.set_retention(kept, "mifid-ii", datetime.now(UTC) - timedelta(days=1))
    assert set(erase_subject(as_context(vault), SUBJECT, reason="asked").erased) == {
        free,
        held,
        kept,
    }


# -- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def run(config: Config):  # type: ignore[no-untyped-def]
    env = {
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
        "CALLVAULT_ACTOR": "test:cli",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["rights", *args], env=env, catch_exceptions=False)

    return invoke


def test_cli_find_export_erase(run, vault: Vault, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    call_id = store(vault, 0)
    vault.close()
    found = run("find", "--subject", SUBJECT, "--json")
    assert found.exit_code == 0, found.output
    assert [c["call_id"] for c in json.loads(found.stdout)["calls"]] == [call_id]

    out = tmp_path / "s.zip"
    exported = run("export", "--subject", SUBJECT, "--out", str(out), "--json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["calls"] == [call_id]
    again = run("export", "--subject", SUBJECT, "--out", str(out))
    assert again.exit_code == 2
    assert again.stderr == f"error: {out}: already exists; pass --force to replace it\n"

    unconfirmed = run("erase", "--subject", SUBJECT, "--reason", "asked")
    assert unconfirmed.exit_code == 2
    assert unconfirmed.stderr == "error: rights erase cannot be undone; pass --yes to confirm\n"
    erased = run("erase", "--subject", SUBJECT, "--reason", "asked", "--yes", "--json")
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.stdout) == {"subject": SUBJECT, "erased": [call_id]}
