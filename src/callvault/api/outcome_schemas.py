"""The API's bodies of outcomes and outcome prediction (issue 22), declared as `schemas`
declares the others (a body is byte for byte what the record's `to_json()` writes)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from callvault.api.schemas import _Out

__all__ = [
    "DealWarningList",
    "DealWarningOut",
    "FactorOut",
    "OutcomeIn",
    "OutcomeOut",
    "PredictionOut",
]


class OutcomeIn(BaseModel):
    """An outcome for a call, a contact or a deal (at least one of them). A CRM's
    webhook sends `"source": "crm"`."""

    outcome: Literal["won", "lost", "churned", "resolved", "open"]
    call_id: str | None = Field(default=None, min_length=1, max_length=64)
    contact_id: str | None = Field(default=None, min_length=1, max_length=64)
    deal: str | None = Field(default=None, min_length=1, max_length=128)
    note: str | None = Field(default=None, max_length=500)
    source: Literal["api", "crm"] = "api"


class OutcomeOut(_Out):
    id: str
    call_id: str | None
    contact_id: str | None
    deal: str | None
    outcome: str
    recorded_at: str
    recorded_by: str
    source: str
    note: str | None


class FactorOut(_Out):
    """One feature's push on the log-odds of a won/resolved outcome."""

    feature: str
    value: int | float
    effect: int | float
    direction: str


class PredictionOut(_Out):
    """P(won/resolved) of a call, its confidence (method `fold-spread`, docs/outcomes.md)
    and the factors that moved it most."""

    probability: int | float
    confidence: int | float
    confidence_method: str
    spread: int | float
    outside_training: list[str]
    base_rate: int | float
    factors: list[FactorOut]


class DealWarningOut(_Out):
    kind: str
    id: str
    call_ids: list[str]
    probability: int | float
    factors: list[FactorOut]


class DealWarningList(_Out):
    warnings: list[DealWarningOut]
