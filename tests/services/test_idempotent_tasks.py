"""Tasks run at least once (issue 19): a job whose worker died after its work committed
runs again, and that second run stores nothing twice. On SQLite and PostgreSQL, with
speech recognition replaced by `ScriptedPipeline` (the transcript is not what is tested)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from _scripted_asr import CARD_CALL, EMAIL_CALL, ScriptedPipeline, store
from callvault.config import Config
from callvault.jobs import EmbeddedQueue, JobRecord, TaskRegistry
from callvault.services import PROCESS_TASK, Context, enqueue_processing, task_registry, webhooks
from callvault.services import process as process_module
from callvault.services.jobs import (
    LIVE_PRUNE_EVERY_S,
    LIVE_PRUNE_TASK,
    RETENTION_ACTOR,
    RETENTION_EVERY_S,
    RETENTION_TASK,
)
from callvault.services.webhooks import DELIVER_TASK, delivery_id
from callvault.vault import Vault

SECRET = "whsec-idempotent-tasks"


def no_progress(fraction: float, message: str) -> None:
    pass


@pytest.fixture
def queue(config: Config, vault: Vault) -> EmbeddedQueue:
    """The services' tasks on the embedded queue; webhook URLs set (nothing listens: the
    deliveries are only queued here, never run)."""
    config = replace(config, webhook_urls=("http://127.0.0.1:9/hook",), webhook_secret=SECRET)
    opened: list[EmbeddedQueue] = []
    opened.append(
        EmbeddedQueue(vault.engine, task_registry(Context(config, vault), lambda: opened[0]))
    )
    return opened[0]


def scripted(monkeypatch: pytest.MonkeyPatch, utterances: Any) -> None:
    monkeypatch.setattr(process_module, "pipeline_for", lambda config: ScriptedPipeline(utterances))


def actions(vault: Vault, action: str, object_id: str | None = None) -> int:
    return len(vault.audit_entries(action=action, object_id=object_id))


def deliveries(queue: EmbeddedQueue) -> list[JobRecord]:
    return [j for j in queue.list_jobs() if j.task == DELIVER_TASK]


def test_tasks_run_in_their_resource_class_and_retention_is_periodic(
    config: Config, vault: Vault
) -> None:
    registry: TaskRegistry = task_registry(Context(config, vault))
    assert {name: registry.queue_of(name) for name in registry.names()} == {
        PROCESS_TASK: "asr",
        DELIVER_TASK: "webhooks",
        RETENTION_TASK: "maintenance",
        LIVE_PRUNE_TASK: "maintenance",
    }
    assert [(p.task, p.every_s, dict(p.payload)) for p in registry.periodic()] == [
        (LIVE_PRUNE_TASK, LIVE_PRUNE_EVERY_S, {}),
        (RETENTION_TASK, RETENTION_EVERY_S, {}),
    ]


def test_a_processing_job_run_twice_stores_once(
    vault: Vault, queue: EmbeddedQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted(monkeypatch, CARD_CALL)
    call_id, _ = store(vault)
    recording_id = vault.calls.get_call(call_id).recording.id
    job = enqueue_processing(queue, call_id, recording_id)
    assert queue.run_one("test-worker") is not None
    assert queue.get(job.id).status == "succeeded"
    stored = vault.transcripts.transcript_info(call_id)
    # The same job again, as when its first worker died before the ledger said done.
    task = queue.registry.get(PROCESS_TASK)
    task(job.payload, no_progress)
    assert vault.transcripts.transcript_info(call_id) == stored
    assert actions(vault, "transcript.store", recording_id) == 1
    assert actions(vault, "recording.redact") == 1  # the audio is cut once
    insights = json.loads(vault.artifacts.read_insights(call_id) or b"{}")
    assert insights["redactions"]["audio"]["applied"] is True
    # One `call.processed` delivery per URL, whichever run queued it.
    (delivery,) = deliveries(queue)
    assert delivery.payload["delivery_id"] == delivery_id(
        "call.processed", call_id, job.payload["run"]
    )

    # `process --again` is a new request: a new token, a new version.
    again = enqueue_processing(queue, call_id, recording_id, again=True)
    assert again.payload["run"] != job.payload["run"]
    task(again.payload, no_progress)
    assert actions(vault, "transcript.store", recording_id) == 2
    assert len(deliveries(queue)) == 2


def test_a_second_attempt_finishes_the_audio_redaction_the_first_left(
    vault: Vault, queue: EmbeddedQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted(monkeypatch, EMAIL_CALL)
    call_id, _ = store(vault)
    recording_id = vault.calls.get_call(call_id).recording.id
    job = enqueue_processing(queue, call_id, recording_id)
    redact = process_module._redact_audio

    def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("worker killed after the transcript was stored")

    monkeypatch.setattr(process_module, "_redact_audio", killed)
    task = queue.registry.get(PROCESS_TASK)
    with pytest.raises(SystemExit):
        task(job.payload, no_progress)
    assert actions(vault, "transcript.store", recording_id) == 1
    assert actions(vault, "recording.redact") == 0
    monkeypatch.setattr(process_module, "_redact_audio", redact)
    task(job.payload, no_progress)
    assert actions(vault, "transcript.store", recording_id) == 1
    assert actions(vault, "recording.redact") == 1
    insights = json.loads(vault.artifacts.read_insights(call_id) or b"{}")
    assert insights["redactions"]["audio"]["applied"] is True


def test_process_call_without_a_run_token_stores_each_time(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id, _ = store(vault)
    ctx = Context(vault.config, vault)
    for _ in range(2):
        result = process_module.process_call(ctx, call_id, pipeline=ScriptedPipeline(CARD_CALL))
        assert result.stored
    assert actions(vault, "transcript.store") == 2


def test_retention_run_twice_erases_and_announces_once(
    vault: Vault, queue: EmbeddedQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id, _ = store(vault)
    vault.holds.set_retention(call_id, "standard", datetime.now(UTC) - timedelta(days=1))
    task = queue.registry.get(RETENTION_TASK)
    progress: list[float] = []

    def track(fraction: float, message: str) -> None:
        progress.append(fraction)

    publish = webhooks.publish

    def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("worker killed after the erasure, before its webhook was queued")

    monkeypatch.setattr(webhooks, "publish", killed)
    with pytest.raises(SystemExit):
        task({}, track)
    assert deliveries(queue) == []
    monkeypatch.setattr(webhooks, "publish", publish)
    task({}, track)  # the second attempt: nothing left to erase, the event still to send
    task({}, track)  # the same slot again
    assert progress == [1.0]
    erasures = vault.audit_entries(action="retention.erase")
    assert [e.actor for e in erasures] == [RETENTION_ACTOR]
    runs = vault.audit_entries(action="retention.run")
    assert [(e.actor, e.details["erased"]) for e in runs] == [
        (RETENTION_ACTOR, [call_id]),
        (RETENTION_ACTOR, []),
        (RETENTION_ACTOR, []),
    ]
    (delivery,) = deliveries(queue)
    payload: Mapping[str, Any] = delivery.payload
    assert payload["delivery_id"] == delivery_id("call.erased", call_id)
    assert payload["data"] == {"call_id": call_id}
    assert SECRET not in json.dumps(payload) and "/hook" not in json.dumps(payload)
