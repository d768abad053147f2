"""Restriction of processing (GDPR art. 18), on SQLite and PostgreSQL: what a restriction
stops (processing, reads, search, erasure) and what it leaves (metadata, the subject's own
access), and that lifting it makes everything normal again."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from _audio import tone, wav_bytes
from _context import as_context
from callvault.analysis import Transcript, Utterance, Word
from callvault.capture import FileImportOptions, import_bytes
from callvault.cli import cli
from callvault.config import Config
from callvault.errors import ErasureRefused, InputError, NotFound, Restricted
from callvault.jobs import JobStatus
from callvault.search import IndexRow, SearchIndex
from callvault.services import (
    call_document,
    erase_subject,
    export_subject,
    process_call,
    run_retention,
    search_calls,
)
from callvault.services.jobs import enqueue_processing, open_queue
from callvault.vault import RESTRICTION_GROUNDS, Vault, restriction_ground

SUBJECT = "+14155550100"
OTHER = "+14155550199"
CALLEE = "+442071838750"


def store(vault: Vault, seed: int, caller: str = SUBJECT, name: str | None = None) -> str:
    opts = FileImportOptions(caller=caller, callee=CALLEE, started_at="2026-03-01T09:30:00Z")
    call = import_bytes(wav_bytes(tone(0.5, 8000, 2, seed), 8000), f"call-{seed}.wav", opts)
    if name is not None:
        first, *rest = call.participants
        call = dataclasses.replace(
            call, participants=(dataclasses.replace(first, name=name), *rest)
        )
    return vault.calls.store_call(call).call_id


def transcript(text: str) -> Transcript:
    words = tuple(Word(0.1 * i, 0.1 * (i + 1), w, 0.9) for i, w in enumerate(text.split()))
    return Transcript(
        status="done",
        language="en",
        model_name="test",
        model_version="1",
        utterances=(Utterance("S0", 0, 0.0, 0.5, text, 0.9, words),),
        diarized=False,
    )


def transcribe(vault: Vault, call_id: str, text: str) -> None:
    document = transcript(text).to_json().encode()
    recording_id = vault.calls.get_call(call_id).recording.id
    row = IndexRow(call_id, recording_id, 0, "S0", "caller", None, "en", None, 0.0, 0.5, text)
    with vault.transaction() as tx:
        vault.transcripts.store_transcript(
            call_id,
            document,
            status="done",
            language="en",
            model_name="test",
            model_version="1",
            utterances=1,
            words=len(text.split()),
            tx=tx,
        )
        SearchIndex(vault.engine, vault.search_key).index_utterances(tx.session, [row])


class FakePipeline:
    """Stands in for the speech pipeline: counts its runs, returns a fixed transcript."""

    def __init__(self, text: str = "fresh words") -> None:
        self.text = text
        self.runs = 0

    def run(self, open_audio: Any, **_: Any) -> Transcript:
        self.runs += 1
        return transcript(self.text)


def actions(vault: Vault) -> list[str]:
    return [e.action for e in vault.audit_entries()]


def test_grounds_are_the_first_word_of_the_purpose() -> None:
    assert RESTRICTION_GROUNDS == (
        "legal-claim",
        "subject-consent",
        "protect-rights",
        "public-interest",
    )
    assert restriction_ground("legal-claim: case 42") == "legal-claim"
    assert restriction_ground(" Public-Interest ") == "public-interest"
    assert restriction_ground("legal-claim case 42") is None
    assert restriction_ground("quality review: legal-claim") is None
    assert restriction_ground(None) is None
    assert restriction_ground("") is None


def test_restrict_covers_the_subjects_calls_by_number_and_name(vault: Vault) -> None:
    by_number = store(vault, 0)
    by_name = store(vault, 1, caller=OTHER, name="Jane Doe")
    other = store(vault, 2, caller=OTHER)
    first = vault.restrictions.restrict("+1 415 555 0100", "art. 18(1)(a): accuracy contested")
    second = vault.restrictions.restrict("JANE DOE", "objection pending")
    assert first.subject == SUBJECT
    assert first.calls == (by_number,)
    assert second.calls == (by_name,)
    assert first.active and first.created_by == "test:pytest"
    assert vault.restrictions.restricted_calls() == {by_number: first.id, by_name: second.id}
    assert vault.restrictions.restriction_for_call(other) is None
    # A call stored later is covered too.
    later = store(vault, 3)
    assert vault.restrictions.restriction_for_call(later) == first.id
    listed = vault.restrictions.restrictions()
    assert [r.id for r in listed] == [first.id, second.id]
    assert listed[0].calls == tuple(sorted((by_number, later)))


def test_audit_holds_ids_and_reasons_never_the_subject(vault: Vault) -> None:
    call_id = store(vault, 0, name="Jane Doe")
    record = vault.restrictions.restrict("Jane Doe", "accuracy contested")
    vault.restrictions.lift_restriction(record.id, "rectified")
    entries = [e for e in vault.audit_entries() if e.action.startswith("restriction.")]
    assert [e.action for e in entries] == ["restriction.add", "restriction.lift"]
    assert entries[0].object_id == record.id
    assert entries[0].purpose == "accuracy contested"
    assert entries[0].details == {"restriction_id": record.id, "calls": [call_id]}
    assert entries[1].purpose == "rectified"
    dumped = json.dumps([e.to_dict() for e in vault.audit_entries()])
    assert "Jane" not in dumped and SUBJECT not in dumped
    assert vault.verify_audit().ok


def test_restrict_and_lift_refuse_bad_input(vault: Vault) -> None:
    with pytest.raises(InputError, match="^the reason is empty"):
        vault.restrictions.restrict(SUBJECT, "  ")
    with pytest.raises(InputError, match="^the subject is empty"):
        vault.restrictions.restrict(" ", "why")
    with pytest.raises(InputError, match="^the subject is not an E.164 phone number"):
        vault.restrictions.restrict("+1 (415) x", "why")
    with pytest.raises(NotFound, match="^restriction nope does not exist"):
        vault.restrictions.lift_restriction("nope", "why")
    record = vault.restrictions.restrict(SUBJECT, "why")
    vault.restrictions.lift_restriction(record.id, "done")
    with pytest.raises(InputError, match=f"^restriction {record.id} was already lifted at "):
        vault.restrictions.lift_restriction(record.id, "again")
    assert vault.restrictions.restrictions() == []
    assert [r.id for r in vault.restrictions.restrictions(active_only=False)] == [record.id]


def test_reads_are_refused_and_audited_unless_on_a_ground(vault: Vault) -> None:
    call_id = store(vault, 0)
    transcribe(vault, call_id, "my account number")
    record = vault.restrictions.restrict(SUBJECT, "accuracy contested")
    hint = f"`callvault rights lift {record.id} --reason ...`"
    with pytest.raises(Restricted, match=f"^call {call_id} is restricted by restriction") as exc:
        vault.transcripts.read_transcript(call_id, purpose="quality review")
    assert exc.value.restriction_id == record.id and exc.value.call_id == call_id
    assert hint in str(exc.value) and "legal-claim" in str(exc.value)
    with pytest.raises(Restricted), vault.calls.open_recording(call_id, purpose="review"):
        pass  # pragma: no cover - refused before
    with pytest.raises(Restricted), vault.calls.open_recording(call_id, action="recording.export"):
        pass  # pragma: no cover - refused before
    refused = [e for e in vault.audit_entries() if e.action.endswith(".refused")]
    assert [e.action for e in refused] == [
        "transcript.read.refused",
        "recording.read.refused",
        "recording.export.refused",
    ]
    assert refused[0].purpose == "quality review"
    assert refused[0].details == {"call_id": call_id, "restriction_id": record.id}
    # An art. 18(2) ground reads, audited as an ordinary read with that purpose.
    assert vault.transcripts.read_transcript(call_id, purpose="legal-claim: case 42") is not None
    with vault.calls.open_recording(call_id, purpose="protect-rights: fraud inquiry") as reader:
        assert b"".join(reader.iter_chunks())
    reads = [e for e in vault.audit_entries() if e.action in ("transcript.read", "recording.read")]
    assert [e.purpose for e in reads][-2:] == [
        "legal-claim: case 42",
        "protect-rights: fraud inquiry",
    ]
    assert vault.verify_audit().ok


def test_show_keeps_metadata_and_names_the_restriction(vault: Vault) -> None:
    call_id = store(vault, 0)
    transcribe(vault, call_id, "hello there")
    assert call_document(as_context(vault), call_id, purpose=None)["restricted"] is None
    record = vault.restrictions.restrict(SUBJECT, "accuracy contested")
    document = call_document(as_context(vault), call_id, purpose="review")
    assert document["restricted"] == record.id
    assert document["transcript"] is None
    assert document["participants"][0]["phone"] == SUBJECT
    assert [c.id for c in vault.calls.list_calls()] == [call_id]
    grounded = call_document(as_context(vault), call_id, purpose="legal-claim: case 42")
    assert grounded["transcript"]["utterances"][0]["text"] == "hello there"


def test_processing_is_refused_and_the_job_is_not_retried(vault: Vault, config: Config) -> None:
    call_id = store(vault, 0)
    record = vault.restrictions.restrict(SUBJECT, "accuracy contested")
    pipeline = FakePipeline()
    with pytest.raises(
        Restricted, match=f"^call {call_id} is restricted by restriction {record.id}"
    ):
        process_call(as_context(vault), call_id, pipeline=pipeline)  # type: ignore[arg-type]
    assert pipeline.runs == 0
    assert vault.transcripts.transcript_info(call_id) is None
    queue = open_queue(config, vault)
    job = enqueue_processing(queue, call_id, vault.calls.get_call(call_id).recording.id)
    ended = queue.run_one("test-worker")
    assert ended is not None and ended.id == job.id
    assert ended.status is JobStatus.FAILED
    assert ended.attempts == 1 and ended.max_attempts == 3
    assert ended.last_error is not None
    assert ended.last_error.startswith(f"Restricted: call {call_id} is restricted by restriction")
    assert f"callvault rights lift {record.id}" in ended.last_error
    # Lifted: the same job runs again when retried.
    vault.restrictions.lift_restriction(record.id, "rectified")
    queue.retry(job.id)
    process_call(as_context(vault), call_id, pipeline=pipeline)  # type: ignore[arg-type]
    assert pipeline.runs == 1
    info = vault.transcripts.transcript_info(call_id)
    assert info is not None and info.utterances == 1


def test_a_restriction_made_during_processing_refuses_the_store(
    vault: Vault, config: Config
) -> None:
    call_id = store(vault, 0)

    class RestrictingPipeline(FakePipeline):
        def run(self, open_audio: Any, **kw: Any) -> Transcript:
            self.restriction = vault.restrictions.restrict(SUBJECT, "arrived meanwhile")
            return super().run(open_audio, **kw)

    pipeline = RestrictingPipeline()
    with pytest.raises(Restricted, match=f"^call {call_id} is restricted by restriction"):
        process_call(as_context(vault), call_id, pipeline=pipeline)  # type: ignore[arg-type]
    assert pipeline.runs == 1
    assert vault.transcripts.transcript_info(call_id) is None
    assert "transcript.store" not in actions(vault)


def test_search_hides_restricted_calls_in_the_query(vault: Vault) -> None:
    restricted = [store(vault, seed) for seed in range(3)]
    visible = [store(vault, seed, caller=OTHER) for seed in range(3, 5)]
    for call_id in restricted + visible:
        transcribe(vault, call_id, "refund please")
    record = vault.restrictions.restrict(SUBJECT, "accuracy contested")
    page = search_calls(as_context(vault), "refund", limit=1)
    assert page.matches == 2  # counted without the restricted calls
    assert [h.call_id for h in page.hits] == [
        h.call_id for h in search_calls(as_context(vault), "refund").hits
    ][:1]
    found = {h.call_id for h in search_calls(as_context(vault), "refund").hits}
    assert found == set(visible)
    second = search_calls(as_context(vault), "refund", limit=1, offset=1)
    assert {page.hits[0].call_id, second.hits[0].call_id} == set(visible)
    assert search_calls(as_context(vault), "refund", limit=1, offset=2).hits == []
    vault.restrictions.lift_restriction(record.id, "done")
    assert {h.call_id for h in search_calls(as_context(vault), "refund").hits} == set(
        restricted + visible
    )


def test_search_hides_restricted_calls_beyond_the_rank_limit(vault: Vault) -> None:
    hidden, shown = store(vault, 0), store(vault, 1, caller=OTHER)
    for call_id in (hidden, shown):
        transcribe(vault, call_id, "refund please")
    vault.restrictions.restrict(SUBJECT, "accuracy contested")
    page = SearchIndex(vault.engine, vault.search_key, rank_limit=0).search_page(
        "refund", exclude_calls=[hidden]
    )
    assert not page.ranked
    assert [h.call_id for h in page.hits] == [shown]


def test_retention_and_erasure_keep_a_restricted_call(vault: Vault, config: Config) -> None:
    call_id = store(vault, 0)
    past = datetime.now(UTC) - timedelta(days=1)
    vault.holds.set_retention(call_id, "standard", past)
    record = vault.restrictions.restrict(SUBJECT, "accuracy contested")
    assert vault.holds.expired_calls(datetime.now(UTC)) == []
    [due] = vault.holds.expired_calls(datetime.now(UTC), include_held=True)
    assert due.restriction_id == record.id and due.hold_ids == ()
    report = run_retention(as_context(vault))
    assert report.erased == ()
    assert [(s.call_id, s.reason, s.restriction_id) for s in report.skipped] == [
        (call_id, "restriction", record.id)
    ]
    with pytest.raises(ErasureRefused, match=f"^call {call_id} is restricted by restriction"):
        vault.holds.check_erasable(call_id)
    blocks = vault.holds.erasure_blocks([call_id], datetime.now(UTC))
    assert [(b.rule, b.restriction_id, b.reason) for b in blocks] == [
        ("restriction", record.id, "accuracy contested")
    ]
    assert blocks[0].to_json()["restriction_id"] == record.id
    with pytest.raises(ErasureRefused, match="restricted by restriction") as exc:
        erase_subject(as_context(vault), SUBJECT, reason="art. 17 request")
    assert f"callvault rights lift {record.id}" in str(exc.value)
    assert vault.calls.get_call(call_id).id == call_id
    # Lifted: retention erases it.
    vault.restrictions.lift_restriction(record.id, "resolved")
    assert [e.call_id for e in run_retention(as_context(vault)).erased] == [call_id]
    with pytest.raises(NotFound):
        vault.calls.get_call(call_id)


def test_the_subjects_own_export_still_works(vault: Vault, tmp_path: Path) -> None:
    call_id = store(vault, 0)
    transcribe(vault, call_id, "my own words")
    vault.restrictions.restrict(SUBJECT, "accuracy contested")
    out = tmp_path / "export.zip"
    result = export_subject(as_context(vault), SUBJECT, out)
    assert result.call_ids == (call_id,)
    with zipfile.ZipFile(out) as archive:
        document = json.loads(archive.read(f"calls/{call_id}/call.json"))
        assert archive.read(f"calls/{call_id}/audio.wav")
    assert document["transcript"]["utterances"][0]["text"] == "my own words"
    reads = [
        e for e in vault.audit_entries() if e.action in ("transcript.read", "recording.export")
    ]
    assert {e.purpose for e in reads} == {"subject-consent: access request"}
    assert not [e for e in vault.audit_entries() if e.action.endswith(".refused")]


def test_lift_makes_everything_normal_again(vault: Vault, config: Config) -> None:
    call_id = store(vault, 0)
    transcribe(vault, call_id, "refund please")
    record = vault.restrictions.restrict(SUBJECT, "accuracy contested")
    assert search_calls(as_context(vault), "refund").hits == []
    lifted = vault.restrictions.lift_restriction(record.id, "rectified", actor="dpo")
    assert (lifted.active, lifted.lifted_by, lifted.lift_reason) == (False, "dpo", "rectified")
    assert vault.restrictions.restricted_calls() == {}
    assert vault.transcripts.read_transcript(call_id, purpose="review") is not None
    assert [h.call_id for h in search_calls(as_context(vault), "refund").hits] == [call_id]
    assert call_document(as_context(vault), call_id, purpose=None)["restricted"] is None
    vault.holds.check_erasable(call_id)
    assert vault.holds.erasure_blocks([call_id], datetime.now(UTC)) == []
    process_call(as_context(vault), call_id, pipeline=FakePipeline())  # type: ignore[arg-type]


# -- CLI -----------------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, backend: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": url,
        "CALLVAULT_ACTOR": "test:cli",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def ok(result: Result) -> Mapping[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def ingest(run, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "call.wav"
    path.write_bytes(wav_bytes(tone(1.0, 8000, 2, 0), 8000))
    result = run("ingest", "--consent", "pre-call-notice", str(path), "--caller", SUBJECT, "--json")
    return str(ok(result)["calls"][0]["call_id"])


def test_cli_restrict_list_show_lift(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    call_id = ingest(run, tmp_path)
    made = ok(
        run("rights", "restrict", "--subject", "+1 415 555 0100", "--reason", "contested", "--json")
    )
    assert (made["subject"], made["reason"], made["active"], made["calls"]) == (
        SUBJECT,
        "contested",
        True,
        [call_id],
    )
    assert made["created_by"] == "test:cli"
    listed = ok(run("rights", "restrictions", "--json"))["restrictions"]
    assert [r["id"] for r in listed] == [made["id"]]
    shown = ok(run("show", call_id, "--json"))
    assert shown["restricted"] == made["id"] and shown["transcript"] is None
    plain = run("show", call_id)
    assert plain.exit_code == 0
    assert f"restricted by restriction {made['id']} (GDPR art. 18)" in plain.output
    assert "transcript withheld" in plain.output
    text = run("rights", "restrictions")
    assert text.exit_code == 0 and "1 restriction(s)" in text.output
    lifted = ok(run("rights", "lift", made["id"], "--reason", "rectified", "--json"))
    assert (lifted["active"], lifted["lift_reason"], lifted["calls"]) == (False, "rectified", [])
    assert ok(run("rights", "restrictions", "--json"))["restrictions"] == []
    assert [
        r["id"] for r in ok(run("rights", "restrictions", "--all", "--json"))["restrictions"]
    ] == [made["id"]]
    assert ok(run("show", call_id, "--json"))["restricted"] is None
    again = run("rights", "lift", made["id"], "--reason", "again")
    assert again.exit_code == 2
    assert again.stderr.startswith(f"error: restriction {made['id']} was already lifted at ")


def test_cli_restricted_erase_is_refused(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    call_id = ingest(run, tmp_path)
    made = ok(run("rights", "restrict", "--subject", SUBJECT, "--reason", "contested", "--json"))
    result = run("rights", "erase", "--subject", SUBJECT, "--reason", "art. 17", "--yes")
    assert result.exit_code == 1
    assert f"call {call_id} is restricted by restriction {made['id']}" in result.stderr
    assert ok(run("show", call_id, "--json"))["id"] == call_id


def test_the_erasing_transaction_itself_refuses_a_restricted_call(vault: Vault) -> None:
    """A restriction that arrives after a caller's own check still stops the erasure."""
    call_id = store(vault, 0)
    record = vault.restrictions.restrict(SUBJECT, "needed for a legal claim")
    with pytest.raises(ErasureRefused, match=f"restricted by restriction {record.id}"):
        vault.calls.delete_call(call_id, reason="request")
    with pytest.raises(ErasureRefused):
        vault.calls.delete_calls([call_id], reason="request")
    assert vault.calls.get_call(call_id).id == call_id
