"""Outgoing webhooks against a real HTTP receiver on 127.0.0.1 (standing in for a
subscriber, which cannot run here): signatures verify, a 500 is retried with backoff,
a 4xx is final, every delivery is audited; `call.erased` after DELETE /calls/{id} and
`call.processed` after a processing job."""

from __future__ import annotations

import json
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
from callvault.services import PROCESS_TASK, Context, open_queue
from callvault.services import jobs as service_jobs
from callvault.services.webhooks import EventHub, deliver
from callvault.vault import Vault


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
    }
    assert waits == [0.01, 0.02]
    documents = [receiver.verified(i) for i in range(3)]
    assert documents[0]["data"] == {"call_id": "c1"} and documents[0]["event"] == "call.erased"
    # The same delivery each time: a subscriber can drop a duplicate by its id.
    assert len({d["id"] for d in documents}) == 1


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
        EventHub.from_config(vault, replace(config, webhook_urls=("https://crm.example/hook",)))
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
        EventHub(vault, ["ftp://crm.example/hook"], SECRET)
    with pytest.raises(InputError, match="unknown webhook event 'call.viewed'"):
        deliver("call.viewed", {}, url="https://crm.example/hook", secret=SECRET)
    assert not EventHub.from_config(vault, config).active


def test_the_app_emits_call_erased_and_audits_the_delivery(
    config: Config, vault: Vault, receiver: Receiver
) -> None:
    config = replace(config, webhook_urls=(receiver.url,), webhook_secret=SECRET)
    world = build_world(config, vault, process=())
    call = world.calls["carol"]
    receiver.answers = [500]  # the hub waits 1 s and tries again
    with TestClient(create_app(world.config, vault=vault), base_url="http://127.0.0.1") as client:
        hub: EventHub = client.app.state.webhooks  # type: ignore[attr-defined]
        assert hub.urls == (receiver.url,)
        erased = client.delete(
            f"/api/v1/calls/{call}",
            params={"confirm": "true", "reason": "customer asked"},
            headers=world.bearer("cora"),
        )
        assert erased.status_code == 200, erased.text
        receiver.wait_for(2)
        hub.join()
    assert receiver.verified(1)["data"] == {"call_id": call}
    (entry,) = vault.audit_entries(action="webhook.deliver")
    assert entry.object_id == call and entry.actor == "system:webhooks"
    assert dict(entry.details) == {
        "event": "call.erased",
        "host": "127.0.0.1",
        "status": 200,
        "attempts": 2,
        "ok": True,
    }
    assert SECRET not in json.dumps(entry.to_dict())


def test_a_processing_job_emits_call_processed(
    vault: Vault, config: Config, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    processed: list[str] = []

    def fake_process(ctx: Context, call_id: str, **options: Mapping[str, Any]) -> None:
        processed.append(call_id)

    monkeypatch.setattr(service_jobs, "process_call", fake_process)
    hub = EventHub(vault, [receiver.url], SECRET, backoff=0.01)
    hub.start()
    try:
        queue = open_queue(config, vault)
        job = queue.enqueue(PROCESS_TASK, {"call_id": "c42"})
        assert queue.run_one("test-worker") is not None
        assert queue.get(job.id).status == "succeeded"
        receiver.wait_for(1)
        hub.join()
    finally:
        hub.stop()
    assert processed == ["c42"]
    document = receiver.verified(0)
    assert (document["event"], document["data"]) == ("call.processed", {"call_id": "c42"})
    # A stopped hub no longer receives the queue's events.
    assert queue.enqueue(PROCESS_TASK, {"call_id": "c43"}) and queue.run_one("test-worker")
    time.sleep(0.2)
    assert len(receiver.received) == 1


def test_a_worker_without_a_hub_delivers_the_event_itself(
    vault: Vault, config: Config, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A `callvault worker` process starts no hub: the task delivers and audits itself.
    monkeypatch.setattr(service_jobs, "process_call", lambda ctx, call_id, **_: None)
    config = replace(config, webhook_urls=(receiver.url,), webhook_secret=SECRET)
    queue = open_queue(config, vault)
    queue.enqueue(PROCESS_TASK, {"call_id": "c7"})
    assert queue.run_one("worker-process") is not None
    receiver.wait_for(1)
    assert receiver.verified(0)["data"] == {"call_id": "c7"}
    (entry,) = vault.audit_entries(action="webhook.deliver")
    assert (entry.object_id, entry.details["ok"], entry.details["attempts"]) == ("c7", True, 1)
