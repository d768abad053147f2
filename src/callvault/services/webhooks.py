"""Outgoing webhooks: `call.processed`, `call.erased` and `call.alert` (a rule fired on a
call in progress, issue 20), signed like the CRM push, each delivery a durable job of the
queue (issue 19).

A subscriber is a URL; every request carries `X-Callvault-Event`, `X-Callvault-Delivery`,
`X-Callvault-Timestamp` and `X-Callvault-Signature` ("sha256=" + hex HMAC-SHA256 of
"<timestamp>.<body>", see `services.contacts.sign`; receivers check it with
`verify_signature`). The body holds ids only, never transcript text or numbers:
`{"event", "id", "created_at", "data"}`. A `call.alert`'s data is the live call's id,
the alert's id, the stored call's id once known, and the rule's name, kind, severity,
leg, call time and confidence: not the words that triggered it, which a subscriber reads
through the API (`GET /api/v1/live/calls/{id}/events`, access-checked and audited).

The delivery id (`id` in the body, `X-Callvault-Delivery` in the headers) is derived from
the event, not drawn per request (`delivery_id`): a retried delivery, and a task that ran
twice (jobs are at least once), send the same id, so it is the receiver's idempotency
key. `publish` enqueues one `webhook.deliver` job per URL, deduplicated by that id; the
job makes one request (`deliver_job`), audited as `webhook.deliver` (the URL's host, the
event, the status, the delivery id), and the queue retries it with backoff after a
connection error, 408, 429 or 5xx; any other 4xx fails the job at once. The job's payload
holds the URL's position in `webhook_urls` and its host, never the URL or the secret: the
task reads both from the settings.

Where no queue runs (a command-line erasure), `announce` delivers at once, retrying
within a time limit, with the same ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callvault.config import Config, http_host
from callvault.errors import ConfigError, InputError, WebhookUndelivered
from callvault.jobs import JobRecord, Queue
from callvault.services.contacts import post_signed
from callvault.vault import Vault

__all__ = [
    "ANNOUNCE_TIMEOUT_S",
    "DELIVERY_HEADER",
    "DELIVER_TASK",
    "EVENTS",
    "EVENT_HEADER",
    "JOB_ATTEMPTS",
    "SECRET_ENV",
    "URLS_ENV",
    "Delivery",
    "announce",
    "check_settings",
    "deliver",
    "deliver_job",
    "delivery_id",
    "publish",
]

log = logging.getLogger("callvault.services")

URLS_ENV = "CALLVAULT_WEBHOOK_URLS"  # the settings' variables, named in messages
SECRET_ENV = "CALLVAULT_WEBHOOK_SECRET"
EVENT_HEADER = "X-Callvault-Event"
DELIVERY_HEADER = "X-Callvault-Delivery"
EVENTS = ("call.processed", "call.erased", "call.alert")
DELIVER_TASK = "webhook.deliver"
# With the embedded queue's backoff (2 s doubling, at most 5 min) ten tries span about
# twenty minutes: a subscriber restarting or deploying gets its events.
JOB_ATTEMPTS = 10
ACTOR = "system:webhooks"
# Worth another try: the subscriber may answer later (RFC 9110 15.5.9 and 15.6; RFC 6585 4).
_RETRYABLE_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class Delivery:
    """How one delivery ended: `status` is the last HTTP status (None: never answered)."""

    event: str
    host: str
    status: int | None
    attempts: int
    ok: bool
    delivery_id: str = ""

    @property
    def retryable(self) -> bool:
        """Whether a later try may succeed: no answer, 408, 429 or 5xx."""
        return self.status is None or self.status >= 500 or self.status in _RETRYABLE_4XX

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "host": self.host,
            "status": self.status,
            "attempts": self.attempts,
            "ok": self.ok,
            "delivery_id": self.delivery_id,
        }


def _check_event(event: str) -> None:
    if event not in EVENTS:
        raise InputError(f"unknown webhook event {event!r}; use one of {', '.join(EVENTS)}")


def _check_url(url: str) -> str:
    host = http_host(url)
    if host is None:
        raise InputError(f"a webhook URL must be http:// or https:// with a host ({URLS_ENV})")
    return host


def check_settings(config: Config) -> None:
    """Refuse unusable webhook settings at start-up rather than at the first event."""
    for url in config.webhook_urls:
        _check_url(url)
    if config.webhook_urls and not config.webhook_secret:
        raise ConfigError(f"{URLS_ENV} is set but {SECRET_ENV} is empty; set both or neither")


def delivery_id(event: str, call_id: str, source: str = "") -> str:
    """The id of the delivery of `event` about `call_id`, the same each time it is worked
    out: `source` tells apart two events of one kind about one call (the processing run's
    token); a call is erased once, so `call.erased` needs none."""
    _check_event(event)
    digest = hashlib.sha256(f"{event}\n{call_id}\n{source}".encode()).hexdigest()
    return digest[:32]


def _body(event: str, payload: Mapping[str, Any], delivery: str, created_at: str) -> bytes:
    document = {
        "event": event,
        "id": delivery,
        "created_at": created_at,
        "data": dict(payload),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def deliver(
    event: str,
    payload: Mapping[str, Any],
    *,
    url: str,
    secret: str,
    attempts: int = 5,
    backoff: float = 0.5,
    timeout_s: float = 10,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.time,
    delivery: str | None = None,
    created_at: str | None = None,
) -> Delivery:
    """POST `event` with `payload` to `url`, signed with `secret`; up to `attempts`
    requests, waiting `backoff`, 2 × `backoff`, 4 × `backoff`, ... between them (`sleep`).
    `delivery` is the delivery id (`delivery_id`; None: a random one) and `created_at`
    the event's time (None: now); every request of the delivery sends the same body.
    Never raises for the subscriber's failure: the `Delivery` says how it went."""
    _check_event(event)
    if not secret:
        raise InputError(f"the webhook secret is empty; set {SECRET_ENV}")
    if attempts < 1:
        raise InputError("attempts must be at least 1")
    host = _check_url(url)
    delivery = delivery or uuid.uuid4().hex
    posted = post_signed(
        url,
        _body(event, payload, delivery, created_at or datetime.now(UTC).isoformat()),
        secret=secret,
        attempts=attempts,
        delay=lambda made: backoff * 2 ** (made - 1),
        retry=lambda status: status >= 500 or status in _RETRYABLE_4XX,
        timeout_s=timeout_s,
        sleep=sleep,
        clock=clock,
        what=f"webhook {event} to {host}",
        headers={EVENT_HEADER: event, DELIVERY_HEADER: delivery},
    )
    return Delivery(event, host, posted.status, posted.attempts, posted.failure is None, delivery)


