"""Outcome prediction, pure: features from insights, refusal with the numbers, calibrated
probabilities, factors that follow a planted effect, and a JSON round trip."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from callvault.analysis.outcomes import (
    OutcomeModel,
    call_features,
    evaluate,
    label_of,
    predict,
    train,
)
from callvault.errors import InputError


def insights(*, talk: float, sentiment_end: float, steps: int, price: int) -> dict[str, Any]:
    """An insights document with the sections the features read."""
    return {
        "insights": {
            "metrics": {
                "duration": 300.0,
                "interactivity": 6.0,
                "silence_share": 0.2,
                "speakers": [
                    {"role": "agent", "talk_share": talk, "question_rate": 1.0,
                     "longest_monologue": {"duration": 40.0}, "patience": 0.5,
                     "interruption_count": 1},
                    {"role": "customer", "talk_share": 1 - talk, "questions": 3},
                ],
            },
            "sentiment": {"items": [{"score": sentiment_end}],
                          "customer": {"start": 0.0, "end": sentiment_end, "trend": sentiment_end}},
            "trackers": {"counts": {"objection.price": price}},
            "keywords": {"keywords": [{"text": "Renewal"}]},
            "actions": {"items": [{"kind": "commitment"}] * steps},
        }
    }  # fmt: skip


def synthetic(n: int, seed: int) -> tuple[list[dict[str, float]], list[bool]]:
    """Calls whose outcome follows the customer's closing sentiment (planted), with noise."""
    rng = random.Random(seed)
    samples, labels = [], []
    for _ in range(n):
        end = rng.uniform(-1, 1)
        doc = insights(
            talk=rng.uniform(0.3, 0.8), sentiment_end=end, steps=rng.randint(0, 3),
            price=rng.randint(0, 2),
        )  # fmt: skip
        samples.append(call_features(doc))
        labels.append(rng.random() < 1 / (1 + pow(2.718, -4 * end)))
    return samples, labels


def test_features_read_each_section() -> None:
    features = call_features(insights(talk=0.6, sentiment_end=-0.4, steps=2, price=3))
    assert features["duration_min"] == 5.0
    assert features["agent_talk_share"] == 0.6
    assert features["agent_longest_monologue_s"] == 40.0
    assert features["customer_questions"] == 3.0
    assert features["customer_sentiment_end"] == -0.4
    assert features["next_steps"] == 2.0 and features["commitments"] == 2.0
    assert features["tracker:objection.price"] == 3.0
    assert features["topic:renewal"] == 1.0
    assert call_features({})["duration_min"] == 0.0


def test_refuses_with_the_numbers() -> None:
    samples, labels = synthetic(12, 1)
    labels = [True] * 9 + [False] * 3
    with pytest.raises(InputError) as caught:
        train(samples, labels)
    assert str(caught.value) == (
        "needs at least 30 labelled calls with 10 of each outcome (won/resolved and "
        "lost/churned); has 12 (9 won/resolved, 3 lost/churned)"
    )
    samples, _ = synthetic(40, 2)
    with pytest.raises(InputError, match=r"has 40 \(35 won/resolved, 5 lost/churned\)"):
        train(samples, [True] * 35 + [False] * 5)


def test_labels() -> None:
    assert label_of("won") is True and label_of("resolved") is True
    assert label_of("lost") is False and label_of("churned") is False
    assert label_of("open") is None
    with pytest.raises(InputError, match="'maybe' is not one of"):
        label_of("maybe")


def test_calibrated_probabilities_and_planted_factor() -> None:
    samples, labels = synthetic(200, 3)
    model = train(samples, labels)
    happy = predict(model, call_features(insights(talk=0.5, sentiment_end=0.9, steps=1, price=1)))
    sad = predict(model, call_features(insights(talk=0.5, sentiment_end=-0.9, steps=1, price=1)))
    for p in (happy, sad):
        assert 0.0 <= p.probability <= 1.0 and 0.0 <= p.confidence <= 1.0
    assert happy.probability > 0.7 > 0.3 > sad.probability
    top = {f.feature: f for f in happy.factors[:3]}
    sentiment = [n for n in top if n.startswith("customer_sentiment") or n == "sentiment_mean"]
    assert sentiment, happy.factors
    assert all(top[n].direction == "up" and top[n].effect > 0 for n in sentiment)
    assert {f.direction for f in sad.factors[:1]} == {"down"}


def test_json_round_trip_predicts_the_same() -> None:
    samples, labels = synthetic(80, 4)
    model = train(samples, labels)
    again = OutcomeModel.from_json(json.loads(json.dumps(model.to_json())))
    for sample in samples[:10]:
        assert predict(again, sample) == predict(model, sample)
    broken = model.to_json() | {"format": 9}
    with pytest.raises(InputError, match="format 9"):
        OutcomeModel.from_json(broken)


def test_held_out_evaluation_beats_the_base_rate() -> None:
    samples, labels = synthetic(300, 5)
    result = evaluate(samples, labels)
    assert result.folds == 5 and result.n == 300
    assert result.auc > 0.75 and result.baseline_auc == 0.5
    assert result.brier < result.baseline_brier
    assert 0.0 <= result.ece < 0.1
