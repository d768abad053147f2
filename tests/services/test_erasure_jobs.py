"""Erasure tidies up (issue 17, finding 8, and the job items of finding 6): a partly
erased call is processed with the consent of the parties that remain; the jobs of an
erased call are cancelled in the erasing transaction; one processing job per call.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from _audio import tone, wav_bytes
from _context import as_context
from _scripted_asr import ScriptedPipeline, said
from _stored import stored_frames
from callvault.capture import CapturedCall, FileImportOptions, import_bytes
from callvault.config import Config
from callvault.errors import ConsentRequired, IntegrityError
from callvault.jobs import JobStatus
from callvault.services import (
    enqueue_processing,
    erase_subject,
    ingest_captured,
    open_context,
    open_queue,
    process_call,
    run_retention,
)
from callvault.vault import Vault, _audit

# Both in Germany, where every party must consent to recording and to analysis.
CALLER = "+493012345678"
CALLEE = "+498912345678"
W1 = "otherhost:1:w1"
CALL_GONE = "Cancelled: its call was erased"


def a_call(seed: int = 0) -> CapturedCall:
    opts = FileImportOptions(caller=CALLER, callee=CALLEE, started_at="2026-03-02T10:00:00Z")
    return import_bytes(wav_bytes(tone(3.0, 8000, 2, seed), 8000), f"call-{seed}.wav", opts)


def consented_call(config: Config, scopes: tuple[str, ...] = ("record", "analyse")) -> str:
    """A stored call of CALLER (channel 0) and CALLEE (channel 1), both consenting to
    `scopes` for every call since January (standing consents)."""
    with Vault.open(config) as vault:
        for party in (CALLER, CALLEE):
            vault.consent.record_consent(
                party, method="web", scopes=list(scopes), given_at=datetime(2026, 1, 1, tzinfo=UTC)
            )
    with open_context(config) as ctx:
        (stored,) = ingest_captured(ctx, [a_call()])
    assert stored.consent_state == "given"
    return stored.call_id


REMAINING = ScriptedPipeline((said("callee", 1, 0.2, "thank you for calling"),))


def test_a_leg_erased_call_is_processed_with_the_remaining_partys_consent(
    config: Config,
) -> None:
    call_id = consented_call(config)
    with Vault.open(config) as vault:
        erased = erase_subject(as_context(vault), CALLER, reason="art. 17 request 12", scope="leg")
        assert erased.partial == (call_id,)

    # Before issue 17 this raised ConsentRequired: the erased caller's consent was asked.
    with open_context(config) as ctx:
        result = process_call(ctx, call_id, pipeline=REMAINING)

    assert (result.status, result.utterances) == ("done", 1)
    with Vault.open(config) as vault:
        record = vault.calls.get_call(call_id)
        caller, callee = record.participants
        assert (caller.phone, caller.name) == (None, None)  # the erased leg stays erased
        assert callee.phone == CALLEE
        assert record.to_json()["erasure_state"] == "partial"
        assert not stored_frames(vault, call_id)[:, 0].any()
        assert vault.transcripts.transcript_info(call_id) is not None
        assert vault.verify_audit().ok
        # The job ingest queued is still the call's one job.
        assert [j.call_id for j in open_queue(config, vault).list_jobs()] == [call_id]


def test_a_leg_erased_call_still_needs_the_consent_of_those_who_remain(config: Config) -> None:
    call_id = consented_call(config, scopes=("record",))
    with Vault.open(config) as vault:
        assert not vault.consent.analysis_consented(call_id)
        vault.consent.record_consent(CALLER, method="web", scopes=["analyse"], call_id=call_id)
        erase_subject(as_context(vault), CALLER, reason="art. 17 request 13", scope="leg")
        # The caller, who consented, is gone; the callee never consented to analysis.
        assert not vault.consent.analysis_consented(call_id)
        with pytest.raises(ConsentRequired, match="not every party consented to analysis"):
            process_call(as_context(vault), call_id, pipeline=REMAINING)
    with Vault.open(config) as vault:
        vault.consent.record_consent(CALLEE, method="web", scopes=["analyse"], call_id=call_id)
        assert vault.consent.analysis_consented(call_id)


def test_a_party_without_number_or_name_is_not_taken_for_an_erased_one(config: Config) -> None:
    """Only a party a signed leg erasure names is skipped: blanking a number in the
    database (with `erasure_state` set by hand) does not waive that party's consent."""
    call_id = consented_call(config, scopes=("record",))
    with Vault.open(config) as vault:
        vault.consent.record_consent(CALLEE, method="web", scopes=["analyse"], call_id=call_id)
        with vault.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE participants SET phone = NULL, name = NULL WHERE position = 0"
            )
            conn.exec_driver_sql("UPDATE calls SET erasure_state = 'partial'")
        assert not vault.consent.analysis_consented(call_id)


