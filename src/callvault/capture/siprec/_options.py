"""Settings and counters of the SIPREC recording server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from callvault.errors import ConfigError

__all__ = ["SiprecOptions", "SiprecStats", "parse_listen"]


@dataclass(frozen=True)
class SiprecOptions:
    """Where and how the server listens; `validate()` checks the values.

    `port` 0 picks a free port (UDP first; TCP then listens on the same number).
    `media_address` is the address written into the SDP answer; by default the listen
    host, or, where that is a wildcard, the local address that reaches the SRC. RTP
    ports are even numbers from [`rtp_port_min`, `rtp_port_max`], each with its RTCP
    port above it. A call with neither RTP nor a request for `rtp_timeout_s` ends.
    `max_call_bytes` bounds the RTP a call holds before it is delivered in segments.
    With `check_rtp_source`, RTP is taken only from the address the offer gives for its
    m= line or from the SRC's signalling address (unless the offer says 0.0.0.0), so a
    stranger who finds the port cannot add audio to a recording.
    """

    host: str = "127.0.0.1"
    port: int = 5060
    udp: bool = True
    tcp: bool = True
    media_address: str | None = None
    rtp_port_min: int = 20000
    rtp_port_max: int = 29999
    rtp_timeout_s: float = 30.0
    max_calls: int = 1000
    max_call_bytes: int = 32 * 1024 * 1024
    check_rtp_source: bool = True
    user_agent: str = "callvault-siprec"

    @classmethod
    def listening_on(cls, listen: str, **options: Any) -> SiprecOptions:
        """Options for a "host:port" (or "[v6 address]:port") as `--listen` gives it."""
        host, port = parse_listen(listen)
        return cls(host=host, port=port, **options)

    def validate(self) -> None:
        if not (self.udp or self.tcp):
            raise ConfigError("SIPREC server: enable UDP or TCP (both are off)")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"SIPREC server: port {self.port} is not 0-65535")
        low, high = self.rtp_port_min, self.rtp_port_max
        if not (1024 <= low and high <= 65535 and high - low >= 3):
            raise ConfigError(
                f"SIPREC server: RTP port range {low}-{high} must lie within 1024-65535 "
                "and hold at least two even/odd pairs"
            )
        if self.rtp_timeout_s <= 0:
            raise ConfigError("SIPREC server: rtp_timeout_s must be positive")
        if self.max_calls < 1:
            raise ConfigError("SIPREC server: max_calls must be at least 1")
        if self.max_call_bytes < 65536:
            raise ConfigError("SIPREC server: max_call_bytes must be at least 65536")


def parse_listen(listen: str) -> tuple[str, int]:
    """("127.0.0.1", 5060) from "127.0.0.1:5060"; "[::1]:5060" for IPv6."""
    text = listen.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":")
    if not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(
            f"SIPREC listen address {listen!r} is not host:port (for example "
            "127.0.0.1:5060, or [::1]:5060 for IPv6)"
        )
    return host, int(port_text)


@dataclass(frozen=True)
class SiprecStats:
    """Counters since the server was made; `malformed` counts SIP messages that did not
    parse or could not be answered properly, `rtp_dropped` RTP packets that did not parse,
    carried a payload type the answer did not allow, or came after a party withdrew
    consent."""

    sip_messages: int
    malformed: int
    calls_started: int
    calls_rejected: int
    calls_cancelled: int
    calls_finished: int
    calls_delivered: int
    delivery_errors: int
    rtp_packets: int
    rtp_dropped: int
    rtcp_packets: int
    active_calls: int

    @classmethod
    def of(cls, counts: Mapping[str, int], *, active_calls: int) -> SiprecStats:
        """The counters a server keeps by name (a missing one is 0)."""
        names = [f.name for f in fields(cls) if f.name != "active_calls"]
        return cls(**{name: counts.get(name, 0) for name in names}, active_calls=active_calls)
