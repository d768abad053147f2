"""`callvault policy check`: may this call be recorded, with what consent and notice."""

from __future__ import annotations

import click

from callvault.capture.files import parse_language, parse_timestamp
from callvault.cli._common import Group, config_of, echo_json
from callvault.policy import DIRECTIONS
from callvault.services.policy import check_policy

__all__ = ["policy"]


@click.group(cls=Group)
def policy() -> None:
    """Recording rules, consent and notices."""


@policy.command(name="check")
@click.option(
    "--participant",
    "participants",
    multiple=True,
    required=True,
    metavar="E164",
    help="A party's number, +CC…; repeat for each party (the one who hears the notice first).",
)
@click.option("--direction", type=click.Choice(DIRECTIONS), help="Direction of the call.")
@click.option("--team", help="The agent's team.")
@click.option("--group", "user_group", help="The agent's user group.")
@click.option("--category", help="Category of the call (for example sales, hr, medical).")
@click.option("--at", "at_text", metavar="ISO8601", help="When the call takes place (default now).")
@click.option("--language", help="Language of the notice (BCP 47), instead of by country.")
@click.option("--organisation", help="The data controller (default CALLVAULT_ORGANISATION).")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.pass_context
def policy_check(
    ctx: click.Context,
    participants: tuple[str, ...],
    direction: str | None,
    team: str | None,
    user_group: str | None,
    category: str | None,
    at_text: str | None,
    language: str | None,
    organisation: str | None,
    as_json: bool,
) -> None:
    """Decide whether a call may be recorded: consent needed, notice, retention, reasons.

    Nothing is stored or audited: the answer depends only on the rules and the numbers.
    """
    decision = check_policy(
        config_of(ctx),
        participants,
        direction=direction,
        team=team,
        group=user_group,
        category=category,
        at=parse_timestamp(at_text, option="--at") if at_text else None,
        language=parse_language(language) if language else None,
        organisation=organisation,
    )
    if as_json:
        echo_json(decision.to_dict())
        return
    verdict = "record" if decision.record else "do not record"
    click.echo(f"{verdict}; consent: {decision.consent}; retention: {decision.retention_class}")
    if decision.legal_review:
        click.echo("legal review: a rule applied here is marked as needing legal review")
    for reason in decision.reasons:
        who = "" if reason.participant is None else f" (participant {reason.participant + 1})"
        click.echo(f"  - {reason.rule}{who}: {reason.said}")
    if decision.notice_required:
        click.echo(f"\nnotice ({decision.notice_language}):\n{decision.notice_text}")
