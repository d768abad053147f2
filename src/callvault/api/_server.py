"""How `callvault serve` runs uvicorn: bounded connections, header size and time.

uvicorn times out only an idle kept-alive connection; a client that sends its request
headers a byte at a time, or opens connections and sends nothing, holds them for ever
(issue 17: 20 connections that trickled a byte every 5 s stayed open). `_HeaderTimeout`
closes a connection whose request head is not complete CALLVAULT_REQUEST_IDLE_TIMEOUT
after its first byte (or after the connection opened); the body's pace is bounded by
`BodyLimits`; CALLVAULT_MAX_CONNECTIONS caps what is open at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from callvault.config import Config

__all__ = ["HEADER_LIMIT", "uvicorn_options"]

HEADER_LIMIT = 64 * 1024  # request line and headers; h11's own default, kept explicit


class _HeaderTimeout(H11Protocol):
    """H11Protocol that closes a connection whose request head takes too long."""

    header_timeout = 15.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
            self._arm()  # part of a request head, not yet the whole of it
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def uvicorn_options(config: Config) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` that bound what one client can hold and leave
    the forwarded headers to callvault."""
    protocol = type(
        "CallvaultH11Protocol", (_HeaderTimeout,), {"header_timeout": config.request_idle_timeout}
    )
    return {
        "http": protocol,
        "limit_concurrency": config.max_connections,
        "h11_max_incomplete_event_size": HEADER_LIMIT,
        # Keep idle connections longer than clients and proxies do (httpx and many others
        # 5 s, nginx 60 s): the side that closes first must be the client, or a request
        # sent on a connection the server is just closing fails.
        "timeout_keep_alive": 75,
        # uvicorn would believe X-Forwarded-For and -Proto from any loopback peer; callvault
        # decides that itself, from `trusted_proxies` only (api/_client.py, _security.py).
        "proxy_headers": False,
    }
