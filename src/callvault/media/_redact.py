"""Audio redaction: spans of a recording muted, or replaced by a tone, channel by channel.

What a listener must not hear (a card number read aloud, the tones of keys pressed) is
removed from the samples themselves, not hidden by a player. Muting sets the samples to
zero: the span is digital silence, far below any audibility threshold. A bleep replaces
them with a 1 kHz tone at -20 dBFS, which says that something was removed.

Each span names the channel (leg) of the speaker; None means every channel (a mixed
recording, where everyone's voice shares one channel). `margin_s` widens each span on
both sides: word times from a recogniser are accurate to a few tens of milliseconds, and
a digit's onset or decay must not survive at the edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from callvault.errors import InputError
from callvault.media._edit import AudioEdit

__all__ = ["BLEEP_HZ", "REDACTION_MODES", "AudioSpan", "RedactSpans"]

REDACTION_MODES = ("mute", "bleep")
BLEEP_HZ = 1000.0
_BLEEP_LEVEL = 0.1  # -20 dBFS


@dataclass(frozen=True)
class AudioSpan:
    """Seconds from the start of the recording; `channel` None is every channel."""

    start: float
    end: float
    channel: int | None = None


def _frames(span: AudioSpan, margin: float, rate: int, frames: int) -> tuple[int, int]:
    first = max(0, math.floor((span.start - margin) * rate))
    last = min(frames, math.ceil((span.end + margin) * rate))
    return first, last


@dataclass(frozen=True)
class RedactSpans(AudioEdit):
    """Every span, widened by `margin_s` on both sides, muted or bleeped on its channel;
    everything else is left sample-identical."""

    spans: tuple[AudioSpan, ...]
    mode: str = "mute"
    margin_s: float = 0.5

    def validate(self, channels: int, frames: int, sample_rate: int) -> None:
        if self.mode not in REDACTION_MODES:
            raise InputError(
                f"redaction mode {self.mode!r} is unknown; use one of {', '.join(REDACTION_MODES)}"
            )
        if not (math.isfinite(self.margin_s) and self.margin_s >= 0):
            raise InputError(f"the redaction margin {self.margin_s} s must be 0 or more")
        for span in self.spans:
            if not (math.isfinite(span.start) and math.isfinite(span.end)):
                raise InputError("a redaction span has a time that is not a number")
            if span.end < span.start or span.start < 0:
                raise InputError(
                    f"the redaction span {span.start:.3f}-{span.end:.3f} s is not a span of "
                    "the recording"
                )
            if span.channel is not None and not 0 <= span.channel < channels:
                raise InputError(
                    f"channel {span.channel} does not exist; the recording has {channels} "
                    "channel(s)"
                )

    def apply(self, pcm: np.ndarray, sample_rate: int) -> np.ndarray:
        out = pcm.copy()
        channels, frames = out.shape
        for span in self.spans:
            first, last = _frames(span, self.margin_s, sample_rate, frames)
            if last <= first:
                continue
            rows = list(range(channels)) if span.channel is None else [span.channel]
            if self.mode == "mute":
                out[rows, first:last] = 0
            else:
                t = np.arange(first, last, dtype=np.float64) / sample_rate
                tone = np.round(32767 * _BLEEP_LEVEL * np.sin(2 * np.pi * BLEEP_HZ * t))
                out[rows, first:last] = tone.astype(np.int16)
        return out

    def seconds(self, sample_rate: int, frames: int) -> float:
        """How much audio, summed over channels, the edit replaces (margins included)."""
        total = 0
        for span in self.spans:
            first, last = _frames(span, self.margin_s, sample_rate, frames)
            total += max(0, last - first)
        return total / sample_rate

    def to_json(self) -> dict[str, Any]:
        return {
            "edit": "redact",
            "mode": self.mode,
            "margin_s": self.margin_s,
            "spans": len(self.spans),
            "channels": sorted({-1 if s.channel is None else s.channel for s in self.spans}),
        }
