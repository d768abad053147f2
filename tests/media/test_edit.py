"""Audio edits and 16-bit PCM in and out (no database)."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from _audio import encode, tone, wav_bytes
from callvault.errors import InputError, UnsupportedMedia
from callvault.media._edit import CutAt, SilenceChannels, WavSource, decode_pcm, iter_wav


def test_wav_round_trip_is_bit_exact() -> None:
    samples = tone(0.3, 8000, 3, seed=1)  # (frames, channels)
    pcm, rate = decode_pcm(io.BytesIO(wav_bytes(samples, 8000)), name="t")
    assert rate == 8000 and np.array_equal(pcm, samples.T)
    written = io.BufferedReader(WavSource(pcm, rate)).read()
    assert written == wav_bytes(samples, 8000)
    with wave.open(io.BytesIO(written)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (3, 8000, 2400)


def test_edits() -> None:
    pcm = tone(0.5, 8000, 2, seed=2).T
    silenced = SilenceChannels((1,)).apply(pcm, 8000)
    assert not silenced[1].any() and np.array_equal(silenced[0], pcm[0])
    assert pcm[1].any()  # the input is left alone
    assert CutAt(0.1251).apply(pcm, 8000).shape == (2, 1001)
    assert CutAt(0.1251).to_json() == {"edit": "cut", "at_s": 0.1251}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (SilenceChannels(()), "no channel to silence; name at least one"),
        (SilenceChannels((2,)), "channel 2 does not exist; the recording has 2 channel(s)"),
        (
            SilenceChannels((0, 1)),
            "silencing every channel would leave nothing of the recording; erase the call instead",
        ),
        (
            CutAt(0.00001),
            "a cut at 1e-05 s would leave nothing of the recording; erase the call instead",
        ),
        (CutAt(float("inf")), "the cut at inf s is not a number of seconds"),
    ],
)
def test_edits_that_do_not_fit_are_refused(edit: SilenceChannels | CutAt, message: str) -> None:
    with pytest.raises(InputError) as refused:
        edit.validate(2, 4000, 8000)
    assert str(refused.value) == message


def test_undecodable_audio_is_refused() -> None:
    with pytest.raises(UnsupportedMedia, match="t: the stored audio cannot be decoded"):
        decode_pcm(io.BytesIO(b"not audio at all" * 10), name="t")


@pytest.mark.parametrize(("kind", "channels"), [("wav-pcm", 2), ("wav-pcm", 1), ("flac", 2)])
def test_iter_wav_streams_what_decode_pcm_gives(kind: str, channels: int) -> None:
    # issue 17: the original is sent as WAV a codec frame at a time, not decoded whole
    data = encode(kind, seconds=3.0, channels=channels, seed=3)
    pcm, rate = decode_pcm(io.BytesIO(data), name="x")
    frames = pcm.shape[1]
    pieces = list(
        iter_wav(io.BytesIO(data), name="x", sample_rate=rate, channels=channels, frames=frames)
    )
    assert max(len(piece) for piece in pieces) < 64 * 1024
    whole = b"".join(pieces)
    assert whole == io.BufferedReader(WavSource(pcm, rate)).read()
    # The record's frame count rules: a shorter decode is padded, a longer one cut.
    longer = b"".join(
        iter_wav(io.BytesIO(data), name="x", sample_rate=rate, channels=channels, frames=frames + 5)
    )
    assert longer[44:] == whole[44:] + bytes(5 * channels * 2)
    shorter = b"".join(
        iter_wav(io.BytesIO(data), name="x", sample_rate=rate, channels=channels, frames=100)
    )
    with wave.open(io.BytesIO(shorter)) as wav:
        assert wav.getnframes() == 100 and len(wav.readframes(1000)) == 100 * channels * 2
