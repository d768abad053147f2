"""`CALLVAULT_QUEUE` picks the queue: embedded, or Celery on a broker URL."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callvault.config import load_config
from callvault.errors import ConfigError
from callvault.jobs import CeleryQueue, EmbeddedQueue, TaskRegistry, open_queue


def test_embedded_is_the_default_and_takes_the_lease(engine: Engine, tmp_path: Path) -> None:
    config = load_config(env={"CALLVAULT_JOB_LEASE": "30"}, data_dir=tmp_path)
    assert (config.queue, config.job_lease) == ("embedded", 30.0)
    queue = open_queue(config, engine, TaskRegistry())
    assert type(queue) is EmbeddedQueue and queue.lease == 30.0


@pytest.mark.parametrize(
    "url",
    ["redis://:pw@127.0.0.1:6379/3", "rediss://h/0", "amqp://guest:guest@h//", "pyamqp://h//"],
)
def test_a_broker_url_picks_celery(engine: Engine, tmp_path: Path, url: str) -> None:
    config = load_config(env={"CALLVAULT_QUEUE": url}, data_dir=tmp_path)
    queue = open_queue(config, engine, TaskRegistry())
    assert isinstance(queue, CeleryQueue)
    assert (queue.broker, queue.lease, queue.republish_after) == (url, 60.0, 60.0)


def test_a_bad_queue_is_refused_without_showing_its_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={"CALLVAULT_QUEUE": "ftp://user:hunter2@host/"}, data_dir=tmp_path)
    assert str(caught.value) == (
        "CALLVAULT_QUEUE='ftp://user:****@host/' is not valid: expected 'embedded' or a broker "
        "URL starting with redis://, rediss://, amqp://, amqps://, pyamqp://"
    )
    with pytest.raises(ConfigError, match="CALLVAULT_JOB_LEASE='2' is not valid"):
        load_config(env={"CALLVAULT_JOB_LEASE": "2"}, data_dir=tmp_path)


def test_open_queue_refuses_what_config_would_not_hold(engine: Engine, tmp_path: Path) -> None:
    config = dataclasses.replace(load_config(env={}, data_dir=tmp_path), queue="sqs://x")
    with pytest.raises(ConfigError, match="CALLVAULT_QUEUE must be 'embedded' or a broker URL"):
        open_queue(config, engine, TaskRegistry())
