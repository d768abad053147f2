from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest

from _audio import encode, silent_flac, tone, wav_bytes, with_declared_frames
from callvault.analysis import SAMPLE_RATE, decode_legs, decode_whole, iter_blocks
from callvault.errors import RecordingTooLong, UnsupportedMedia


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


# -- long recordings (issue 17) -------------------------------------------------------------


@pytest.mark.parametrize("declared", [0, 8000], ids=["no-length", "one-second-lie"])
def test_decoding_stops_past_the_limit_whatever_the_header_says(declared: int) -> None:
    data = with_declared_frames(silent_flac(600), declared)
    seen = 0
    with pytest.raises(RecordingTooLong) as info:
        for block in iter_blocks(lambda: io.BytesIO(data), name="call 7", max_seconds=90):
            seen += block.shape[1]
    assert str(info.value) == (
        "call 7: the audio goes on past the limit of 0:01:30 (90 s, CALLVAULT_MAX_DURATION); "
        "split the recording or raise CALLVAULT_MAX_DURATION; decoding stopped there"
    )
    assert seen <= 90.1 * SAMPLE_RATE
    with pytest.raises(RecordingTooLong):
        decode_legs(lambda: io.BytesIO(data), max_seconds=90)
    assert decode_legs(lambda: io.BytesIO(data), max_seconds=600)[0].size == 600 * SAMPLE_RATE


def test_decode_whole_gives_up_on_a_long_recording_without_holding_it() -> None:
    data = silent_flac(30 * 60)
    whole = 30 * 60 * SAMPLE_RATE * 4  # bytes of the float32 leg decode_legs would build
    tracemalloc.start()
    try:
        legs = decode_whole(lambda: io.BytesIO(data), up_to_s=60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert legs is None
    assert peak < whole / 20, f"{peak / 2**20:.1f} MiB"
    (short,) = decode_whole(lambda: io.BytesIO(data), up_to_s=30 * 60) or []
    assert short.size == 30 * 60 * SAMPLE_RATE and not short.any()
