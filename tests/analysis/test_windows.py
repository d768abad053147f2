"""A long leg as windows cut in pauses (issue 17): nothing lost, nothing repeated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callvault.analysis import SAMPLE_RATE, AsrParams, decode_legs
from callvault.analysis._asr import vad_options
from callvault.analysis._windows import iter_windows, quietest_cut


def _blocks(samples: np.ndarray, size: int) -> list[np.ndarray]:
    return [samples[start : start + size] for start in range(0, samples.shape[0], size)]


@pytest.mark.parametrize("block", [1, 7, 1000, 5000])
def test_windows_join_up_exactly(block: int) -> None:
    samples = np.arange(10_000, dtype=np.float32)
    windows = list(
        iter_windows(_blocks(samples, block), window=3000, search=500, cut=lambda region: 100)
    )
    offsets = [offset for offset, _ in windows]
    assert offsets == [0, 2600, 5200, 7800]
    assert all(window.shape[0] == 2600 for _, window in windows[:-1])
    assert np.array_equal(np.concatenate([window for _, window in windows]), samples)
    for offset, window in windows:
        assert window[0] == offset


def test_a_short_leg_is_one_window_and_a_bad_cut_still_progresses() -> None:
    samples = np.ones(2999, dtype=np.float32)
    ((offset, window),) = iter_windows([samples], window=3000, search=500, cut=lambda r: 0)
    assert offset == 0 and window.shape[0] == 2999
    windows = list(iter_windows([np.ones(4000, np.float32)], window=1000, search=10, cut=len))
    assert [offset for offset, _ in windows] == [0, 1000, 2000, 3000]
    with pytest.raises(ValueError):
        list(iter_windows([samples], window=100, search=200, cut=len))


def test_the_cut_falls_in_the_longest_pause_between_speech(eval_data: Path) -> None:
    path = eval_data / "asr" / "en" / "jfk.flac"
    (speech,) = decode_legs(lambda: path.open("rb"))[:1]
    pause = np.zeros(4 * SAMPLE_RATE, np.float32)
    audio = np.concatenate([speech, pause, speech])
    at = quietest_cut(audio, vad_options(AsrParams())) / SAMPLE_RATE
    end = speech.shape[0] / SAMPLE_RATE
    assert end < at < end + 4.0
    silence = np.zeros(30 * SAMPLE_RATE, np.float32)
    middle = quietest_cut(silence, vad_options(AsrParams()))
    assert middle == pytest.approx(15 * SAMPLE_RATE, abs=512)
