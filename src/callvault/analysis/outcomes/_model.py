"""An outcome model trained on the organisation's own calls (issue 22).

Binary target: a positive outcome (`won`, `resolved`) against a negative one (`lost`,
`churned`); `open` is unlabelled. The model is scikit-learn's L2 logistic regression on
standardised features (C = DEFAULT_C), calibrated with Platt's sigmoid
(`CalibratedClassifierCV`, `method="sigmoid"`): each of k stratified folds fits a
regression on k-1 parts and a sigmoid on the held-out part, and the prediction is the
mean of the k calibrated probabilities. The model is kept as JSON (scaler, per-fold
coefficients and sigmoid parameters, feature names), never as a pickle: loading it
runs no code.

Confidence (stated method): the k fold models are k fits of the same model on different
data; their spread on this call (the standard deviation of their calibrated
probabilities, `sd`) is how much the answer depends on which calls it was trained on.
`confidence = max(0, 1 - 4 * sd)`, halved when the call lies outside what the model was
trained on (a standardised feature beyond +-4, `outside` names them).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from callvault.analysis.outcomes._features import BASE_FEATURES
from callvault.errors import InputError

__all__ = [
    "DEFAULT_C",
    "FORMAT",
    "MIN_CALLS",
    "MIN_PER_CLASS",
    "NEGATIVE",
    "OUTCOMES",
    "POSITIVE",
    "Evaluation",
    "Factor",
    "OutcomeModel",
    "Prediction",
    "check_enough",
    "evaluate",
    "label_of",
    "predict",
    "probabilities",
    "train",
]

FORMAT = 1
OUTCOMES = ("won", "lost", "churned", "resolved", "open")
POSITIVE = frozenset({"won", "resolved"})
NEGATIVE = frozenset({"lost", "churned"})
MIN_CALLS = 30
MIN_PER_CLASS = 10
# Tracker and topic indicators kept: those seen in at least this share of the calls,
# at most MAX_TERMS of them (the most frequent), so rare words do not become features.
MAX_TERMS = 20
MIN_TERM_SHARE = 0.05
_OUTSIDE_Z = 4.0
# The inverse L2 strength: chosen among 0.01, 0.1, 1 and 10 by bench/outcomes.py on one
# seed of its synthetic calls (few calls, many indicator features: strong shrinkage);
# the sigmoid calibration restores the scale of the probabilities.
DEFAULT_C = 0.01
_BINS = 10

Matrix = NDArray[np.float64]


def label_of(outcome: str) -> bool | None:
    """True for a positive outcome, False for a negative one, None for `open`."""
    if outcome in POSITIVE:
        return True
    if outcome in NEGATIVE:
        return False
    if outcome == "open":
        return None
    raise InputError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")


def check_enough(labels: Sequence[bool], *, min_calls: int, min_per_class: int) -> None:
    """InputError naming what is needed and what there is, when too few calls are
    labelled (or too few of the rarer outcome) to train and measure a model."""
    n, positives = len(labels), sum(1 for y in labels if y)
    negatives = n - positives
    if n < min_calls or min(positives, negatives) < min_per_class:
        raise InputError(
            f"needs at least {min_calls} labelled calls with {min_per_class} of each outcome "
            f"(won/resolved and lost/churned); has {n} ({positives} won/resolved, "
            f"{negatives} lost/churned)"
        )


@dataclass(frozen=True)
class Factor:
    """One feature's push on this call's log-odds of a positive outcome."""

    feature: str
    value: float
    effect: float
    direction: str  # "up" or "down"

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "value": round(self.value, 4),
            "effect": round(self.effect, 4),
            "direction": self.direction,
        }


@dataclass(frozen=True)
class Prediction:
    """P(positive outcome), the factors that moved it most, and how far to trust it."""

    probability: float
    factors: tuple[Factor, ...]
    confidence: float
    spread: float
    outside: tuple[str, ...]
    base_rate: float

    def to_json(self) -> dict[str, Any]:
        return {
            "probability": round(self.probability, 4),
            "confidence": round(self.confidence, 3),
            "confidence_method": "fold-spread",
            "spread": round(self.spread, 4),
            "outside_training": list(self.outside),
            "base_rate": round(self.base_rate, 4),
            "factors": [f.to_json() for f in self.factors],
        }


@dataclass(frozen=True)
class Evaluation:
    """Held-out measures (outer stratified k-fold): the model against a baseline that
    always predicts the training part's base rate."""

    folds: int
    n: int
    positives: int
    auc: float
    brier: float
    ece: float
    baseline_auc: float
    baseline_brier: float
    baseline_ece: float

    @property
    def beats_baseline(self) -> bool:
        """Whether the model's held-out Brier score is below the base rate's: when it is
        not, its predictions say no more than the share of won calls does."""
        return self.brier < self.baseline_brier

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()
        }
        return out | {"beats_baseline": self.beats_baseline}


