"""Telephone versions of benchmark audio: what a contact centre's recorder hands callvault.

A call recorded on a trunk is 8 kHz, has passed a G.711 codec (mu-law in North America
and Japan, A-law elsewhere) and often carries some line noise; a recorder keeps each
party on a channel of its own. `telephone` turns one party's clean speech into that:

1. resampled to 8 kHz (polyphase filter with anti-aliasing, as a gateway would);
2. band-limited to the telephone band, 300-3400 Hz (ITU-T G.712's pass band), with a
   fourth-order Butterworth band-pass;
3. optionally mixed with line noise: white noise shaped by the same band-pass, at a fixed
   level in dBFS, present on the whole channel (the listening leg is never digital
   silence on a real line);
4. written as a stereo WAV whose samples are G.711 (`pcm_mulaw` or `pcm_alaw`), so the
   codec round trip happens where it does in real life: in the file callvault imports.

Run as a script it writes one such file from a WAV: ``python bench/_telephone.py IN OUT
[--law ulaw|alaw] [--noise-dbfs -45]`` (mono in: the same signal on both channels is
*not* what it makes; give two files with ``--right``).
"""

from __future__ import annotations

import argparse
from math import gcd
from pathlib import Path

import av
import numpy as np
from scipy.signal import butter, resample_poly, sosfilt

RATE = 8000
BAND = (300.0, 3400.0)
LAWS = {"ulaw": "pcm_mulaw", "alaw": "pcm_alaw"}
_SOS = butter(4, BAND, btype="bandpass", fs=RATE, output="sos")


def resample(audio: np.ndarray, rate: int, to: int = RATE) -> np.ndarray:
    """float32 mono `audio` at `rate` as float32 mono at `to` (polyphase, anti-aliased)."""
    if rate == to:
        return audio.astype(np.float32)
    step = gcd(rate, to)
    return resample_poly(audio.astype(np.float64), to // step, rate // step).astype(np.float32)


def band_limit(audio: np.ndarray) -> np.ndarray:
    """8 kHz `audio` through the 300-3400 Hz telephone band-pass."""
    return sosfilt(_SOS, audio).astype(np.float32)


def line_noise(samples: int, dbfs: float, seed: int) -> np.ndarray:
    """Band-limited white noise of `samples` at an RMS level of `dbfs`."""
    noise = band_limit(np.random.default_rng(seed).standard_normal(samples).astype(np.float32))
    rms = float(np.sqrt(np.mean(np.square(noise)))) or 1.0
    return (noise / rms * 10 ** (dbfs / 20)).astype(np.float32)


def telephone(
    audio: np.ndarray, rate: int, *, noise_dbfs: float | None = None, seed: int = 0
) -> np.ndarray:
    """One party's speech at `rate` as an 8 kHz telephone-band channel (float32)."""
    channel = band_limit(resample(audio, rate))
    if noise_dbfs is not None:
        channel = channel + line_noise(channel.shape[0], noise_dbfs, seed)
    return np.clip(channel, -1.0, 1.0).astype(np.float32)


def write_g711(path: Path, channels: np.ndarray, law: str = "ulaw") -> None:
    """(channels, samples) float32 at 8 kHz as a WAV of G.711 samples (`law`)."""
    if law not in LAWS:
        raise ValueError(f"law must be one of {sorted(LAWS)}, not {law!r}")
    pcm = (np.clip(channels, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    layout = "stereo" if channels.shape[0] == 2 else "mono"
    with av.open(str(path), "w", format="wav") as container:
        stream = container.add_stream(LAWS[law], rate=RATE, layout=layout)
        step = RATE  # one second a frame
        for start in range(0, pcm.shape[1], step):
            block = np.ascontiguousarray(pcm[:, start : start + step].T).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout=layout)
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def telephone_call(
    channels: np.ndarray,
    rate: int,
    path: Path,
    law: str = "ulaw",
    *,
    noise_dbfs: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Write the parties of `channels` ((channels, samples) float at `rate`, one party a
    channel) as a G.711 WAV at `path`, each through `telephone` (channel i's noise seeded
    with `seed` + i). Returns the telephone speech *before* the line noise, float32 at
    8 kHz: what a listener would call speech, for a benchmark to tell speech from noise."""
    speech = np.stack([telephone(channel, rate) for channel in channels])
    mixed = speech
    if noise_dbfs is not None:
        noise = [line_noise(speech.shape[1], noise_dbfs, seed + i) for i in range(len(speech))]
        mixed = np.clip(speech + np.stack(noise), -1.0, 1.0).astype(np.float32)
    write_g711(path, mixed, law)
    return speech


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """The first channel of an audio file as float32, with its sample rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        # Planar float keeps the channels apart whatever the file's sample format.
        resampler = av.AudioResampler(format="fltp", rate=rate)
        chunks = [
            out.to_ndarray()
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
    return np.concatenate(chunks, axis=1)[0].astype(np.float32), rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("left", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--right", type=Path, help="the other party (default: silence)")
    parser.add_argument("--law", choices=sorted(LAWS), default="ulaw")
    parser.add_argument("--noise-dbfs", type=float)
    args = parser.parse_args()
    left = telephone(*read_mono(args.left), noise_dbfs=args.noise_dbfs, seed=1)
    if args.right:
        right = telephone(*read_mono(args.right), noise_dbfs=args.noise_dbfs, seed=2)
    else:
        right = telephone(np.zeros_like(left), RATE, noise_dbfs=args.noise_dbfs, seed=2)
    n = max(left.shape[0], right.shape[0])
    both = np.zeros((2, n), np.float32)
    both[0, : left.shape[0]] = left
    both[1, : right.shape[0]] = right
    write_g711(args.out, both, args.law)


if __name__ == "__main__":
    main()
