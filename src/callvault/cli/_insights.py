"""`callvault insights`: correct what the insight stages got wrong, and see the history."""

from __future__ import annotations

import click

from callvault.cli._common import Group, config_of, echo_json
from callvault.services import CorrectionRecord, insight_history, open_context
from callvault.services.insight_corrections import SECTIONS, add_action, correct_insight

__all__ = ["insights"]


@click.group(cls=Group)
def insights() -> None:
    """Corrections of a call's insights (they survive re-processing)."""


def _print(record: CorrectionRecord, as_json: bool) -> None:
    if as_json:
        echo_json(record.to_json())
    else:
        click.echo(f"correction {record.id}: {record.key}")


@insights.command(name="correct")
@click.argument("call_id")
@click.argument("section", type=click.Choice(sorted(SECTIONS)))
@click.argument("index", type=click.IntRange(0))
@click.argument("field")
@click.argument("value")
@click.option("--reason", required=True, help="Why (kept in the history and the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def insights_correct(
    ctx: click.Context,
    call_id: str,
    section: str,
    index: int,
    field: str,
    value: str,
    reason: str,
    as_json: bool,
) -> None:
    """Set FIELD of item INDEX of SECTION to VALUE, as `show --json` lists the items.

    For example: `insights correct CALL actions 0 due 2026-03-06 --reason "said Friday"`,
    `insights correct CALL trackers 2 removed true --reason "not an objection"`.
    """
    with open_context(config_of(ctx)) as svc:
        record = correct_insight(svc, call_id, section, index, field, value, reason=reason)
    _print(record, as_json)


@insights.command(name="add-action")
@click.argument("call_id")
@click.option("--utterance", required=True, type=click.IntRange(0), help="Where it was said.")
@click.option("--owner", required=True, help="Who is to do it (agent, customer, a name).")
@click.option("--text", required=True, help="What is to be done.")
@click.option("--due", help="When, ISO 8601 (2026-03-06 or 2026-03-06T12:00Z).")
@click.option("--reason", required=True, help="Why (kept in the history and the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def insights_add_action(
    ctx: click.Context,
    call_id: str,
    utterance: int,
    owner: str,
    text: str,
    due: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """Add an action item the stages missed."""
    with open_context(config_of(ctx)) as svc:
        record = add_action(
            svc, call_id, utterance=utterance, owner=owner, text=text, due=due, reason=reason
        )
    _print(record, as_json)


@insights.command(name="history")
@click.argument("call_id")
@click.option("--purpose", help="Why you are looking (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def insights_history(ctx: click.Context, call_id: str, purpose: str | None, as_json: bool) -> None:
    """Every correction of the call's insights: old and new value, who, when, why."""
    with open_context(config_of(ctx)) as svc:
        records = insight_history(svc, call_id, purpose=purpose)
    if as_json:
        echo_json({"corrections": [r.to_json() for r in records]})
        return
    for r in records:
        click.echo(
            f"{r.created_at.isoformat()}  {r.actor}  {r.key}: {r.old} -> {r.new}  ({r.reason})"
        )
    click.echo(f"{len(records)} correction(s)")
