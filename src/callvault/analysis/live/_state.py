"""The records a call monitor keeps and hands out: what it tells the recorder
(`RecorderAction`), what it expects of a refusal detector (`RefusalLike`), and its state
per leg (`_Leg`, with the card-data episodes and the utterances sentiment reads)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from callvault.analysis.live._events import LiveWord

__all__ = ["Action", "RecorderAction", "RefusalDetector", "RefusalLike"]


Action = Literal["pci-pause", "pci-resume", "stop-recording"]


@dataclass(frozen=True)
class RecorderAction:
    """What the recorder is to do with a leg's audio, from `call_time` on.

    "pci-pause": card data began being read on `channel` at `call_time` (the start of its
    first digit word; earlier than the moment this is known, so the recorder cuts what it
    buffered from there). "pci-resume": the agent spoke again at `call_time`.
    "stop-recording": the party on `channel` refused to be recorded at `call_time`.
    """

    action: Action
    channel: int
    call_time: float
    rule: str


class RefusalLike(Protocol):
    """What the refusal detector reports (structurally, `callvault.analysis._refusal.Refusal`)."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def text(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def phrase(self) -> str: ...


# `callvault.analysis._refusal.detect_refusals(words, *, language) -> list[Refusal]`
RefusalDetector = Callable[..., Sequence[RefusalLike]]


@dataclass
class _Episode:
    """Card data being read on a leg: from `start` until the agent speaks again."""

    start: float
    last_end: float
    resumed: float | None = None


@dataclass
class _Utterance:
    start: float
    end: float
    score: float
    confidence: float


@dataclass
class _Leg:
    channel: int
    role: str | None
    words: list[LiveWord] = field(default_factory=list)
    partial: tuple[LiveWord, ...] = ()
    pending: list[LiveWord] = field(default_factory=list)  # the utterance being said
    utterances: list[_Utterance] = field(default_factory=list)
    spans: list[list[float | None]] = field(default_factory=list)  # [start, end]
