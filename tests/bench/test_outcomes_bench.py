"""bench/outcomes.py: its synthetic calls go through the product's features, and a small
run measures a model that beats the base rate where the signal is plain (n = 400)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # the bench imports _common as a script does
    try:
        spec = importlib.util.spec_from_file_location("bench_outcomes", BENCH / "outcomes.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_synthetic_calls_and_a_small_measure(bench: ModuleType) -> None:
    samples, labels, chances = bench.dataset(400, 11)
    assert len(samples) == len(labels) == len(chances) == 400
    assert 0.3 < sum(labels) / 400 < 0.6
    assert {"customer_sentiment_end", "next_steps", "topic:renewal"} <= set().union(*samples)
    measured, oracle = bench.measure(400, 11, bench.DEFAULT_C)
    assert measured.n == 400 and measured.folds == 5
    assert 0.5 < measured.auc <= oracle + 0.05
    assert measured.brier < measured.baseline_brier
