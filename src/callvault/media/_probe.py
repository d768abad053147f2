"""Open an audio file with PyAV, decode it once, and describe it.

Decoding every packet is how truncated or corrupt audio is caught before anything is
stored; for PCM this costs well under a second per hour of audio. PyAV derives a WAV's
duration from the file size, so a cut-off WAV is found by reading its RIFF header.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import av

from callvault.errors import RecordingTooLong, UnsupportedMedia

__all__ = ["SUPPORTED_CODECS", "AudioInfo", "declared_seconds", "probe_audio"]

# ffmpeg decoder names callvault accepts, by family.
SUPPORTED_CODECS: frozenset[str] = frozenset(
    {
        "pcm_s16le",
        "pcm_s16be",
        "pcm_s24le",
        "pcm_s32le",
        "pcm_f32le",
        "pcm_f64le",
        "pcm_u8",
        "pcm_alaw",
        "pcm_mulaw",
        "flac",
        "mp3",
        "mp3float",
        "opus",
        "libopus",
        "aac",
        "vorbis",
        "alac",
    }
)


@dataclass(frozen=True)
class AudioInfo:
    """What one audio file holds: container, codec and its decoded length."""

    container: str
    codec: str
    sample_rate: int
    channels: int
    frames: int  # samples per channel actually decoded

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _riff_data_shortfall(stream: BinaryIO, file_size: int) -> int:
    """Bytes missing from a RIFF/WAVE `data` chunk, 0 when complete or not a WAV.

    Walks the chunk headers by seeking, so a large chunk before `data` (LIST, bext,
    iXML, embedded art) does not hide a truncation.
    """
    head = stream.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    pos = 12
    while pos + 8 <= file_size:
        stream.seek(pos)
        header = stream.read(8)
        if len(header) < 8:
            return 0
        size: int = struct.unpack_from("<I", header, 4)[0]
        if header[:4] == b"data":
            if size in (0, 0xFFFFFFFF):  # written by a streaming encoder: size unknown
                return 0
            return max(0, pos + 8 + size - file_size)
        pos += 8 + size + (size & 1)  # chunks are word aligned (RIFF spec)
    return 0


def _declared_seconds(container: Any, audio: Any) -> float | None:
    """The length the container or stream header announces, if any."""
    if audio.duration is not None and audio.time_base is not None:
        return float(audio.duration * audio.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000  # AV_TIME_BASE
    return None


def declared_seconds(open_source: Callable[[], BinaryIO]) -> float | None:
    """The length the container or its audio stream announces, None when it says none
    or cannot be opened (then decoding reports why). For progress only: it may lie."""
    with open_source() as stream:
        try:
            container = av.open(stream, mode="r")
        except av.error.FFmpegError:
            return None
        with container:
            if not container.streams.audio:
                return None
            return _declared_seconds(container, container.streams.audio[0])


def probe_audio(
    open_source: Callable[[], BinaryIO],
    *,
    name: str,
    size: int,
    max_seconds: float | None = None,
) -> AudioInfo:
    """Decode the first audio stream of the source and return what it holds.

    `open_source` returns a fresh binary stream each time; `name` is how errors refer
    to the input. Raises `UnsupportedMedia` with a one-line reason, and
    `RecordingTooLong` when the audio is longer than `max_seconds`: from the length the
    header announces before anything is decoded, else as soon as the decoded samples
    pass it (a header can be absent or lie), so a long file costs no more than the limit.
    """
    if size == 0:
        raise UnsupportedMedia(f"{name}: the file is empty; give a recording with audio in it")
    with open_source() as stream:
        shortfall = _riff_data_shortfall(stream, size)
    if shortfall:
        raise UnsupportedMedia(
            f"{name}: the WAV file is truncated ({shortfall} bytes of audio data are missing); "
            "copy the complete file again"
        )
    with open_source() as stream:
        try:
            container = av.open(stream, mode="r")
        except av.error.FFmpegError:
            raise UnsupportedMedia(
                f"{name}: not a recognised audio file; callvault imports WAV, FLAC, MP3, "
                "OGG/Opus, M4A/AAC and WebM"
            ) from None
        with container:
            if not container.streams.audio:
                raise UnsupportedMedia(
                    f"{name}: the file has no audio stream; give a recording with sound in it"
                )
            audio = container.streams.audio[0]
            codec = audio.codec_context.name
            if codec not in SUPPORTED_CODECS:
                raise UnsupportedMedia(
                    f"{name}: the audio codec {codec!r} is not supported; convert it to "
                    "WAV (PCM) or FLAC first"
                )
            declared = _declared_seconds(container, audio)
            if max_seconds is not None and declared is not None and declared > max_seconds:
                raise RecordingTooLong(name, limit_s=max_seconds, declared_s=declared)
            limit = math.inf if max_seconds is None else max_seconds
            frames = 0
            try:
                for packet in container.demux(audio):
                    for frame in packet.decode():
                        frames += frame.samples
                        if frames > limit * frame.sample_rate:
                            raise RecordingTooLong(name, limit_s=limit)
            except av.error.FFmpegError:
                raise UnsupportedMedia(
                    f"{name}: the audio is corrupt and cannot be decoded past "
                    f"{frames / max(audio.rate or 1, 1):.1f} s; copy the complete file again "
                    "or convert it to WAV or FLAC"
                ) from None
            rate = int(audio.rate or 0)
            channels = int(audio.codec_context.channels or 0)
            format_name = container.format.name
    if frames == 0 or rate == 0 or channels == 0:
        raise UnsupportedMedia(
            f"{name}: the recording contains no audio samples; check that it was recorded "
            "and copied completely"
        )
    decoded = frames / rate
    # Decoders conceal damage and demuxers stop at a cut without an error; a file that
    # decodes to much less than its header announces is damaged. The margin allows for
    # encoder padding and for durations estimated from the bit rate.
    if declared is not None and decoded < 0.9 * declared - 0.2:
        raise UnsupportedMedia(
            f"{name}: the audio is truncated or corrupt: the file announces {declared:.1f} s "
            f"but only {decoded:.1f} s can be decoded; copy the complete file again"
        )
    return AudioInfo(
        container=format_name, codec=codec, sample_rate=rate, channels=channels, frames=frames
    )
