"""What a capture source hands on: one call's audio plus what is known about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Literal

from callvault.media import AudioInfo

__all__ = [
    "DIRECTIONS",
    "ROLES",
    "SOURCES",
    "CallMetadata",
    "CapturedCall",
    "Direction",
    "DtmfSpan",
    "LegFacts",
    "NetworkFacts",
    "Participant",
]

Direction = Literal["inbound", "outbound", "internal"]
DIRECTIONS: tuple[Direction, ...] = ("inbound", "outbound", "internal")
ROLES = ("caller", "callee", "speaker")
# Where a call came from: an imported file, a capture file, the wire, a SIPREC client.
SOURCES = ("file", "pcap", "live", "siprec")


@dataclass(frozen=True)
class Participant:
    """One party of a call; `channel` is the leg that carries their voice, if known."""

    role: str
    phone: str | None = None
    name: str | None = None
    channel: int | None = None
    is_agent: bool = False


@dataclass(frozen=True)
class CallMetadata:
    direction: Direction | None = None
    agent: str | None = None
    started_at: datetime | None = None
    language: str | None = None


@dataclass(frozen=True)
class LegFacts:
    """What the network said of one leg: its codec and quality figures (plain numbers)."""

    channel: int
    codec: str | None
    quality: dict[str, int | float] | None = None


@dataclass(frozen=True)
class DtmfSpan:
    """When a key was pressed, on which leg, not which key: digits are often PINs and
    card numbers, so they are not kept (the audio of the span is what redaction mutes)."""

    channel: int | None
    start: float
    duration: float | None
    source: str  # "rfc4733" or "sip-info"


@dataclass(frozen=True)
class NetworkFacts:
    """What a network capture knows of a call besides its audio."""

    source: str  # one of SOURCES
    sip_call_id: str | None = None
    user_agents: tuple[str, ...] = ()
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    legs: tuple[LegFacts, ...] = ()
    dtmf: tuple[DtmfSpan, ...] = ()
    segment: int | None = None  # for a long live call stored in parts: 0, 1, 2, ...


@dataclass(frozen=True)
class CapturedCall:
    """A call ready for the policy gate and the vault.

    `open_audio` returns a fresh binary stream of the original bytes each time it is
    called; the vault reads it once to hash and encrypt it.
    """

    source_name: str
    open_audio: Callable[[], BinaryIO]
    size: int
    audio: AudioInfo
    metadata: CallMetadata
    participants: tuple[Participant, ...]
    network: NetworkFacts | None = None