def _audit(vault: Vault, done: Delivery, call_id: str | None) -> None:
    vault.record_event("webhook.deliver", "call", call_id, details=done.to_json(), actor=ACTOR)


# -- the durable path: one job per event and URL ------------------------------------------


def publish(
    config: Config,
    queue: Queue,
    event: str,
    call_id: str,
    *,
    source: str = "",
    data: Mapping[str, Any] | None = None,
) -> list[JobRecord]:
    """Enqueue the delivery of `event` about `call_id` to every URL of `webhook_urls`
    (none: nothing). `data`: the body's data (ids and figures only, never words or
    numbers); default `{"call_id": call_id}`. Publishing the same event again (a task
    run twice) finds the jobs it queued the first time (their dedupe key is the delivery
    id and the URL's position), so a subscriber gets it once, or, retried, with the same
    id."""
    _check_event(event)
    if not config.webhook_urls:
        return []
    delivery = delivery_id(event, call_id, source)
    created_at = datetime.now(UTC).isoformat()
    jobs = []
    for n, url in enumerate(config.webhook_urls):
        payload = {
            "event": event,
            "data": dict(data) if data is not None else {"call_id": call_id},
            "delivery_id": delivery,
            "created_at": created_at,
            "url": n,
            "host": _check_url(url),
        }
        jobs.append(
            queue.enqueue(
                DELIVER_TASK,
                payload,
                dedupe_key=f"webhook:{delivery}:{n}",
                max_attempts=JOB_ATTEMPTS,
            )
        )
    return jobs


