"""Edits of decoded audio, and 16-bit PCM in and out: what `Vault.rewrite_audio` does to
a recording (a channel silenced, the end cut off). Knows nothing about calls.

Samples are int16 arrays of shape (channels, frames). Decoding keeps the stream's own
rate and channel layout, so a PCM source comes out bit-exact and an edit of one channel
leaves the others sample-identical.
"""

from __future__ import annotations

import abc
import contextlib
import io
import math
import struct
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import av
import numpy as np

from callvault.errors import InputError, UnsupportedMedia

__all__ = [
    "WAV_CODEC",
    "WAV_CONTAINER",
    "AudioEdit",
    "CutAt",
    "SilenceChannels",
    "WavSource",
    "decode_pcm",
    "iter_wav",
    "wav_header",
]

# What the probe calls a 16-bit PCM WAV file.
WAV_CONTAINER = "wav"
WAV_CODEC = "pcm_s16le"
_WAV_HEADER = 44
_WAV_LIMIT = 0xFFFFFFFF - 36  # the RIFF size field is 32 bits


# -- edits -------------------------------------------------------------------------------


class AudioEdit(abc.ABC):
    """A change to decoded audio: int16 samples of shape (channels, frames) in, out."""

    @abc.abstractmethod
    def validate(self, channels: int, frames: int, sample_rate: int) -> None:
        """Raise InputError when the edit does not fit a recording of this shape."""

    @abc.abstractmethod
    def apply(self, pcm: np.ndarray, sample_rate: int) -> np.ndarray: ...

    @abc.abstractmethod
    def to_json(self) -> dict[str, Any]:
        """What was done, for the audit entry: a name and numbers, never content."""


@dataclass(frozen=True)
class SilenceChannels(AudioEdit):
    """Every sample of `channels` set to zero; the other channels are left bit-exact."""

    channels: tuple[int, ...]

    def validate(self, channels: int, frames: int, sample_rate: int) -> None:
        if not self.channels:
            raise InputError("no channel to silence; name at least one")
        for channel in self.channels:
            if not 0 <= channel < channels:
                raise InputError(
                    f"channel {channel} does not exist; the recording has {channels} channel(s)"
                )
        if len(set(self.channels)) >= channels:
            raise InputError(
                "silencing every channel would leave nothing of the recording; erase the call "
                "instead"
            )

    def apply(self, pcm: np.ndarray, sample_rate: int) -> np.ndarray:
        out = pcm.copy()
        out[list(self.channels), :] = 0
        return out

    def to_json(self) -> dict[str, Any]:
        return {"edit": "silence-channels", "channels": list(self.channels)}


@dataclass(frozen=True)
class CutAt(AudioEdit):
    """Everything from `seconds` on removed: frame round(seconds * rate) is the first gone."""

    seconds: float

    def frame(self, sample_rate: int) -> int:
        return max(0, round(self.seconds * sample_rate))

    def validate(self, channels: int, frames: int, sample_rate: int) -> None:
        if not math.isfinite(self.seconds):
            raise InputError(f"the cut at {self.seconds} s is not a number of seconds")
        if self.frame(sample_rate) <= 0:
            raise InputError(
                f"a cut at {self.seconds} s would leave nothing of the recording; erase the "
                "call instead"
            )

    def apply(self, pcm: np.ndarray, sample_rate: int) -> np.ndarray:
        return pcm[:, : self.frame(sample_rate)]

    def to_json(self) -> dict[str, Any]:
        return {"edit": "cut", "at_s": self.seconds}


# -- audio -------------------------------------------------------------------------------


