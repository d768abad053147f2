"""Outgoing webhooks: `call.processed` and `call.erased`, signed like the CRM push.

A subscriber is a URL; every request carries `X-Callvault-Event`, `X-Callvault-Timestamp`
and `X-Callvault-Signature` ("sha256=" + hex HMAC-SHA256 of "<timestamp>.<body>", see
`services.contacts.sign`; receivers check it with `verify_signature`). The body holds
ids only, never transcript text or numbers: `{"event", "id", "created_at", "data"}`.

`deliver` makes one delivery, retrying connection errors, 408, 429 and 5xx answers with
exponential backoff; any other 4xx is final. An `EventHub` delivers on a background
thread and audits each delivery as `webhook.deliver` (the URL's host, the event, the last
status and the attempts). The API's hub takes the settings `webhook_urls` and
`webhook_secret` (`EventHub.from_config`). A job run where no hub was started (a
`callvault worker` process) delivers its event itself: `publish`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callvault.config import Config, http_host
from callvault.errors import ConfigError, InputError
from callvault.services.contacts import post_signed
from callvault.vault import Vault

__all__ = [
    "EVENTS",
    "EVENT_HEADER",
    "SECRET_ENV",
    "URLS_ENV",
    "ANNOUNCE_TIMEOUT_S",
    "Delivery",
    "EventHub",
    "announce",
    "deliver",
    "emit",
    "publish",
]

log = logging.getLogger("callvault.services")

URLS_ENV = "CALLVAULT_WEBHOOK_URLS"  # the settings' variables, named in messages
SECRET_ENV = "CALLVAULT_WEBHOOK_SECRET"
EVENT_HEADER = "X-Callvault-Event"
EVENTS = ("call.processed", "call.erased")
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

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "host": self.host,
            "status": self.status,
            "attempts": self.attempts,
            "ok": self.ok,
        }


def _check_event(event: str) -> None:
    if event not in EVENTS:
        raise InputError(f"unknown webhook event {event!r}; use one of {', '.join(EVENTS)}")


def _check_url(url: str) -> str:
    host = http_host(url)
    if host is None:
        raise InputError(f"a webhook URL must be http:// or https:// with a host ({URLS_ENV})")
    return host


def _body(event: str, payload: Mapping[str, Any]) -> bytes:
    document = {
        "event": event,
        "id": uuid.uuid4().hex,
        "created_at": datetime.now(UTC).isoformat(),
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
) -> Delivery:
    """POST `event` with `payload` to `url`, signed with `secret`; up to `attempts`
    requests, waiting `backoff`, 2 × `backoff`, 4 × `backoff`, ... between them (`sleep`).
    Never raises for the subscriber's failure: the `Delivery` says how it went."""
    _check_event(event)
    if not secret:
        raise InputError(f"the webhook secret is empty; set {SECRET_ENV}")
    if attempts < 1:
        raise InputError("attempts must be at least 1")
    host = _check_url(url)
    posted = post_signed(
        url,
        _body(event, payload),
        secret=secret,
        attempts=attempts,
        delay=lambda made: backoff * 2 ** (made - 1),
        retry=lambda status: status >= 500 or status in _RETRYABLE_4XX,
        timeout_s=timeout_s,
        sleep=sleep,
        clock=clock,
        what=f"webhook {event} to {host}",
        headers={EVENT_HEADER: event},
    )
    return Delivery(event, host, posted.status, posted.attempts, posted.failure is None)


_HUBS: set[EventHub] = set()
_HUBS_LOCK = threading.Lock()


def emit(event: str, payload: Mapping[str, Any]) -> bool:
    """Hand `event` to every started hub of this process; False when there is none."""
    with _HUBS_LOCK:
        hubs = list(_HUBS)
    for hub in hubs:
        hub.emit(event, payload)
    return bool(hubs)


def publish(config: Config, event: str, payload: Mapping[str, Any]) -> None:
    """What the job queue's tasks call (they know no app): hand `event` to this process's
    hubs, or, where none was started and `config` names webhook URLs, deliver it here
    and now, audited like the hub's deliveries."""
    if emit(event, payload) or not config.webhook_urls:
        return
    hub = EventHub.from_config(None, config)
    for url in hub.urls:
        hub.deliver_now(event, dict(payload), url)


ANNOUNCE_TIMEOUT_S = 60.0


def announce(
    config: Config,
    event: str,
    call_ids: Sequence[str],
    *,
    timeout_s: float = ANNOUNCE_TIMEOUT_S,
    backoff: float = 1.0,
) -> int:
    """What a command-line erasure calls: deliver `event` for each call to the URLs of
    `webhook_urls` (ids only, signed, retried, each delivery audited in the vault of
    `config`), waiting at most `timeout_s` in all so that a subscriber that is down does
    not hold the command for hours. Returns how many deliveries were not made (0 where
    no URL is set); the erasures themselves are in the audit log either way."""
    _check_event(event)
    hub = EventHub.from_config(None, config, backoff=backoff)
    if not hub.active or not call_ids:
        return 0
    hub.start()
    try:
        for call_id in call_ids:
            hub.emit(event, {"call_id": call_id})
        hub.drain(timeout_s)
    finally:
        hub.stop(timeout=1)
    return hub.undelivered