def _url_of(config: Config, payload: Mapping[str, Any]) -> str:
    """The URL a job names by position and host, as the settings have it now."""
    n, host = payload["url"], payload["host"]
    urls = config.webhook_urls
    url = urls[n] if isinstance(n, int) and 0 <= n < len(urls) else None
    if url is None or http_host(url) != host:
        matching = [u for u in urls if http_host(u) == host]
        if len(matching) != 1:
            raise WebhookUndelivered(
                f"webhook delivery {payload['delivery_id']}: no URL of host {host} in "
                f"{URLS_ENV} any more; add it back and retry the job (`callvault jobs retry`)",
                status=None,
                retryable=False,
            )
        url = matching[0]
    return url


def deliver_job(config: Config, vault: Vault, payload: Mapping[str, Any]) -> Delivery:
    """The `webhook.deliver` task: one request, audited. Raises `WebhookUndelivered`
    when the subscriber did not take it, retryable (the queue tries again later with
    backoff) unless its answer was a final 4xx."""
    event = str(payload["event"])
    data = dict(payload["data"])
    delivery = str(payload["delivery_id"])
    url = _url_of(config, payload)
    done = deliver(
        event,
        data,
        url=url,
        secret=config.webhook_secret or "",
        attempts=1,
        delivery=delivery,
        created_at=str(payload["created_at"]),
    )
    _audit(vault, done, data.get("call_id") or data.get("live_call_id"))
    if not done.ok:
        raise WebhookUndelivered(
            f"webhook {event} to {done.host} (delivery {delivery}) answered "
            f"{done.status if done.status is not None else 'nothing'}; "
            + ("the queue tries again" if done.retryable else "fix the subscriber and retry"),
            status=done.status,
            retryable=done.retryable,
        )
    return done


# -- the direct path: a command-line erasure --------------------------------------------

ANNOUNCE_TIMEOUT_S = 60.0


class _OutOfTime(Exception):
    """The time `announce` may take is spent: no more retries."""


def announce(
    config: Config,
    event: str,
    call_ids: Sequence[str],
    *,
    timeout_s: float = ANNOUNCE_TIMEOUT_S,
    backoff: float = 1.0,
) -> int:
    """What a command-line erasure calls, where no worker runs: deliver `event` for each
    call to the URLs of `webhook_urls` at once (ids only, signed, with the delivery ids
    the queued path would use, retried, each delivery audited in the vault of `config`),
    waiting at most `timeout_s` in all so that a subscriber that is down does not hold the
    command for hours. Returns how many deliveries were not made (0 where no URL is set);
    the erasures themselves are in the audit log either way."""
    _check_event(event)
    check_settings(config)
    if not config.webhook_urls or not call_ids:
        return 0
    deadline = time.monotonic() + timeout_s

    def wait(seconds: float) -> None:
        if time.monotonic() + seconds > deadline:
            raise _OutOfTime
        time.sleep(seconds)

    made = 0
    outcomes: list[tuple[Delivery, str]] = []
    for call_id in call_ids:
        for url in config.webhook_urls:
            try:
                done = deliver(
                    event,
                    {"call_id": call_id},
                    url=url,
                    secret=config.webhook_secret or "",
                    backoff=backoff,
                    timeout_s=max(1.0, min(10.0, deadline - time.monotonic())),
                    sleep=wait,
                    delivery=delivery_id(event, call_id),
                )
            except _OutOfTime:
                log.info("webhook %s: out of time after %.0f s", event, timeout_s)
                continue
            made += done.ok
            outcomes.append((done, call_id))
    try:
        with Vault.open(config) as vault:
            for done, call_id in outcomes:
                _audit(vault, done, call_id)
    except Exception as exc:  # noqa: BLE001 - the deliveries are made; say so, do not fail
        log.warning("webhook %s: not audited: %s", event, type(exc).__name__)
    return len(call_ids) * len(config.webhook_urls) - made
