"""Outgoing webhooks against a real HTTP receiver on 127.0.0.1 (standing in for a
subscriber, which cannot run here): signatures verify, a 500 is retried with backoff,
a 4xx is final, every delivery is audited; `call.erased` after DELETE /calls/{id} and
`call.processed` after a processing job, each a queued `webhook.deliver` job whose
delivery id is the same on every try and for a task that ran twice."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_rbac_matrix import build_world

from _receiver import SECRET, Receiver
from callvault.api import create_app
from callvault.config import Config, load_config
from callvault.errors import ConfigError, InputError
from callvault.jobs import EmbeddedQueue, JobRecord, JobStatus
from callvault.services import PROCESS_TASK, Context, task_registry
from callvault.services import jobs as service_jobs
from callvault.services.webhooks import (
    DELIVER_TASK,
    DELIVERY_HEADER,
    check_settings,
    deliver,
    delivery_id,
)
from callvault.vault import Vault


def fast_queue(config: Config, vault: Vault) -> EmbeddedQueue:
    """The services' tasks on an embedded queue whose retries wait 10 ms, 20 ms, ...
    (the default waits seconds); follow-up jobs go to this queue too."""
    opened: list[EmbeddedQueue] = []
    registry = task_registry(Context(config, vault), queue=lambda: opened[0])
    opened.append(EmbeddedQueue(vault.engine, registry, backoff_base=0.005))
    return opened[0]


def deliveries(queue: EmbeddedQueue) -> list[JobRecord]:
    return [j for j in queue.list_jobs(status=JobStatus.QUEUED) if j.task == DELIVER_TASK]


def run_until_done(queue: EmbeddedQueue, job_id: str, timeout: float = 10) -> JobRecord:
    """Run due jobs here until `job_id` is done (retries become due after their backoff)."""
    deadline = time.monotonic() + timeout
    while not (record := queue.get(job_id)).done:
        assert time.monotonic() < deadline, f"job {job_id} not done: {record}"
        if queue.run_one("test-worker") is None:
            time.sleep(0.005)  # the retry is not due yet: poll again
    return record


def test_a_500_is_retried_with_backoff_and_each_try_is_signed(receiver: Receiver) -> None:
    receiver.answers = [500, 503]
    waits: list[float] = []
    done = deliver(
        "call.erased",
        {"call_id": "c1"},
        url=receiver.url,
        secret=SECRET,
        backoff=0.01,
        sleep=waits.append,
    )
    assert done.to_json() == {
        "event": "call.erased",
        "host": "127.0.0.1",
        "status": 200,
        "attempts": 3,
        "ok": True,
        "delivery_id": done.delivery_id,
    }
    assert waits == [0.01, 0.02]
    documents = [receiver.verified(i) for i in range(3)]
    assert documents[0]["data"] == {"call_id": "c1"} and documents[0]["event"] == "call.erased"
    # The same delivery each time: a subscriber can drop a duplicate by its id.
    assert {d["id"] for d in documents} == {done.delivery_id}
    assert {headers[DELIVERY_HEADER] for headers, _ in receiver.received} == {done.delivery_id}


def test_a_4xx_is_final_and_giving_up_reports_the_last_status(receiver: Receiver) -> None:
    receiver.answers = [404]
    gone = deliver("call.erased", {"call_id": "c1"}, url=receiver.url, secret=SECRET)
    assert (gone.ok, gone.status, gone.attempts) == (False, 404, 1)
    receiver.answers = [500] * 5
    waits: list[float] = []
    failing = deliver(
        "call.erased",
        {"call_id": "c1"},
        url=receiver.url,
        secret=SECRET,
        attempts=4,
        backoff=0.5,
        sleep=waits.append,
    )
    assert (failing.ok, failing.status, failing.attempts) == (False, 500, 4)
    assert waits == [0.5, 1.0, 2.0]
    receiver.server.server_close()  # nobody listens any more
    unreachable = deliver(
        "call.erased",
        {"call_id": "c1"},
        url=receiver.url,
        secret=SECRET,
        attempts=2,
        sleep=waits.append,
        timeout_s=2,
    )
    assert (unreachable.ok, unreachable.status, unreachable.attempts) == (False, None, 2)


def test_bad_settings_are_refused(config: Config, vault: Vault) -> None:
    with pytest.raises(ConfigError) as refused:
        check_settings(replace(config, webhook_urls=("https://crm.example/hook",)))
    assert str(refused.value) == (
        "CALLVAULT_WEBHOOK_URLS is set but CALLVAULT_WEBHOOK_SECRET is empty; set both or neither"
    )
    with pytest.raises(ConfigError, match="CALLVAULT_WEBHOOK_URLS='crm.example' is not valid"):
        load_config({"CALLVAULT_WEBHOOK_URLS": "crm.example"})
    urls = " https://a.example/h , http://127.0.0.1:9/x,"
    with_secret = {"CALLVAULT_WEBHOOK_URLS": urls, "CALLVAULT_WEBHOOK_SECRET": SECRET}
    assert load_config(with_secret).webhook_urls == (
        "https://a.example/h",
        "http://127.0.0.1:9/x",
    )
    with pytest.raises(InputError, match="http:// or https://"):
        check_settings(
            replace(config, webhook_urls=("ftp://crm.example/hook",), webhook_secret=SECRET)
        )
    with pytest.raises(InputError, match="unknown webhook event 'call.viewed'"):
        deliver("call.viewed", {}, url="https://crm.example/hook", secret=SECRET)
    with pytest.raises(InputError, match="unknown webhook event 'call.viewed'"):
        delivery_id("call.viewed", "c1")
    check_settings(config)  # no URL: nothing to check


def test_the_app_queues_call_erased_and_audits_each_try(
    config: Config, vault: Vault, receiver: Receiver
) -> None:
    config = replace(config, webhook_urls=(receiver.url,), webhook_secret=SECRET)
    world = build_world(config, vault, process=())
    call = world.calls["carol"]
    receiver.answers = [500]  # the job fails once, and the queue tries again
    with TestClient(create_app(world.config, vault=vault), base_url="http://127.0.0.1") as client:
        erased = client.delete(
            f"/api/v1/calls/{call}",
            params={"confirm": "true", "reason": "customer asked"},
            headers=world.bearer("cora"),
        )
        assert erased.status_code == 200, erased.text
    assert receiver.received == []  # queued, not sent by the request
    queue = fast_queue(world.config, vault)
    (job,) = queue.list_jobs(status=JobStatus.QUEUED)
    assert job.task == DELIVER_TASK and queue.registry.queue_of(job.task) == "webhooks"
    assert SECRET not in json.dumps(job.payload) and receiver.url not in json.dumps(job.payload)
    done = run_until_done(queue, job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2)
    expected = delivery_id("call.erased", call)
    assert [receiver.verified(i)["id"] for i in range(2)] == [expected, expected]
    assert receiver.verified(1)["data"] == {"call_id": call}
    entries = vault.audit_entries(action="webhook.deliver")
    assert [e.object_id for e in entries] == [call, call]
    assert {e.actor for e in entries} == {"system:webhooks"}
    assert [dict(e.details) for e in entries] == [
        {
            "event": "call.erased",
            "host": "127.0.0.1",
            "status": status,
            "attempts": 1,
            "ok": status == 200,
            "delivery_id": expected,
        }
        for status in (500, 200)
    ]
    assert SECRET not in json.dumps([e.to_dict() for e in entries])


def test_a_processing_job_run_twice_queues_one_call_processed(
    vault: Vault, config: Config, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    processed: list[tuple[str, object]] = []

    def fake_process(ctx: Context, call_id: str, **options: Mapping[str, Any]) -> None:
        processed.append((call_id, options["run"]))

    monkeypatch.setattr(service_jobs, "process_call", fake_process)
    config = replace(config, webhook_urls=(receiver.url,), webhook_secret=SECRET)
    queue = fast_queue(config, vault)
    job = service_jobs.enqueue_processing(queue, "c42", "r42")
    run = job.payload["run"]
    assert queue.registry.queue_of(PROCESS_TASK) == "asr"
    # At least once: the task runs again with the same payload (its first worker died
    # after publishing, before the ledger said succeeded).
    task = queue.registry.get(PROCESS_TASK)
    task(job.payload, lambda fraction, message: None)
    task(job.payload, lambda fraction, message: None)
    assert processed == [("c42", run), ("c42", run)]
    (delivery,) = deliveries(queue)
    assert run_until_done(queue, delivery.id).status == JobStatus.SUCCEEDED
    assert len(receiver.received) == 1
    document = receiver.verified(0)
    assert (document["event"], document["data"]) == ("call.processed", {"call_id": "c42"})
    assert document["id"] == delivery_id("call.processed", "c42", run)
    # Processing again (`process --again`) is another run: another delivery id. (The
    # first job is done by now: `run_until_done` ran it, and cancelled it, call c42
    # being no stored call; so `again` is a new job, not that one.)
    again = service_jobs.enqueue_processing(queue, "c42", "r42", again=True)
    assert again.payload["run"] != run
    task(again.payload, lambda fraction, message: None)
    (second,) = deliveries(queue)
    run_until_done(queue, second.id)
    assert receiver.verified(1)["id"] == delivery_id("call.processed", "c42", again.payload["run"])


def test_a_subscriber_that_is_down_gets_the_delivery_later(
    vault: Vault, config: Config, receiver: Receiver
) -> None:
    config = replace(config, webhook_urls=(receiver.url,), webhook_secret=SECRET)
    queue = fast_queue(config, vault)
    receiver.answers = [503, 502]
    (job,) = service_jobs.announce_erased(Context(config, vault, queue=queue), ["c9"])
    assert queue.run_one("test-worker") is not None
    waiting = queue.get(job.id)
    assert (waiting.status, waiting.attempts) == (JobStatus.QUEUED, 1)
    assert waiting.run_after > waiting.created_at  # not due at once: the backoff
    assert "503" in (waiting.last_error or "")
    done = run_until_done(queue, job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 3)
    ids = {receiver.verified(i)["id"] for i in range(3)}
    assert ids == {delivery_id("call.erased", "c9")}
    # Erasing announces once per call: publishing it again finds the same job.
    again = service_jobs.announce_erased(Context(config, vault, queue=queue), ["c9"])
    assert [j.id for j in again] == [job.id]


def test_a_final_4xx_fails_the_delivery_job_at_once(
    vault: Vault, config: Config, receiver: Receiver
) -> None:
    config = replace(config, webhook_urls=(receiver.url,), webhook_secret=SECRET)
    queue = fast_queue(config, vault)
    receiver.answers = [410]
    (job,) = service_jobs.announce_erased(Context(config, vault, queue=queue), ["c3"])
    done = run_until_done(queue, job.id)
    assert (done.status, done.attempts) == (JobStatus.FAILED, 1)
    assert done.last_error is not None and "WebhookUndelivered" in done.last_error
    assert len(receiver.received) == 1
    (entry,) = vault.audit_entries(action="webhook.deliver")
    assert (entry.details["status"], entry.details["ok"]) == (410, False)


def test_an_unreachable_subscriber_leaves_the_job_queued_for_a_retry(
    vault: Vault, config: Config
) -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    config = replace(config, webhook_urls=(url,), webhook_secret=SECRET)
    queue = fast_queue(config, vault)
    (job,) = service_jobs.announce_erased(Context(config, vault, queue=queue), ["c5"])
    assert queue.run_one("test-worker") is not None
    waiting = queue.get(job.id)
    assert (waiting.status, waiting.attempts) == (JobStatus.QUEUED, 1)
    assert "answered nothing; the queue tries again" in (waiting.last_error or "")
    (entry,) = vault.audit_entries(action="webhook.deliver")
    assert (entry.details["status"], entry.details["ok"]) == (None, False)