class EventHub:
    """Delivers events to `urls` on one background thread, in order, each audited."""

    def __init__(
        self,
        vault: Vault | None,
        urls: Sequence[str],
        secret: str,
        *,
        attempts: int = 5,
        backoff: float = 1.0,
        timeout_s: float = 10,
    ) -> None:
        for url in urls:
            _check_url(url)
        if urls and not secret:
            raise ConfigError(f"{URLS_ENV} is set but {SECRET_ENV} is empty; set both or neither")
        self.vault = vault
        self._config: Config | None = None
        self.urls = tuple(urls)
        self._secret = secret
        self.attempts = attempts
        self.backoff = backoff
        self.timeout_s = timeout_s
        self._queue: queue.Queue[tuple[str, dict[str, Any], str] | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._queued = 0  # deliveries handed to the thread (event x URL)
        self._made = 0  # deliveries the subscriber accepted

    @classmethod
    def from_config(cls, vault: Vault | None, config: Config, **options: Any) -> EventHub:
        """The hub of the settings `webhook_urls` and `webhook_secret`. `vault`: where
        deliveries are audited; None opens the vault of `config` for each audit entry."""
        hub = cls(vault, config.webhook_urls, config.webhook_secret or "", **options)
        hub._config = config
        return hub

    @property
    def active(self) -> bool:
        return bool(self.urls)

    def start(self) -> None:
        """Start the delivery thread and receive `emit`'s events (no URLs: a no-op)."""
        if not self.active or self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="callvault-webhooks", daemon=True)
        self._thread.start()
        with _HUBS_LOCK:
            _HUBS.add(self)

    def stop(self, timeout: float | None = 10) -> None:
        """Stop taking events, end the waits between retries and let the thread finish;
        deliveries not yet made are dropped (logged by count)."""
        with _HUBS_LOCK:
            _HUBS.discard(self)
        if self._thread is None:
            return
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None
        left = self._queue.qsize()
        if left:
            log.warning("webhooks: %d deliveries dropped at shutdown", left)

    def emit(self, event: str, payload: Mapping[str, Any]) -> None:
        """Queue `event` for every URL; returns at once."""
        _check_event(event)
        if self._thread is None or self._stopping.is_set():
            return
        for url in self.urls:
            self._queued += 1
            self._queue.put((event, dict(payload), url))

    @property
    def undelivered(self) -> int:
        """Deliveries queued that no subscriber accepted (given up on, or dropped at
        `stop`), so far."""
        return self._queued - self._made

    def join(self) -> None:
        """Wait until every queued delivery was made (tests, shutdown drains)."""
        self._queue.join()

    def drain(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the queued deliveries; True when all were made."""
        deadline = time.monotonic() + timeout_s
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None or self._stopping.is_set():
                    if item is None:
                        return
                    continue
                self.deliver_now(*item, sleep=self._wait)
            finally:
                self._queue.task_done()

    def _wait(self, seconds: float) -> None:
        # A stop ends the wait before a retry, and the retries with it.
        if self._stopping.wait(seconds):
            raise _Stopped

    def deliver_now(
        self,
        event: str,
        payload: dict[str, Any],
        url: str,
        *,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        """Deliver one event to one URL on this thread, with retries, and audit it."""
        try:
            done = deliver(
                event,
                payload,
                url=url,
                secret=self._secret,
                attempts=self.attempts,
                backoff=self.backoff,
                timeout_s=self.timeout_s,
                sleep=sleep,
            )
        except _Stopped:
            log.info("webhook %s: retries ended by shutdown", event)
            return
        except Exception as exc:  # noqa: BLE001 - one bad delivery never stops the thread
            log.warning("webhook %s: %s", event, type(exc).__name__)
            return
        if done.ok:
            self._made += 1
        try:
            if self.vault is not None:
                self._audit(self.vault, done, payload)
            elif self._config is not None:
                with Vault.open(self._config) as vault:
                    self._audit(vault, done, payload)
        except Exception as exc:  # noqa: BLE001 - the vault may be closing
            log.warning("webhook %s: not audited: %s", event, type(exc).__name__)

    @staticmethod
    def _audit(vault: Vault, done: Delivery, payload: Mapping[str, Any]) -> None:
        vault.record_event(
            "webhook.deliver",
            "call",
            payload.get("call_id"),
            details=done.to_json(),
            actor="system:webhooks",
        )


class _Stopped(Exception):
    """The hub stopped during the wait before a retry."""
