"""Bounded request bodies (issue 17, finding 3): a size limit decided on the headers and
enforced while reading, and timeouts that cut off a client that sends too slowly.

`BodyLimits` is plain ASGI middleware around the whole app:

* a `Content-Length` over CALLVAULT_MAX_UPLOAD_BYTES is answered 413 before the app
  runs, so no byte of the body is read;
* every `receive()` of the app is wrapped: a chunked body is counted and refused (413)
  as soon as it passes the limit; a client silent for CALLVAULT_REQUEST_IDLE_TIMEOUT,
  slower on average than CALLVAULT_REQUEST_MIN_RATE once that long has passed, or still
  sending after CALLVAULT_REQUEST_BODY_TIMEOUT is answered 408 (the mod_reqtimeout and
  nginx `client_body_timeout` shape). Both answers close the connection.

The limit errors are callvault errors, so a route that reads the body itself (the
streaming upload) answers them through the one error map; when they escape from code
that is not a route (a form parsed by a dependency, another middleware) they are
answered here.

The headers' own timeout lives in the server, not here: see `api/_server.py`.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callvault.api._errors import error_json
from callvault.config import Config
from callvault.errors import RequestTimeout, TooLarge

__all__ = ["BodyLimits", "declared_length"]


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None (chunked, absent or not a number)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _chunked(scope: Scope) -> bool:
    return any(
        name == b"transfer-encoding" and b"chunked" in value.lower()
        for name, value in scope.get("headers", ())
    )


class _Receiver:
    """`receive` with the size limit and the timeouts of one request body."""

    def __init__(self, receive: Receive, config: Config) -> None:
        self._receive = receive
        self.limit = config.max_upload_bytes
        self.idle = config.request_idle_timeout
        self.min_rate = config.request_min_rate
        self.total = config.request_body_timeout
        self.started = time.monotonic()
        self.size = 0
        self.done = False

    async def __call__(self) -> Message:
        if self.done:  # after the body: only http.disconnect is left to wait for
            return await self._receive()
        now = time.monotonic()
        remaining = self.started + self.total - now
        if remaining <= 0:
            raise self._timeout(f"the request body took longer than {self.total:g} s")
        try:
            message = await asyncio.wait_for(self._receive(), min(self.idle, remaining))
        except TimeoutError:
            if time.monotonic() - self.started >= self.total:
                raise self._timeout(f"the request body took longer than {self.total:g} s") from None
            raise self._timeout(
                f"no part of the request body arrived for {self.idle:g} s"
            ) from None
        if message["type"] != "http.request":
            return message
        self.size += len(message.get("body", b""))
        if self.size > self.limit:
            raise TooLarge(self.limit)
        if not message.get("more_body", False):
            self.done = True
            return message
        elapsed = time.monotonic() - self.started
        if self.min_rate and elapsed > self.idle and self.size < self.min_rate * elapsed:
            raise self._timeout(
                f"the request body arrived at {self.size / elapsed:.0f} bytes/s, slower than "
                f"the minimum of {self.min_rate} bytes/s"
            )
        return message

    @staticmethod
    def _timeout(what: str) -> RequestTimeout:
        return RequestTimeout(
            f"{what} (CALLVAULT_REQUEST_IDLE_TIMEOUT, CALLVAULT_REQUEST_MIN_RATE, "
            "CALLVAULT_REQUEST_BODY_TIMEOUT); the connection is closed and nothing was stored"
        )


class BodyLimits:
    """See the module's docstring."""

    def __init__(self, app: ASGIApp, config: Config) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.config.max_upload_bytes:
            await _refuse(TooLarge(self.config.max_upload_bytes), send)
            return
        started = False
        receiver = _Receiver(receive, self.config)
        has_body = declared != 0 and (declared is not None or _chunked(scope))

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if has_body and not receiver.done:
                    # Answered before the body was read (refused on its headers, too
                    # large, too slow): the rest of it is never read, so the connection
                    # cannot carry another request and is closed (RFC 9112 section 9.6).
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"connection", b"close")],
                    }
            await send(message)

        try:
            await self.app(scope, receiver, sending)
        except (TooLarge, RequestTimeout) as exc:
            if started:
                raise
            await _refuse(exc, send)


async def _refuse(error: TooLarge | RequestTimeout, send: Send) -> None:
    response = error_json(error)
    response.headers["Connection"] = "close"
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})
