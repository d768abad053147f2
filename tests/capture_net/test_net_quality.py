"""The E-model MOS estimate (ITU-T G.107) for known inputs."""

from __future__ import annotations

import pytest

from callvault.capture.net import e_model_r, mos_from_r


def test_g711_without_loss_is_about_4_4() -> None:
    r = e_model_r("PCMU", 0.0, 0.0)
    # Ta = 20 ms packet + 20 ms jitter buffer: Id = 0.024 * 40 = 0.96.
    assert r == pytest.approx(93.2 - 0.96)
    assert mos_from_r(r) == pytest.approx(4.39, abs=0.01)


def test_rising_loss_lowers_the_mos() -> None:
    scores = [mos_from_r(e_model_r("PCMA", loss, 5.0)) for loss in (0, 1, 2, 5, 10, 20)]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)
    # G.113 Appendix I: G.711 without PLC has Bpl 4.3, so 1 % loss costs
    # Ie_eff = 95 * 1 / (1 + 4.3) = 17.9 points of R.
    assert e_model_r("PCMA", 1.0, 0.0) == pytest.approx(e_model_r("PCMA", 0.0, 0.0) - 95 / 5.3)


def test_g729_starts_lower_than_g711_and_resists_loss_better() -> None:
    assert e_model_r("G729", 0, 0) < e_model_r("PCMU", 0, 0)
    drop_g729 = e_model_r("G729", 0, 0) - e_model_r("G729", 3, 0)
    drop_g711 = e_model_r("PCMU", 0, 0) - e_model_r("PCMU", 3, 0)
    assert drop_g729 < drop_g711


def test_long_delay_from_jitter_costs_more_beyond_177_ms() -> None:
    below = e_model_r("PCMU", 0, 70.0)  # Ta = 20 + 140 = 160 ms
    above = e_model_r("PCMU", 0, 120.0)  # Ta = 260 ms
    assert below == pytest.approx(93.2 - 0.024 * 160)
    assert above == pytest.approx(93.2 - 0.024 * 260 - 0.11 * (260 - 177.3))


@pytest.mark.parametrize(
    ("r", "mos"), [(-5, 1.0), (0, 1.0), (50, 2.58), (80, 4.02), (100, 4.5), (120, 4.5)]
)
def test_r_to_mos_mapping(r: float, mos: float) -> None:
    assert mos_from_r(r) == pytest.approx(mos, abs=0.01)
