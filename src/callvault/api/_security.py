"""Security headers on every response, and what a request's connection may be believed.

Every response, pages, API answers, static files and errors alike, carries a strict
Content-Security-Policy (only this origin's scripts, styles, images and media; no inline
script or style, no framing, no plugins, no `<base>`; an endpoint that needs more sets its
own, see api/_docs.py),
`X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (paths hold call ids),
`X-Frame-Options: DENY`, a `Permissions-Policy` that allows the microphone to this origin
only (in-browser recording) and nothing else, `Cross-Origin-Opener-Policy` and
`Cross-Origin-Resource-Policy: same-origin`, and `Strict-Transport-Security` when the
request came over HTTPS (or cookies are always Secure).

Whether a request came over HTTPS is taken from the connection itself;
`X-Forwarded-Proto` counts only when the peer is one of the configured `trusted_proxies`
(as `X-Forwarded-For` does in api/_client.py). The `Host` header a client sends never
decides anything here.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callvault.api._client import trusted_proxy
from callvault.config import Config

__all__ = [
    "HardenedFastAPI",
    "SecurityHeaders",
    "content_security_policy",
    "over_https",
    "secure_cookies",
]

HSTS = "max-age=31536000"

_FIXED_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    (
        "Permissions-Policy",
        "microphone=(self), camera=(), geolocation=(), payment=(), usb=()",
    ),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)


def content_security_policy(*, inline_styles: bool = False, blob_workers: bool = False) -> str:
    """The policy of every response. `inline_styles` and `blob_workers` loosen it for one
    page that needs them (ReDoc injects `<style>` elements before any nonce could reach
    them, and runs its search in a worker made from a blob: URL); scripts stay this
    origin's files either way."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'" + (" 'unsafe-inline'" if inline_styles else ""),
            # Swagger UI and ReDoc draw their icons as data: SVG images.
            "img-src 'self' data:",
            "media-src 'self'",
            "connect-src 'self'",
            "font-src 'self'",
            "manifest-src 'self'",
            "worker-src " + ("blob:" if blob_workers else "'none'"),
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    )


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers", ()) if k == name]
    return b",".join(values).decode("latin-1") if values else None


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def over_https(scope: Scope, config: Config) -> bool:
    """Whether the browser's connection is HTTPS: TLS to this server, or a trusted proxy's
    `X-Forwarded-Proto` (its last value, the one the nearest proxy set) says so."""
    if trusted_proxy(config, _peer(scope)):
        forwarded = _header(scope, b"x-forwarded-proto")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip().lower() == "https"
    return scope.get("scheme") in ("https", "wss")


def _listening_on_loopback(scope: Scope) -> bool:
    # The address of the socket the server listens on, from the connection, never from
    # the client's Host header.
    server = scope.get("server")
    if not server or server[0] is None:
        return False
    host = str(server[0])
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def secure_cookies(request: Request) -> bool:
    """The Secure flag of the cookies this response sets (`cookie_secure`): auto sets it
    unless the request came over plain HTTP to a server listening on loopback (the
    `callvault serve` default, where a browser on the same machine uses http://)."""
    config: Config = request.app.state.config
    if config.cookie_secure != "auto":
        return config.cookie_secure == "always"
    return over_https(request.scope, config) or not _listening_on_loopback(request.scope)


_POLICY = content_security_policy()


class SecurityHeaders:
    """Plain ASGI middleware adding the security headers to every HTTP response; a header
    the endpoint set itself is kept."""

    def __init__(self, app: ASGIApp, config: Config) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", _POLICY)
                for name, value in _FIXED_HEADERS:
                    headers.setdefault(name, value)
                if self.config.cookie_secure == "always" or over_https(scope, self.config):
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, sending)


class HardenedFastAPI(FastAPI):
    """FastAPI whose whole middleware stack, Starlette's server-error middleware
    included, sits inside `SecurityHeaders`: a 500 and an early refusal by any middleware
    carry the headers too."""

    def __init__(self, config: Config, **kwargs: Any) -> None:
        self._security_config = config
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), self._security_config)