@dataclass(frozen=True)
class _Fold:
    coef: tuple[float, ...]
    intercept: float
    a: float
    b: float


@dataclass(frozen=True)
class OutcomeModel:
    """A trained model: everything `predict` needs, as plain numbers."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    folds: tuple[_Fold, ...]
    n: int
    positives: int
    trained_at: str
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base_rate(self) -> float:
        return self.positives / self.n if self.n else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": "logistic-l2+sigmoid",
            "features": list(self.features),
            "scaler": {"mean": list(self.mean), "scale": list(self.scale)},
            "folds": [
                {"coef": list(f.coef), "intercept": f.intercept, "a": f.a, "b": f.b}
                for f in self.folds
            ],
            "n": self.n,
            "positives": self.positives,
            "trained_at": self.trained_at,
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutcomeModel:
        """A model from `to_json`; InputError naming the key when it is not one."""
        try:
            if data["format"] != FORMAT:
                raise InputError(f"outcome model format {data['format']!r} is not {FORMAT}")
            features = tuple(str(f) for f in data["features"])
            mean = tuple(float(v) for v in data["scaler"]["mean"])
            scale = tuple(float(v) for v in data["scaler"]["scale"])
            folds = tuple(
                _Fold(tuple(float(c) for c in f["coef"]), float(f["intercept"]), float(f["a"]),
                      float(f["b"]))
                for f in data["folds"]
            )  # fmt: skip
            model = cls(
                features, mean, scale, folds, int(data["n"]), int(data["positives"]),
                str(data["trained_at"]), dict(data.get("metrics") or {}),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"the stored outcome model is not valid JSON of a model: {exc}"
            ) from None
        width = len(features)
        if not folds or any(len(x) != width for x in (mean, scale, *(f.coef for f in folds))):
            raise InputError(
                "the stored outcome model's feature, scaler and coefficient sizes differ"
            )
        return model


def _vocabulary(samples: Sequence[Mapping[str, float]]) -> tuple[str, ...]:
    seen: Counter[str] = Counter()
    for sample in samples:
        seen.update(k for k, v in sample.items() if k not in BASE_FEATURES and v)
    least = max(2, math.ceil(MIN_TERM_SHARE * len(samples)))
    terms = [k for k, c in sorted(seen.items(), key=lambda kc: (-kc[1], kc[0])) if c >= least]
    return BASE_FEATURES + tuple(sorted(terms[:MAX_TERMS]))


def _matrix(samples: Sequence[Mapping[str, float]], features: Sequence[str]) -> Matrix:
    return np.array([[float(s.get(f, 0.0)) for f in features] for s in samples], dtype=np.float64)


def train(
    samples: Sequence[Mapping[str, float]],
    labels: Sequence[bool],
    *,
    min_calls: int = MIN_CALLS,
    min_per_class: int = MIN_PER_CLASS,
    c: float = DEFAULT_C,
    seed: int = 0,
) -> OutcomeModel:
    """Fit and calibrate a model on `samples` (features of calls, `call_features`) and
    their `labels` (True: positive outcome). Refused (InputError with the numbers) with
    fewer than `min_calls` labelled calls or `min_per_class` of the rarer outcome."""
    if len(samples) != len(labels):
        raise InputError(f"{len(samples)} samples but {len(labels)} labels")
    check_enough(labels, min_calls=min_calls, min_per_class=min_per_class)
    return _fit(samples, labels, c=c, seed=seed)


def _fit(
    samples: Sequence[Mapping[str, float]], labels: Sequence[bool], *, c: float, seed: int
) -> OutcomeModel:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    features = _vocabulary(samples)
    x = _matrix(samples, features)
    y = np.array(labels, dtype=np.int64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    minority = int(min(y.sum(), len(y) - y.sum()))
    # Each calibration fold needs both outcomes, a few of each.
    k = max(2, min(5, minority // 2))
    calibrated = CalibratedClassifierCV(
        LogisticRegression(C=c, max_iter=1000),
        method="sigmoid",
        cv=StratifiedKFold(k, shuffle=True, random_state=seed),
    )
    calibrated.fit(z, y)
    folds = []
    for part in calibrated.calibrated_classifiers_:
        regression, sigmoid = part.estimator, part.calibrators[0]
        folds.append(
            _Fold(
                tuple(float(v) for v in regression.coef_[0]),
                float(regression.intercept_[0]),
                float(sigmoid.a_),
                float(sigmoid.b_),
            )
        )
    return OutcomeModel(
        features,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(folds),
        len(labels),
        int(y.sum()),
        datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _fold_probabilities(model: OutcomeModel, z: Matrix) -> Matrix:
    """Shape (folds, calls): each fold's calibrated P(positive)."""
    coef = np.array([f.coef for f in model.folds])
    intercept = np.array([f.intercept for f in model.folds])[:, None]
    a = np.array([f.a for f in model.folds])[:, None]
    b = np.array([f.b for f in model.folds])[:, None]
    decision = coef @ z.T + intercept
    out: Matrix = 1.0 / (1.0 + np.exp(a * decision + b))
    return out


