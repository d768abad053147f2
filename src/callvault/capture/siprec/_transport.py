"""SIP over UDP and TCP (RFC 3261 section 18) for the recording server.

Both hand each message to a `Handler` with a `reply` function that sends on the way the
request came: a UDP response goes to the datagram's source address and port (RFC 3581
symmetric response), a TCP one on the same connection.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, cast

from callvault.capture.net._sip import MAX_MESSAGE

__all__ = ["Handler", "Reply", "SipUdpProtocol", "serve_tcp"]

Reply = Callable[[bytes], None]
#: (message, reply, source (host, port), "UDP" or "TCP")
Handler = Callable[[bytes, Reply, tuple[str, int], str], None]
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)", re.I | re.M)


class SipUdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # In Python 3.11 the selector loop's datagram transport does not subclass
        # asyncio.DatagramTransport, though it is one.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        transport = self.transport
        if transport is None:
            return
        source = (str(addr[0]), int(addr[1]))

        def reply(payload: bytes) -> None:
            if not transport.is_closing():
                transport.sendto(payload, source)

        self.handler(data, reply, source, "UDP")

    def error_received(self, exc: Exception) -> None:  # ICMP errors: nothing to do
        pass


async def serve_tcp(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handler: Handler,
    on_malformed: Callable[[], None],
) -> None:
    """Read messages framed by Content-Length (RFC 3261 section 18.3) until the peer
    closes, the framing breaks, or the task is cancelled; then close the connection."""
    peer = writer.get_extra_info("peername")
    source = (str(peer[0]), int(peer[1])) if peer else ("", 0)

    def reply(payload: bytes) -> None:
        if not writer.is_closing():
            writer.write(payload)

    try:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).lstrip(b"\r\n")
            if not head:
                continue  # a CRLF keep-alive (RFC 5626 section 3.5.1)
            match = _CONTENT_LENGTH.search(head)
            length = int(match.group(1)) if match else 0
            if length > MAX_MESSAGE:
                on_malformed()
                break  # the stream cannot be re-synchronised
            body = await reader.readexactly(length) if length else b""
            handler(head + body, reply, source, "TCP")
            await writer.drain()
    except asyncio.LimitOverrunError:
        on_malformed()  # a header block over the limit
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass  # the peer went away, or the server is stopping
    finally:
        writer.close()
