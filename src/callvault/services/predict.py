"""Outcome prediction (issue 22): train a calibrated model on the organisation's own
labelled calls, predict one call, and warn of open deals whose recent calls look like
lost ones.

Training reads the insights of every labelled call the caller may read (audited reads
through the vault); a restricted or quarantined call, one without insights and, for a
principal, one out of their reach are left out and counted. Before the model is kept it
is measured on held-out calls (`analysis.outcomes.evaluate`: outer stratified k-fold)
against a baseline that always predicts the base rate; the measures go with the model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callvault.analysis.outcomes import (
    Evaluation,
    Factor,
    OutcomeModel,
    Prediction,
    call_features,
    check_enough,
    evaluate,
    label_of,
    predict,
    train,
)
from callvault.errors import InputError, NotFound, Quarantined, Restricted
from callvault.services._context import Context
from callvault.services.access import CALLS_INSIGHTS, can
from callvault.services.outcomes import resolve_labels
from callvault.services.reach import call_scope

__all__ = [
    "DealWarning",
    "ModelReport",
    "deal_warnings",
    "predict_call",
    "refuse_unskilled",
    "train_outcome_model",
]

log = logging.getLogger("callvault.services")

RECENT_CALLS = 3


@dataclass(frozen=True)
class ModelReport:
    """What `train_outcome_model` kept and how it measured."""

    model_id: str
    n: int
    positives: int
    features: int
    skipped: Mapping[str, int]
    evaluation: Evaluation
    trained_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "calls": self.n,
            "positives": self.positives,
            "features": self.features,
            "skipped": dict(self.skipped),
            "evaluation": self.evaluation.to_json(),
            "trained_at": self.trained_at,
        }


@dataclass(frozen=True)
class DealWarning:
    """An open deal (or a contact with an open outcome) whose recent calls look lost."""

    kind: str  # "deal" or "contact"
    id: str
    call_ids: tuple[str, ...]
    probability: float
    factors: tuple[Factor, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "call_ids": list(self.call_ids),
            "probability": round(self.probability, 4),
            "factors": [f.to_json() for f in self.factors],
        }


def _features(ctx: Context, call_id: str, purpose: str | None) -> dict[str, float] | None:
    """The call's features, or None when it has no insights or may not be read now."""
    who = ctx.principal
    if who is not None and not can(who, CALLS_INSIGHTS, call_scope(ctx, call_id)):
        return None
    try:
        raw = ctx.vault.artifacts.read_insights(call_id, actor=ctx.actor, purpose=purpose)
    except (Restricted, Quarantined):
        return None
    return None if raw is None else call_features(json.loads(raw))


def train_outcome_model(ctx: Context, *, purpose: str | None = None) -> ModelReport:
    """Train, measure and keep an outcome model (module doc). InputError naming what it
    needs and what it has when too few calls are labelled."""
    config = ctx.config
    labels = resolve_labels(ctx, purpose=purpose).calls
    restricted = ctx.vault.restrictions.restricted_calls(sorted(labels))
    skipped = {"restricted": 0, "unreadable": 0}
    samples: list[dict[str, float]] = []
    targets: list[bool] = []
    who = ctx.principal
    readable = [
        call_id
        for call_id in sorted(labels)
        if call_id not in restricted
        and (who is None or can(who, CALLS_INSIGHTS, call_scope(ctx, call_id)))
    ]
    documents = ctx.vault.artifacts.read_insights_many(readable, actor=ctx.actor, purpose=purpose)
    for call_id, outcome in sorted(labels.items()):
        if call_id in restricted:
            skipped["restricted"] += 1
            continue
        raw = documents.get(call_id)
        if raw is None:
            skipped["unreadable"] += 1
            continue
        samples.append(call_features(json.loads(raw)))
        targets.append(bool(label_of(outcome)))
    limits = {"min_calls": config.outcome_min_calls, "min_per_class": config.outcome_min_per_class}
    try:
        check_enough(targets, **limits)
    except InputError as exc:
        left_out = skipped["restricted"] + skipped["unreadable"]
        hint = f"; {left_out} labelled calls were left out (restricted or without insights)"
        raise InputError(f"{exc}{hint if left_out else ''}") from None
    measured = evaluate(samples, targets, **limits)
    model = train(samples, targets, **limits)
    stored = OutcomeModel(
        model.features, model.mean, model.scale, model.folds, model.n, model.positives,
        model.trained_at, measured.to_json(),
    )  # fmt: skip
    body = json.dumps(stored.to_json(), separators=(",", ":")).encode()
    model_id = ctx.vault.outcomes.store_model(body, actor=ctx.actor)
    log.info("outcome model %s trained on %d calls", model_id, model.n)
    return ModelReport(
        model_id, model.n, model.positives, len(model.features), skipped, measured,
        model.trained_at,
    )  # fmt: skip


