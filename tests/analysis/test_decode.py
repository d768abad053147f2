from __future__ import annotations

import io

import numpy as np
import pytest

from _audio import encode, tone, wav_bytes
from callvault.analysis import SAMPLE_RATE, decode_legs, iter_blocks
from callvault.errors import UnsupportedMedia


def _peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * SAMPLE_RATE / samples.size)


@pytest.mark.parametrize("kind", ["wav-pcm", "wav-alaw", "flac", "ogg-opus", "m4a-aac"])
def test_stereo_keeps_channels_apart(kind: str) -> None:
    data = encode(kind, seconds=1.0, channels=2)  # 300 Hz left, 450 Hz right
    legs = decode_legs(lambda: io.BytesIO(data))
    assert len(legs) == 2
    assert all(leg.dtype == np.float32 and leg.ndim == 1 for leg in legs)
    assert legs[0].size == legs[1].size
    assert abs(legs[0].size - SAMPLE_RATE) < 0.05 * SAMPLE_RATE  # ~1 s whatever the input rate
    assert _peak_hz(legs[0]) == pytest.approx(300, abs=3)
    assert _peak_hz(legs[1]) == pytest.approx(450, abs=3)


def test_resamples_8k_exactly() -> None:
    data = wav_bytes(tone(2.0, 8000, 1), 8000)
    (leg,) = decode_legs(lambda: io.BytesIO(data))
    assert leg.size == 2 * SAMPLE_RATE
    assert float(np.max(np.abs(leg))) == pytest.approx(0.3, abs=0.05)


def test_four_channels_are_four_legs() -> None:
    data = wav_bytes(tone(0.5, 16000, 4), 16000)
    legs = decode_legs(lambda: io.BytesIO(data))
    assert [round(_peak_hz(leg)) for leg in legs] == [300, 450, 600, 750]


def test_blocks_are_bounded() -> None:
    data = wav_bytes(tone(3.0, 16000, 2), 16000)
    blocks = list(iter_blocks(lambda: io.BytesIO(data)))
    assert len(blocks) > 3
    assert max(block.shape[1] for block in blocks) <= 16000
    assert sum(block.shape[1] for block in blocks) == 3 * 16000


def test_not_audio() -> None:
    with pytest.raises(UnsupportedMedia) as info:
        decode_legs(lambda: io.BytesIO(b"this is not audio" * 100), name="notes.txt")
    assert str(info.value) == "notes.txt: not a recognised audio file"