def decode_pcm(source: BinaryIO, *, name: str) -> tuple[np.ndarray, int]:
    """The int16 samples of a recording, shape (channels, frames), and its sample rate.

    Decoded at the stream's own rate and channel layout: PCM sources come out bit-exact.
    """
    blocks: list[np.ndarray] = []
    rate = 0
    for out in _resampled(
        source, name=name, resampler=lambda r: av.AudioResampler(format="s16p", rate=r)
    ):
        rate = out.sample_rate
        blocks.append(out.to_ndarray())
    if not blocks or not rate:
        raise UnsupportedMedia(f"{name}: the stored recording contains no audio samples")
    return np.concatenate(blocks, axis=1).astype(np.int16, copy=False), rate


def iter_wav(
    source: BinaryIO, *, name: str, sample_rate: int, channels: int, frames: int
) -> Iterator[bytes]:
    """A 16-bit PCM WAV file of the recording in `source`, decoded and sent one frame of
    the codec at a time (issue 17: `decode_pcm` held a whole original in memory). The
    header is written first from what the recording's record says (`sample_rate`,
    `channels`, `frames`), so the body is exactly `frames` long: cut there, or padded
    with silence where a lossy codec decodes a few frames short. PCM comes out bit-exact.
    """
    yield wav_header(channels, sample_rate, frames)
    left = frames * channels * 2
    layout = "mono" if channels == 1 else "stereo" if channels == 2 else None
    decoded = _resampled(
        source,
        name=name,
        resampler=lambda _: av.AudioResampler(format="s16", layout=layout, rate=sample_rate),
    )
    with contextlib.closing(decoded):  # stopping early closes the container at once
        for out in decoded:
            data = bytes(out.planes[0])[: out.samples * channels * 2][:left]
            left -= len(data)
            yield data
            if left <= 0:
                break
    while left > 0:
        pad = min(left, 1 << 16)
        left -= pad
        yield bytes(pad)


def _resampled(
    source: BinaryIO, *, name: str, resampler: Callable[[int], av.AudioResampler]
) -> Generator[av.AudioFrame, None, None]:
    """The first audio stream of `source` decoded and passed through `resampler(rate)`
    (made at the first frame; `rate` is the stream's own, else that frame's), flushed at
    the end. Raises `UnsupportedMedia` naming `name`."""
    try:
        container = av.open(source, mode="r")
    except av.error.FFmpegError:
        raise UnsupportedMedia(f"{name}: the stored audio cannot be decoded") from None
    with container:
        if not container.streams.audio:
            raise UnsupportedMedia(f"{name}: the stored file has no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.rate or 0)
        current: av.AudioResampler | None = None
        try:
            for frame in container.decode(stream):
                if current is None:
                    current = resampler(rate or frame.sample_rate)
                yield from current.resample(frame)
            if current is not None:
                yield from current.resample(None)
        except av.error.FFmpegError:
            raise UnsupportedMedia(f"{name}: the stored audio is corrupt") from None


def wav_header(channels: int, sample_rate: int, frames: int) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV file (RIFF, WAVE_FORMAT_PCM)."""
    data = frames * channels * 2
    if data > _WAV_LIMIT:
        raise InputError(
            f"the rewritten audio would be {data} bytes, more than a WAV file can hold"
        )
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * channels * 2, channels * 2, 16
        )
        + b"data"
        + struct.pack("<I", data)
    )


class WavSource(io.RawIOBase):
    """A 16-bit PCM WAV file read from samples in memory, without a second copy."""

    def __init__(self, pcm: np.ndarray, sample_rate: int) -> None:
        channels, frames = pcm.shape
        self._header = wav_header(channels, sample_rate, frames)
        self._samples = np.ascontiguousarray(pcm.T, dtype="<i2")
        self._body = self._samples.data.cast("B")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        written = 0
        if self._pos < _WAV_HEADER:
            part = self._header[self._pos : self._pos + len(target)]
            target[: len(part)] = part
            written = len(part)
            self._pos += written
        start = self._pos - _WAV_HEADER
        if self._pos >= _WAV_HEADER and written < len(target):
            part_view = self._body[start : start + len(target) - written]
            target[written : written + len(part_view)] = part_view
            written += len(part_view)
            self._pos += len(part_view)
        return written