def test_retention_cancels_the_queued_job_of_the_call_it_erases(config: Config) -> None:
    call_id = consented_call(config)
    with Vault.open(config) as vault:
        queue = open_queue(config, vault)
        (job,) = queue.list_jobs()
        assert (job.payload["call_id"], job.status) == (call_id, JobStatus.QUEUED)
        vault.holds.set_retention(call_id, "standard", datetime.now(UTC) - timedelta(days=1))

    with open_context(config) as ctx:
        report = run_retention(ctx)

    assert [e.call_id for e in report.erased] == [call_id]
    with Vault.open(config) as vault:
        queue = open_queue(config, vault)
        cancelled = queue.get(job.id)
        assert (cancelled.status, cancelled.attempts) == (JobStatus.CANCELLED, 0)
        assert cancelled.last_error == CALL_GONE
        (erase,) = vault.audit_entries(action="retention.erase")
        # The job ended in the erasing transaction: at the time the erasure was certified.
        assert cancelled.finished_at is not None
        assert cancelled.finished_at.isoformat() == erase.details["erased_at"]
        # A worker finds nothing to do: no retries, no NotFound.
        assert queue.run_one(W1) is None
        assert queue.get(job.id) == cancelled


def test_an_erasure_that_fails_leaves_the_job_as_it_was(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = consented_call(config)

    def broken(*args: object, **kwargs: object) -> None:
        raise IntegrityError("audit chain unavailable")

    with Vault.open(config) as vault:
        monkeypatch.setattr(_audit, "append_many", broken)
        with pytest.raises(IntegrityError):
            vault.calls.delete_call(call_id, reason="asked")
        monkeypatch.undo()
        (job,) = open_queue(config, vault).list_jobs()
        assert (job.status, job.last_error) == (JobStatus.QUEUED, None)
        assert vault.calls.get_call(call_id).id == call_id


def test_rights_erasure_cancels_a_running_job_of_the_call(config: Config) -> None:
    call_id = consented_call(config)
    with Vault.open(config) as vault:
        queue = open_queue(config, vault)
        running = queue.claim(W1)
        assert running is not None and running.payload["call_id"] == call_id
        erase_subject(as_context(vault), CALLER, reason="art. 17 request 14")  # the whole call
        cancelled = queue.get(running.id)
        assert (cancelled.status, cancelled.last_error) == (JobStatus.CANCELLED, CALL_GONE)
        # The worker that held it can no longer write its result.
        assert not queue._touch(running.id, W1, {})


def test_process_twice_gives_one_job(config: Config) -> None:
    call_id = consented_call(config)
    with Vault.open(config) as vault:
        queue = open_queue(config, vault)
        (queued,) = queue.list_jobs()
        rid = vault.calls.get_call(call_id).recording.id
        # `callvault process` asks with again=True; ingest and consent without.
        assert enqueue_processing(queue, call_id, rid, again=True) == queued
        assert enqueue_processing(queue, call_id, rid) == queued
        assert [j.id for j in queue.list_jobs()] == [queued.id]
        assert queued.call_id == call_id
