"""Make small audio files of every format callvault imports, with PyAV, at test time."""

from __future__ import annotations

import io
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# name: (container format, codec, sample format, rate, file suffix)
FORMATS: dict[str, tuple[str, str, str, int, str]] = {
    "wav-pcm": ("wav", "pcm_s16le", "s16", 16000, ".wav"),
    "wav-alaw": ("wav", "pcm_alaw", "s16", 8000, ".wav"),
    "wav-mulaw": ("wav", "pcm_mulaw", "s16", 8000, ".wav"),
    "flac": ("flac", "flac", "s16", 16000, ".flac"),
    "mp3": ("mp3", "libmp3lame", "s16p", 16000, ".mp3"),
    "ogg-opus": ("ogg", "libopus", "s16", 48000, ".ogg"),
    "m4a-aac": ("ipod", "aac", "fltp", 16000, ".m4a"),
    "webm-opus": ("webm", "libopus", "s16", 48000, ".webm"),
}


def tone(seconds: float, rate: int, channels: int, seed: int = 0) -> np.ndarray:
    """int16 samples, shape (frames, channels): a different tone and noise per channel."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    cols = [
        0.3 * np.sin(2 * np.pi * (300 + 150 * ch) * t) + 0.01 * rng.standard_normal(t.size)
        for ch in range(channels)
    ]
    return (np.stack(cols, axis=1) * 32767).astype("<i2")


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def encode(kind: str, seconds: float = 1.0, channels: int = 1, seed: int = 0) -> bytes:
    """Encoded audio of the given kind (a key of FORMATS)."""
    fmt, codec, sample_fmt, rate, _suffix = FORMATS[kind]
    samples = tone(seconds, rate, channels, seed)
    if kind == "wav-pcm":
        return wav_bytes(samples, rate)
    buffer = io.BytesIO()
    layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        stream.format = sample_fmt
        frame_size = stream.codec_context.frame_size or 1024
        planar = sample_fmt.endswith("p")
        pts = 0
        for start in range(0, samples.shape[0], frame_size):
            block = samples[start : start + frame_size]
            if block.shape[0] < frame_size and codec in {"aac", "libopus", "libmp3lame"}:
                block = np.pad(block, ((0, frame_size - block.shape[0]), (0, 0)))
            if sample_fmt == "fltp":
                array = (block.T.astype(np.float32) / 32768).copy()
            elif planar:
                array = block.T.copy()
            else:
                array = block.reshape(1, -1).copy()
            frame = av.AudioFrame.from_ndarray(array, format=sample_fmt, layout=layout)
            frame.sample_rate = rate
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            pts += block.shape[0]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def write(path: Path, kind: str, seconds: float = 1.0, channels: int = 1, seed: int = 0) -> Path:
    path.write_bytes(encode(kind, seconds, channels, seed))
    return path


def encode_with(codec: str, fmt: str = "wav", seconds: float = 0.5, rate: int = 8000) -> bytes:
    """Mono audio in a codec that tests/_audio.py does not offer (here: unsupported ones)."""
    samples = tone(seconds, rate, 1)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        stream.format = "s16"
        size = stream.codec_context.frame_size or 1024
        for start in range(0, samples.shape[0], size):
            block = samples[start : start + size]
            block = np.pad(block, ((0, size - block.shape[0]), (0, 0)))
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1).copy(), format="s16")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def silent_flac(seconds: float, rate: int = 8000, channels: int = 1, tone_at: float = -1) -> bytes:
    """FLAC of digital silence: ten hours of it are well under a megabyte, decoded they are
    gigabytes (issue 17). With `tone_at` >= 0, one second of tone starts there."""
    buffer = io.BytesIO()
    layout = {1: "mono", 2: "stereo"}[channels]
    block = rate * 60  # a minute per frame: few Python calls even for hours
    total = int(seconds * rate)
    beep = tone(1.0, rate, channels) if tone_at >= 0 else None
    start_tone = int(tone_at * rate)
    with av.open(buffer, mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout=layout)
        for start in range(0, total, block):
            samples = np.zeros((min(block, total - start), channels), dtype="<i2")
            if beep is not None and start <= start_tone < start + samples.shape[0]:
                at = start_tone - start
                part = beep[: samples.shape[0] - at]
                samples[at : at + part.shape[0]] = part
            frame = av.AudioFrame.from_ndarray(
                samples.reshape(1, -1).copy(), format="s16", layout=layout
            )
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def with_declared_frames(flac: bytes, frames: int) -> bytes:
    """`flac` whose STREAMINFO says it holds `frames` samples per channel (0: unknown),
    whatever it really holds: a header that is absent or lies."""
    data = bytearray(flac)
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    at = 8 + 10  # the 36-bit total ends STREAMINFO's 8 bytes at offset 10
    field = int.from_bytes(data[at : at + 8], "big")
    field = field & ~((1 << 36) - 1) | frames
    data[at : at + 8] = field.to_bytes(8, "big")
    return bytes(data)
