"""bench/anonymize.py's own arithmetic, without its models: the EER of known scores, and
utterances cut at the same places in an original and its anonymised copy."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # anonymize.py imports _common, _telephone and asr
    try:
        spec = importlib.util.spec_from_file_location("bench_anonymize", BENCH / "anonymize.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_eer_of_known_scores(bench: ModuleType) -> None:
    assert bench.eer([0.9, 0.8, 0.7], [0.1, 0.2, 0.3]) == 0.0
    assert bench.eer([0.1, 0.2], [0.8, 0.9]) == 1.0
    # One target below one non-target of four each: one error each way.
    assert bench.eer([0.9, 0.8, 0.7, 0.35], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.25)


def test_utterances_are_cut_alike_in_original_and_copy(bench: ModuleType) -> None:
    rate = bench.SR
    rng = np.random.default_rng(0)
    speech = rng.uniform(-0.5, 0.5, 11 * rate).astype(np.float32)
    speech[3 * rate : 4 * rate] = 0.0  # a silent second, dropped from both
    copy = -speech
    who, originals, copies = bench.utterances(
        ["a", "b"], [speech, speech[:rate]], [copy, copy[:rate]]
    )
    step = int(bench.PIECE_S * rate)
    # a: 10 s of speech, two 4 s pieces and the 2 s rest repeated; b: its 1 s repeated.
    assert who == ["a", "a", "a", "b"]
    assert all(p.size == step for p in originals + copies)
    for original, moved in zip(originals, copies, strict=True):
        assert np.array_equal(moved, -original)
    # The second piece starts 4 s of speech in: at 5 s, past the silent second.
    assert np.array_equal(originals[1], speech[5 * rate : 9 * rate])


def test_methods_are_the_settings_methods_with_mcadams_as_before(bench: ModuleType) -> None:
    from callvault.media import anonymize_voice, mcadams_coefficient

    found = dict(bench.methods())
    assert list(found) == [
        "McAdams, α per speaker 0.5-0.9",
        "McAdams, α = 0.8",
        "pitch-formant per speaker",
        "both (pitch-formant + McAdams) per speaker",
    ]
    rng = np.random.default_rng(1)
    audio = (np.sin(np.arange(8000) * 2 * np.pi * 150 / 8000) * 0.3).astype(np.float32)
    audio += rng.normal(0, 0.01, audio.size).astype(np.float32)
    # The McAdams row is the earlier baseline: α of the same seed, so its figures stay.
    alpha = mcadams_coefficient(b"bench:LJ")
    assert np.array_equal(
        found["McAdams, α per speaker 0.5-0.9"](audio, 8000, "LJ"),
        anonymize_voice(audio, 8000, alpha=alpha),
    )
    moved = found["pitch-formant per speaker"](audio, 8000, "LJ")
    assert moved.shape == audio.shape and not np.allclose(moved, audio, atol=0.01)
