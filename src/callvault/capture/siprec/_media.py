"""The recording server's RTP ports: allocation from a range, receiving, and where to say
the media should go (the SDP connection address).

Packets are read with `recvmsg` from a reader callback on the event loop, each with the
time the kernel received it (SO_TIMESTAMPNS, Linux). capture/net orders packets, measures
jitter and spots timestamp jumps from arrival times, so those must not include the time
a packet waited for a busy event loop; where the kernel gives no timestamp, the time of
reading is used.
"""

from __future__ import annotations

import asyncio
import platform
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from callvault.capture.net._stream import RtpStream
from callvault.capture.siprec._recording import RecordedMedia

__all__ = ["MediaPort", "PortPool", "close_port", "media_address", "open_port", "pack_address"]

#: receives (datagram, source address, whether it came on the RTCP port, arrival time)
Sink = Callable[[bytes, tuple[Any, ...], bool, float], None]

MAX_DATAGRAM = 4096  # RTP over UDP on an Ethernet path stays under 1500 bytes
BURST = 256  # datagrams read per wake-up at most, so one busy port cannot starve others
# Python does not name SO_TIMESTAMPNS; 35 is its value in Linux's asm-generic socket.h
# (x86, ARM, RISC-V), where it also names the control message SCM_TIMESTAMPNS.
_TIMESTAMPNS: int | None = getattr(
    socket,
    "SO_TIMESTAMPNS",
    35
    if sys.platform == "linux"
    and platform.machine() in ("x86_64", "aarch64", "riscv64", "i686", "armv7l")
    else None,
)
_TIMESPEC = struct.Struct("@qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) if _TIMESTAMPNS is not None else 0


@dataclass
class MediaPort:
    """The server's end of one recorded m= line: an even RTP port and RTCP on the next.

    The sockets are bound when the offer is answered, so the answer names ports that
    are really ours, and read from the event loop once `open_port` has run.
    """

    number: int
    sockets: list[socket.socket]
    recorded: RecordedMedia
    accepted: frozenset[int] = frozenset()  # payload types the answer allowed
    sources: frozenset[str] | None = None  # addresses RTP may come from; None: any
    reading: list[int] = field(default_factory=list)  # file descriptors being watched
    # the streams of the current segment by (source host, port, SSRC bytes), as packets
    # are looked up: the same objects as `recorded.streams`, keyed without conversions
    streams: dict[tuple[str, int, bytes], RtpStream] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.number < 0


class PortPool:
    """Even/odd port pairs from [low, high] (RFC 3550 section 11), taken in turn, so a
    port just released is not handed out again at once; ports in use elsewhere are
    skipped."""

    def __init__(self, host: str, low: int, high: int) -> None:
        self.host = host
        self.low = low + (low % 2)
        self.high = high
        self._next = self.low

    def bind(self, index: int, channel: int) -> MediaPort | None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range((self.high - self.low + 1) // 2):
            number = self._next
            self._next = number + 2 if number + 3 <= self.high else self.low
            sockets: list[socket.socket] = []
            try:
                for offset in (0, 1):
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                    sockets.append(sock)
                    sock.bind((self.host, number + offset))
                    sock.setblocking(False)
                    if _TIMESTAMPNS is not None:
                        sock.setsockopt(socket.SOL_SOCKET, _TIMESTAMPNS, 1)
            except OSError:
                for sock in sockets:
                    sock.close()
                continue
            return MediaPort(number, sockets, RecordedMedia(index, channel))
        return None


def open_port(port: MediaPort, sink: Sink) -> None:
    """Start reading a port's sockets (RTP, then RTCP) on the running event loop."""
    if port.closed or port.reading:
        return
    loop = asyncio.get_running_loop()
    for offset, sock in enumerate(port.sockets):
        loop.add_reader(sock.fileno(), _read, sock, sink, offset == 1)
        port.reading.append(sock.fileno())


def _read(sock: socket.socket, sink: Sink, rtcp: bool) -> None:
    for _ in range(BURST):
        try:
            data, ancillary, flags, address = sock.recvmsg(MAX_DATAGRAM, _ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # an ICMP error queued on the socket: nothing to read
            return
        if flags & socket.MSG_TRUNC:
            continue  # larger than any RTP packet: not ours
        arrival = None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == _TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = _TIMESPEC.unpack_from(value)
                arrival = seconds + nanoseconds / 1e9
        sink(data, address, rtcp, arrival if arrival is not None else time.time())


def close_port(port: MediaPort) -> None:
    if port.reading:
        loop = asyncio.get_running_loop()
        for descriptor in port.reading:
            loop.remove_reader(descriptor)
    for sock in port.sockets:
        sock.close()
    port.reading = []
    port.sockets = []
    port.number = -1


def media_address(configured: str | None, host: str, peer: str) -> str:
    """The address for the SDP answer: the configured one, else the listen host, else
    (a wildcard host) the local address of the route to the peer."""
    if configured:
        return configured
    if host not in ("0.0.0.0", "::", ""):
        return host
    family = socket.AF_INET6 if ":" in peer else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((peer, 9))  # UDP connect sends nothing; it only picks a route
            return str(probe.getsockname()[0])
        except OSError:
            return "::1" if family == socket.AF_INET6 else "127.0.0.1"


@overload
def pack_address(host: str) -> bytes: ...
@overload
def pack_address(host: str, *, strict: Literal[True]) -> bytes | None: ...
def pack_address(host: str, *, strict: bool = False) -> bytes | None:
    """An address in network byte order, as capture/net keys its streams; a host that
    is not an address gives zeros, or None when `strict`."""
    try:
        return socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return None if strict else bytes(4)
