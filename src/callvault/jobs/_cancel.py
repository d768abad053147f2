"""Cancelling the work queued for calls that are going: in the erasure's own transaction.

A call's erasure and the end of its jobs commit together (issue 17): a worker running one
loses its lease and drops its result, and no job is left queued for a call that no
longer exists. The service that erases calls calls this with its unit of work's session.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from callvault.jobs._models import JobRow
from callvault.jobs._records import ACTIVE, call_gone_values

__all__ = ["cancel_jobs_of"]


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """`values` in slices short enough for one SQL IN list on every backend."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def cancel_jobs_of(
    session: Session, call_ids: Iterable[str], *, now: datetime | None = None
) -> None:
    """Cancel the queued and running jobs of `call_ids` within `session` (the erasure's
    transaction); their `last_error` says the call was erased (`CALL_GONE`)."""
    values = call_gone_values(now or datetime.now(UTC))
    for chunk in _chunks(list(dict.fromkeys(call_ids))):
        session.execute(
            update(JobRow)
            .where(JobRow.call_id.in_(chunk), JobRow.status.in_(ACTIVE))
            .values(**values)
        )
