"""Outcome prediction (issue 22): features of a call from its insights, a calibrated
logistic model trained on the organisation's own labelled calls, predictions with the
factors that moved them. Pure: no database; the caller reads and stores."""

from __future__ import annotations

from callvault.analysis.outcomes._features import BASE_FEATURES, call_features
from callvault.analysis.outcomes._model import (
    DEFAULT_C,
    MIN_CALLS,
    MIN_PER_CLASS,
    NEGATIVE,
    OUTCOMES,
    POSITIVE,
    Evaluation,
    Factor,
    OutcomeModel,
    Prediction,
    check_enough,
    evaluate,
    label_of,
    predict,
    probabilities,
    train,
)

__all__ = [
    "DEFAULT_C",
    "BASE_FEATURES",
    "MIN_CALLS",
    "MIN_PER_CLASS",
    "NEGATIVE",
    "OUTCOMES",
    "POSITIVE",
    "Evaluation",
    "Factor",
    "OutcomeModel",
    "Prediction",
    "call_features",
    "check_enough",
    "evaluate",
    "label_of",
    "predict",
    "probabilities",
    "train",
]