def _standardised(model: OutcomeModel, samples: Sequence[Mapping[str, float]]) -> Matrix:
    x = _matrix(samples, model.features)
    out: Matrix = (x - np.array(model.mean)) / np.array(model.scale)
    return out


def probabilities(model: OutcomeModel, samples: Sequence[Mapping[str, float]]) -> Matrix:
    """The calibrated P(positive) of each sample (mean over the fold models)."""
    out: Matrix = _fold_probabilities(model, _standardised(model, samples)).mean(axis=0)
    return out


def predict(model: OutcomeModel, features: Mapping[str, float], *, top: int = 5) -> Prediction:
    """P(positive outcome) of one call, its `top` factors and a confidence (module doc)."""
    z = _standardised(model, [features])
    per_fold = _fold_probabilities(model, z)[:, 0]
    probability = float(per_fold.mean())
    spread = float(per_fold.std())
    # A fold's calibrated log-odds are -(a * (coef . z + intercept) + b): feature i moves
    # them by -a * coef_i * z_i; the effect is that move averaged over the folds.
    slopes = np.array([[-f.a * w for w in f.coef] for f in model.folds]).mean(axis=0)
    effects = slopes * z[0]
    order = sorted(range(len(effects)), key=lambda i: -abs(effects[i]))
    factors = tuple(
        Factor(
            model.features[i],
            float(features.get(model.features[i], 0.0)),
            float(effects[i]),
            "up" if effects[i] > 0 else "down",
        )
        for i in order[:top]
        if effects[i] != 0
    )
    outside = tuple(model.features[i] for i in range(len(effects)) if abs(z[0, i]) > _OUTSIDE_Z)
    confidence = max(0.0, 1.0 - 4.0 * spread) * (0.5 if outside else 1.0)
    return Prediction(probability, factors, confidence, spread, outside, model.base_rate)


def _auc(y: NDArray[np.int64], p: Matrix) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def _ece(y: NDArray[np.int64], p: Matrix, bins: int = _BINS) -> float:
    """Expected calibration error: |mean predicted - observed rate| per equal-width bin,
    weighted by the bin's share of the calls."""
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            total += chosen.mean() * abs(float(p[chosen].mean()) - float(y[chosen].mean()))
    return total


def evaluate(
    samples: Sequence[Mapping[str, float]],
    labels: Sequence[bool],
    *,
    folds: int = 5,
    min_calls: int = MIN_CALLS,
    min_per_class: int = MIN_PER_CLASS,
    c: float = DEFAULT_C,
    seed: int = 0,
) -> Evaluation:
    """Held-out AUC, Brier score and ECE: an outer stratified k-fold trains the whole
    procedure (vocabulary, scaler, calibration) on k-1 parts and predicts the last; the
    baseline predicts the training parts' base rate for every call."""
    from sklearn.model_selection import StratifiedKFold

    check_enough(labels, min_calls=min_calls, min_per_class=min_per_class)
    y = np.array(labels, dtype=np.int64)
    k = max(2, min(folds, int(min(y.sum(), len(y) - y.sum())) // 2))
    predicted = np.zeros(len(y))
    baseline = np.zeros(len(y))
    for fit_on, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(y, y):
        model = _fit([samples[i] for i in fit_on], [labels[i] for i in fit_on], c=c, seed=seed)
        predicted[held] = probabilities(model, [samples[i] for i in held])
        baseline[held] = y[fit_on].mean()
    return Evaluation(
        folds=k,
        n=len(y),
        positives=int(y.sum()),
        auc=_auc(y, predicted),
        brier=float(np.mean((predicted - y) ** 2)),
        ece=_ece(y, predicted),
        baseline_auc=0.5,
        baseline_brier=float(np.mean((baseline - y) ** 2)),
        baseline_ece=_ece(y, baseline),
    )
