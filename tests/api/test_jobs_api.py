"""Jobs through the API, on both databases: the admin's list, one job's record for those
who may read its call, and its progress as Server-Sent Events until it ends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from test_rbac_matrix import World, build_world, serving

from callvault.config import Config
from callvault.jobs import EmbeddedQueue, Progress, TaskRegistry, WorkerPool
from callvault.services import PROCESS_TASK, open_queue
from callvault.vault import Vault


@pytest.fixture
def world(config: Config, vault: Vault) -> Iterator[World]:
    with serving(build_world(config, vault, process=())) as built:
        yield built


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a text/event-stream body (WHATWG HTML 9.2.6)."""
    found = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((fields["event"], json.loads(fields["data"])))
    return found


def test_admin_lists_jobs_and_others_follow_the_jobs_of_their_calls(world: World) -> None:
    queue = open_queue(world.config, world.vault)
    jobs = {
        agent: queue.enqueue(PROCESS_TASK, {"call_id": c}).id for agent, c in world.calls.items()
    }
    listed = world.client.get("/api/v1/jobs", headers=world.bearer("root")).json()
    assert {j["id"] for j in listed["jobs"]} == set(jobs.values())
    assert all(j["status"] == "queued" for j in listed["jobs"])
    queued = world.client.get(
        "/api/v1/jobs", params={"status": "succeeded"}, headers=world.bearer("root")
    )
    assert queued.json()["jobs"] == []
    refused = world.client.get("/api/v1/jobs", headers=world.bearer("alice"))
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "the rep role may not jobs.read"
    own = world.client.get(f"/api/v1/jobs/{jobs['alice']}", headers=world.bearer("alice"))
    assert own.status_code == 200 and own.json()["payload"]["call_id"] == world.calls["alice"]
    other = world.client.get(f"/api/v1/jobs/{jobs['carol']}", headers=world.bearer("alice"))
    missing = world.client.get("/api/v1/jobs/" + "0" * 32, headers=world.bearer("alice"))
    assert other.status_code == missing.status_code == 404
    # A finished job's stream: its state, then done, at once.
    queue.cancel(jobs["bob"])
    team = world.client.get(f"/api/v1/jobs/{jobs['bob']}/events", headers=world.bearer("mona"))
    assert team.status_code == 200
    cancelled = {"status": "cancelled", "progress": None, "message": None}
    assert _events(team.text) == [("progress", cancelled), ("done", cancelled)]
    out_of_team = world.client.get(
        f"/api/v1/jobs/{jobs['carol']}/events", headers=world.bearer("mona")
    )
    assert out_of_team.status_code == 404


def test_job_events_stream_progress_until_done(world: World) -> None:
    go = threading.Event()

    def fake_process(payload: Mapping[str, Any], progress: Progress) -> None:
        progress(0.25, "decoding")
        time.sleep(1.2)  # more than two polls of the stream
        progress(0.75, "transcribing")
        time.sleep(1.2)

    registry = TaskRegistry()
    registry.register(PROCESS_TASK, fake_process)
    queue = EmbeddedQueue(world.vault.engine, registry, progress_interval=0)
    job = queue.enqueue(PROCESS_TASK, {"call_id": world.calls["alice"]})
    pool = WorkerPool(queue, n_threads=1, poll_interval=0.05)

    def start_later() -> None:
        go.wait(0.8)  # the stream sees the job queued first
        pool.start()

    starter = threading.Thread(target=start_later)
    starter.start()
    try:
        got = world.client.get(f"/api/v1/jobs/{job.id}/events", headers=world.bearer("alice"))
    finally:
        starter.join()
        pool.stop()
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/event-stream")
    events = _events(got.text)
    assert events[0] == ("progress", {"status": "queued", "progress": None, "message": None})
    assert ("progress", {"status": "running", "progress": 0.25, "message": "decoding"}) in events
    assert (
        "progress",
        {"status": "running", "progress": 0.75, "message": "transcribing"},
    ) in events
    assert events[-1][0] == "done" and events[-1][1]["status"] == "succeeded"
    assert [name for name, _ in events].count("done") == 1
    # Each change once: no two equal progress events in a row.
    assert all(a != b for a, b in zip(events, events[1:], strict=False))
