"""What a capture source hands on: one call's audio plus what is known about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Literal

from callvault.media import AudioInfo

__all__ = ["DIRECTIONS", "ROLES", "CallMetadata", "CapturedCall", "Direction", "Participant"]

Direction = Literal["inbound", "outbound", "internal"]
DIRECTIONS: tuple[Direction, ...] = ("inbound", "outbound", "internal")
ROLES = ("caller", "callee", "speaker")


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
