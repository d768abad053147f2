"""Audio payload decoders: one class per codec behind `get_decoder()`.

G.711 is decoded with a 256-entry lookup table in numpy (ITU-T G.711 expansion), several
times faster than going through ffmpeg for 160-byte packets. G.722, G.729(a) and Opus
use PyAV's ffmpeg decoders, fed one RTP payload per call so the decoder state follows the
stream. L16 is big-endian PCM (RFC 3551 section 4.5.11). Every decoder returns mono int16
at its own `sample_rate`; stereo payloads are averaged.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np
import numpy.typing as npt

from callvault.errors import UnsupportedMedia

__all__ = ["AUDIO_CODECS", "Decoder", "get_decoder"]

Pcm = npt.NDArray[np.int16]


def _ulaw_table() -> Pcm:
    table = np.zeros(256, dtype=np.int16)
    for byte in range(256):
        u = ~byte & 0xFF
        t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
        table[byte] = (0x84 - t) if u & 0x80 else (t - 0x84)
    return table


def _alaw_table() -> Pcm:
    table = np.zeros(256, dtype=np.int16)
    for byte in range(256):
        a = byte ^ 0x55
        t = (a & 0x0F) << 4
        segment = (a & 0x70) >> 4
        if segment == 0:
            t += 8
        else:
            t = (t + 0x108) << (segment - 1)
        table[byte] = t if a & 0x80 else -t
    return table


ULAW = _ulaw_table()
ALAW = _alaw_table()


class Decoder:
    """Decodes one stream's payloads, in order, to mono int16 at `sample_rate`."""

    name = ""
    sample_rate = 8000
    #: output samples per RTP timestamp unit (2 for G.722, whose RTP clock is 8000)
    samples_per_tick = 1.0

    def decode(self, payload: bytes) -> Pcm:
        raise NotImplementedError

    def silence_hint(self) -> int:
        """Samples of one typical packet, used when a payload cannot be decoded."""
        return self.sample_rate // 50


class G711Decoder(Decoder):
    def __init__(self, name: str) -> None:
        self.name = name
        self.table = ULAW if name == "PCMU" else ALAW

    def decode(self, payload: bytes) -> Pcm:
        result: Pcm = self.table.take(np.frombuffer(payload, dtype=np.uint8))
        return result


class L16Decoder(Decoder):
    name = "L16"

    def __init__(self, clock_rate: int, channels: int) -> None:
        self.sample_rate = clock_rate
        self._channels = max(1, channels)

    def decode(self, payload: bytes) -> Pcm:
        usable = len(payload) // (2 * self._channels) * 2 * self._channels
        pcm = np.frombuffer(payload[:usable], dtype=">i2").astype(np.int16)
        if self._channels > 1:
            mixed = pcm.reshape(-1, self._channels).astype(np.int32).mean(axis=1)
            pcm = mixed.astype(np.int16)
        result: Pcm = pcm
        return result


class FfmpegDecoder(Decoder):
    """A PyAV decoder; a payload it rejects yields silence of one packet, not an error."""

    def __init__(self, name: str, codec: str, sample_rate: int, layout: str, ticks: float):
        self.name = name
        self.sample_rate = sample_rate
        self.samples_per_tick = ticks
        self._codec = codec
        self._layout = layout
        self._context = self._open()
        self._last = sample_rate // 50

    def _open(self) -> Any:
        context: Any = av.CodecContext.create(self._codec, "r")
        context.sample_rate = self.sample_rate
        context.layout = self._layout
        return context

    def decode(self, payload: bytes) -> Pcm:
        try:
            frames = self._context.decode(av.Packet(payload))
        except (av.error.FFmpegError, ValueError):
            self._context = self._open()  # a corrupt payload can poison the state
            return np.zeros(self._last, dtype=np.int16)
        chunks = []
        for frame in frames:
            array = frame.to_ndarray()
            if frame.format.is_planar:
                mono = array.mean(axis=0) if array.shape[0] > 1 else array[0]
            else:
                channels = len(frame.layout.channels)
                mono = array.reshape(-1, channels).mean(axis=1) if channels > 1 else array[0]
            if np.issubdtype(mono.dtype, np.floating):
                mono = np.clip(mono * 32767.0, -32768, 32767)
            chunks.append(np.asarray(mono).astype(np.int16))
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        out = np.concatenate(chunks)
        self._last = len(out) or self._last
        return out

    def silence_hint(self) -> int:
        return self._last


#: codec names (upper case, as in SDP rtpmap) that `get_decoder` can decode
AUDIO_CODECS = ("PCMU", "PCMA", "G722", "G729", "OPUS", "L16")


def get_decoder(name: str, clock_rate: int, channels: int = 1) -> Decoder:
    """A fresh decoder for an RTP payload format named as in an SDP rtpmap."""
    key = name.upper()
    if key in ("PCMU", "PCMA"):
        return G711Decoder(key)
    if key == "L16":
        return L16Decoder(clock_rate, channels)
    if key == "G722":
        return FfmpegDecoder("G722", "g722", 16000, "mono", 2.0)
    if key in ("G729", "G729A"):
        return FfmpegDecoder("G729", "g729", 8000, "mono", 1.0)
    if key == "OPUS":
        # RFC 7587: the RTP clock is always 48000 and the rtpmap always says /2.
        return FfmpegDecoder("OPUS", "opus", 48000, "mono", 1.0)
    raise UnsupportedMedia(
        f"RTP payload format {name}/{clock_rate} cannot be decoded; supported are "
        + ", ".join(AUDIO_CODECS)
    )
