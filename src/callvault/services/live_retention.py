"""How long the live board keeps a call: `live_keep_minutes` after it ended.

`prune_live` is the periodic `live.prune` job (`services.jobs`): it deletes the board's
rows of calls that ended more than `live_keep_minutes` ago (their words, alerts and
acknowledgements; the stored call keeps its own transcript), and of calls never closed
(a monitor that died without closing) once they started `STALE_AFTER` before that.
Partials need no pruning: each leg keeps only its newest one (`vault._live`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callvault.services._context import Context

__all__ = ["PRUNE_ACTOR", "STALE_AFTER", "prune_live"]

PRUNE_ACTOR = "system:live"
# A call longer than this with no close is taken for one whose monitor died.
STALE_AFTER = timedelta(hours=12)


def prune_live(ctx: Context, *, now: datetime | None = None) -> int:
    """Delete the live board's rows that are past keeping; how many calls went. One
    audit entry when any did (the count only)."""
    now = now or datetime.now(UTC)
    keep = timedelta(minutes=ctx.config.live_keep_minutes)
    with ctx.vault.transaction(actor=PRUNE_ACTOR, purpose="live board retention") as tx:
        pruned = ctx.vault.live.prune(
            ended_before=now - keep, stale_before=now - keep - STALE_AFTER, tx=tx
        )
        if pruned:
            tx.audit(
                "live.prune",
                "live_board",
                None,
                details={"calls": pruned, "keep_minutes": ctx.config.live_keep_minutes},
            )
    return pruned
