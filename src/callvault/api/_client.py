"""The address of the client of a request, for login throttling and the audit log.

The connection's peer, unless that peer is one of the reverse proxies named in the
setting `trusted_proxies`: then the right-most address of `X-Forwarded-For` that is not
itself a trusted proxy (each proxy appends the peer it saw; everything left of the last
untrusted entry is whatever the client chose to write). From any other peer the header
is ignored, so a client cannot pick the address it is throttled and audited under.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

from starlette.requests import Request

from callvault.config import Config

__all__ = ["client_address", "trusted_proxy"]

_MAX = 64  # the longest IPv6 text with a zone is 45 characters; a host name is cut here
_UNKNOWN = "unknown"


def _ip(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _trusted(config: Config, address: IPv4Address | IPv6Address | None) -> bool:
    return address is not None and any(address in net for net in config.trusted_proxies)


def trusted_proxy(config: Config, host: str | None) -> bool:
    """Whether `host`, an address as text (a connection's peer), is one of the
    `trusted_proxies`."""
    if not host or not config.trusted_proxies:
        return False  # the default: no address to parse, on every response
    return _trusted(config, _ip(host))


def client_address(request: Request) -> str:
    """The client's address as text (`unknown` when the server does not know it)."""
    config: Config = request.app.state.config
    peer = request.client.host if request.client else _UNKNOWN
    if not _trusted(config, _ip(peer)):
        return peer[:_MAX]
    hops = [
        part.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for part in header.split(",")
    ]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            # A malformed entry: nothing left of it can be believed either.
            break
        if not _trusted(config, address):
            return str(address)
    return peer[:_MAX]