def _model(ctx: Context, purpose: str | None) -> OutcomeModel:
    found = ctx.vault.outcomes.load_model(actor=ctx.actor, purpose=purpose)
    if found is None:
        raise NotFound("no outcome model has been trained yet; run `callvault predict train`")
    model = OutcomeModel.from_json(json.loads(found[1]))
    refuse_unskilled(model)
    return model


def refuse_unskilled(model: OutcomeModel) -> None:
    """InputError when the model's held-out Brier score was not below the base rate's:
    its probabilities would say no more than the share of won calls does, dressed as a
    prediction of this call (a model kept before the measure existed passes)."""
    measured = model.metrics
    if "brier" not in measured or measured.get("beats_baseline", True):
        return
    raise InputError(
        "the outcome model did no better than always predicting the base rate on held-out "
        f"calls (Brier {measured['brier']:.3f} against {measured['baseline_brier']:.3f}, "
        f"AUC {measured['auc']:.2f}, {model.n} calls); no prediction is made from it. "
        "Record the outcomes of more calls and run `callvault predict train` again"
    )


def predict_call(ctx: Context, call_id: str, *, purpose: str | None = None) -> Prediction:
    """P(won/resolved) of one call with the factors that moved it and a confidence.
    NotFound without a model or when the call has no insights it may read."""
    model = _model(ctx, purpose)
    features = _features(ctx, call_id, purpose)
    if features is None:
        raise NotFound(
            f"call {call_id} has no insights that can be read; process it first "
            "(a restricted call needs an art. 18(2) purpose)"
        )
    return predict(model, features)


def deal_warnings(
    ctx: Context, *, threshold: float | None = None, purpose: str | None = None
) -> list[DealWarning]:
    """Open deals and contacts whose last RECENT_CALLS readable calls have a mean
    predicted P(won/resolved) below `threshold` (default: the setting), lowest first;
    the factors are those of the newest of those calls."""
    limit = ctx.config.outcome_warning_threshold if threshold is None else threshold
    if not 0.0 <= limit <= 1.0:
        raise InputError(f"threshold {limit} is not a number from 0 to 1")
    model = _model(ctx, purpose)
    labels = resolve_labels(ctx, purpose=purpose)
    out = []
    for kind, groups in (("deal", labels.open_deals), ("contact", labels.open_contacts)):
        for key, call_ids in sorted(groups.items()):
            predictions = []
            for call_id in call_ids:
                features = _features(ctx, call_id, purpose)
                if features is not None:
                    predictions.append((call_id, predict(model, features)))
                if len(predictions) == RECENT_CALLS:
                    break
            if not predictions:
                continue
            mean = sum(p.probability for _, p in predictions) / len(predictions)
            if mean < limit:
                ids = tuple(c for c, _ in predictions)
                out.append(DealWarning(kind, key, ids, mean, predictions[0][1].factors))
    return sorted(out, key=lambda w: (w.probability, w.kind, w.id))
