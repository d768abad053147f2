"""Decode a recording into one float32 mono array per channel (each channel is a leg).

PyAV decodes and resamples in bounded blocks; the planar float format (`fltp`) keeps the
channels apart, so a two-leg call recorded as stereo stays two legs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

import av
import numpy as np

from callvault.errors import UnsupportedMedia

__all__ = ["SAMPLE_RATE", "decode_legs", "iter_blocks"]

# Whisper and Silero VAD both take 16 kHz input.
SAMPLE_RATE = 16000


def iter_blocks(
    open_source: Callable[[], BinaryIO], *, sample_rate: int = SAMPLE_RATE, name: str = "recording"
) -> Iterator[np.ndarray]:
    """Yield float32 blocks of shape (channels, samples) at `sample_rate`, in order.

    Each block is one resampled frame (a few thousand samples), so memory stays bounded
    however long the recording is. Raises `UnsupportedMedia` naming `name`.
    """
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
    open_source: Callable[[], BinaryIO], *, sample_rate: int = SAMPLE_RATE, name: str = "recording"
) -> list[np.ndarray]:
    """One float32 mono array per channel, resampled to `sample_rate`.

    Raises `UnsupportedMedia` when the source holds no decodable audio.
    """
    parts: list[list[np.ndarray]] = []
    for block in iter_blocks(open_source, sample_rate=sample_rate, name=name):
        if not parts:
            parts = [[] for _ in range(block.shape[0])]
        for channel, samples in enumerate(block):
            parts[channel].append(samples)
    if not parts:
        raise UnsupportedMedia(f"{name}: the recording contains no audio samples")
    return [np.concatenate(chunks).astype(np.float32, copy=False) for chunks in parts]
