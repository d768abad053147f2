"""Decode a recording into one float32 mono array per channel (each channel is a leg).

PyAV decodes and resamples in bounded blocks; the planar float format (`fltp`) keeps the
channels apart, so a two-leg call recorded as stereo stays two legs. Whole arrays are
only built for a recording known to be short (`decode_whole`); a long one is read as
blocks (`iter_blocks`) and never held whole (issue 17: ten hours of 8 kHz audio is
2.3 GB per leg at 16 kHz). Decoding stops with `RecordingTooLong` once it passes
`max_seconds`, whatever the file's header said.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Iterator
from typing import BinaryIO

import av
import numpy as np

from callvault.errors import RecordingTooLong, UnsupportedMedia

__all__ = ["SAMPLE_RATE", "decode_legs", "decode_whole", "iter_blocks"]

# Whisper and Silero VAD both take 16 kHz input.
SAMPLE_RATE = 16000


def iter_blocks(
    open_source: Callable[[], BinaryIO],
    *,
    sample_rate: int = SAMPLE_RATE,
    name: str = "recording",
    max_seconds: float | None = None,
) -> Generator[np.ndarray, None, None]:
    """Yield float32 blocks of shape (channels, samples) at `sample_rate`, in order.

    Each block is one resampled frame (a few thousand samples), so memory stays bounded
    however long the recording is. Raises `UnsupportedMedia` naming `name`, and
    `RecordingTooLong` before yielding a block that ends past `max_seconds`.
    """
    # A resampler can add a few samples of delay: 100 ms of slack keeps a recording
    # that ingest found exactly at the limit decodable.
    limit = math.inf if max_seconds is None else max_seconds * sample_rate + sample_rate / 10
    samples = 0
    for block in _iter_resampled(open_source, sample_rate=sample_rate, name=name):
        samples += block.shape[1]
        if samples > limit:
            raise RecordingTooLong(
                name, limit_s=float(max_seconds or 0), outcome="decoding stopped there"
            )
        yield block


def _iter_resampled(
    open_source: Callable[[], BinaryIO], *, sample_rate: int, name: str
) -> Iterator[np.ndarray]:
    with open_source() as stream:
        try:
            container = av.open(stream, mode="r")
        except av.error.FFmpegError:
            raise UnsupportedMedia(f"{name}: not a recognised audio file") from None
        with container:
            if not container.streams.audio:
                raise UnsupportedMedia(f"{name}: the file has no audio stream")
            audio = container.streams.audio[0]
            # No layout given: the resampler keeps the input's channel layout.
            resampler = av.AudioResampler(format="fltp", rate=sample_rate)
            try:
                for frame in container.decode(audio):
                    for out in resampler.resample(frame):
                        yield out.to_ndarray()
                for out in resampler.resample(None):  # flush the resampler's delay line
                    yield out.to_ndarray()
            except av.error.FFmpegError:
                raise UnsupportedMedia(
                    f"{name}: the audio is corrupt and cannot be decoded; convert it to WAV or FLAC"
                ) from None


def decode_legs(
    open_source: Callable[[], BinaryIO],
    *,
    sample_rate: int = SAMPLE_RATE,
    name: str = "recording",
    max_seconds: float | None = None,
) -> list[np.ndarray]:
    """One float32 mono array per channel, resampled to `sample_rate`.

    Raises `UnsupportedMedia` when the source holds no decodable audio and
    `RecordingTooLong` past `max_seconds`. Holds the whole recording: for audio of any
    length use `decode_whole` or `iter_blocks`.
    """
    legs = decode_whole(
        open_source,
        up_to_s=math.inf,
        sample_rate=sample_rate,
        name=name,
        max_seconds=max_seconds,
    )
    assert legs is not None  # no recording is longer than forever
    return legs


def decode_whole(
    open_source: Callable[[], BinaryIO],
    *,
    up_to_s: float,
    sample_rate: int = SAMPLE_RATE,
    name: str = "recording",
    max_seconds: float | None = None,
) -> list[np.ndarray] | None:
    """One float32 mono array per channel when the recording is at most `up_to_s`
    seconds long; None, with the blocks read so far dropped, as soon as it is longer.

    Memory stays within `up_to_s` of audio whatever the file holds. Raises like
    `decode_legs`.
    """
    limit = up_to_s * sample_rate
    parts: list[list[np.ndarray]] = []
    total = 0
    blocks = iter_blocks(open_source, sample_rate=sample_rate, name=name, max_seconds=max_seconds)
    try:
        for block in blocks:
            total += block.shape[1]
            if total > limit:
                return None
            if not parts:
                parts = [[] for _ in range(block.shape[0])]
            for channel, samples in enumerate(block):
                parts[channel].append(samples)
    finally:
        blocks.close()  # closes the container at once, not when collected
    if not parts:
        raise UnsupportedMedia(f"{name}: the recording contains no audio samples")
    return [np.concatenate(chunks).astype(np.float32, copy=False) for chunks in parts]
