"""RedactSpans: spans muted or bleeped on their channel, everything else sample-identical."""

from __future__ import annotations

import numpy as np
import pytest

from callvault.errors import InputError
from callvault.media import BLEEP_HZ, AudioSpan, RedactSpans

RATE = 8000


def pcm(seconds: float = 2.0, channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(-8000, 8000, size=(channels, int(seconds * RATE)), dtype=np.int16)


def test_mute_cuts_the_span_with_its_margin_on_one_channel() -> None:
    before = pcm()
    edit = RedactSpans((AudioSpan(0.5, 1.0, 1),), "mute", 0.1)
    edit.validate(2, before.shape[1], RATE)
    after = edit.apply(before, RATE)
    assert not after[1, int(0.4 * RATE) : int(1.1 * RATE)].any()
    assert np.array_equal(after[1, : int(0.4 * RATE)], before[1, : int(0.4 * RATE)])
    assert np.array_equal(after[1, int(1.1 * RATE) + 1 :], before[1, int(1.1 * RATE) + 1 :])
    assert np.array_equal(after[0], before[0])
    assert edit.seconds(RATE, before.shape[1]) == pytest.approx(0.7)
    assert edit.to_json() == {
        "edit": "redact",
        "mode": "mute",
        "margin_s": 0.1,
        "spans": 1,
        "channels": [1],
    }


def test_every_channel_and_the_edges_of_the_recording() -> None:
    before = pcm()
    after = RedactSpans((AudioSpan(0.0, 0.05, None), AudioSpan(1.9, 2.0, None)), "mute", 0.2).apply(
        before, RATE
    )
    assert not after[:, : int(0.25 * RATE)].any()
    assert not after[:, int(1.7 * RATE) :].any()
    assert np.array_equal(
        after[:, int(0.26 * RATE) : int(1.69 * RATE)],
        before[:, int(0.26 * RATE) : int(1.69 * RATE)],
    )


def test_bleep_is_a_tone_at_minus_20_dbfs() -> None:
    after = RedactSpans((AudioSpan(0.5, 1.5, 0),), "bleep", 0.0).apply(pcm(), RATE)
    tone = after[0, int(0.5 * RATE) : int(1.5 * RATE)].astype(np.float64) / 32768
    assert 20 * np.log10(np.sqrt(np.mean(tone**2)) * np.sqrt(2)) == pytest.approx(-20, abs=0.1)
    spectrum = np.abs(np.fft.rfft(tone))
    assert np.fft.rfftfreq(tone.size, 1 / RATE)[spectrum.argmax()] == pytest.approx(BLEEP_HZ)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (RedactSpans((), "hush"), "redaction mode 'hush' is unknown; use one of mute, bleep"),
        (RedactSpans((), "mute", -1.0), "the redaction margin -1.0 s must be 0 or more"),
        (RedactSpans((AudioSpan(2.0, 1.0),)), "the redaction span 2.000-1.000 s is not a span"),
        (RedactSpans((AudioSpan(0.0, 1.0, 2),)), "channel 2 does not exist; the recording has 2"),
        (RedactSpans((AudioSpan(float("nan"), 1.0),)), "a time that is not a number"),
    ],
)
def test_bad_edits_are_refused(edit: RedactSpans, message: str) -> None:
    with pytest.raises(InputError, match=message):
        edit.validate(2, RATE, RATE)
