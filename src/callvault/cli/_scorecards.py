"""`callvault scorecard`: score a call against a rubric, show it, override a score, check
a rubric file (docs/scorecards.md)."""

from __future__ import annotations

from pathlib import Path

import click

from callvault.cli._common import Group, config_of, echo_json
from callvault.services import open_context
from callvault.services.scorecards import (
    CallScorecard,
    check_rubric_file,
    override_score,
    read_scorecard,
    score_call,
)

__all__ = ["scorecard"]


@click.group(cls=Group)
def scorecard() -> None:
    """Scorecards: each call scored per question of a rubric, with its evidence."""


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _print(card: CallScorecard) -> None:
    sc = card.scorecard
    click.echo(
        f"call {card.call_id}: rubric {sc.rubric} v{sc.version}, overall "
        f"{_score(sc.overall)} of {sc.scale_max} ({sc.unscored} without enough evidence)"
    )
    for section in sc.sections:
        click.echo(f"  {section.title}: {_score(section.score)} (weight {section.weight:g})")
        for q in section.questions:
            mark = " (overridden)" if q.overridden else ""
            score = "not enough evidence" if q.score is None else str(q.score)
            click.echo(f"    {q.id}: {score}{mark}, confidence {q.confidence:.2f} - {q.text}")
            for i in q.evidence:
                line = card.evidence.get(i)
                if line is not None:
                    click.echo(f"      [{line.start:.1f}s] {line.speaker}: {line.text}")
    for entry in card.history:
        click.echo(
            f"  override {entry.question}: {entry.old} -> {entry.new} by {entry.actor} at "
            f"{entry.created_at.isoformat()}: {entry.reason}"
        )


@scorecard.command(name="show")
@click.argument("call_id")
@click.option("--purpose", help="Why you read it (kept in the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def scorecard_show(ctx: click.Context, call_id: str, purpose: str | None, as_json: bool) -> None:
    """The call's scorecard with the utterances behind each score and the overrides."""
    with open_context(config_of(ctx)) as svc:
        card = read_scorecard(svc, call_id, purpose=purpose)
    if as_json:
        echo_json(card.to_json())
    else:
        _print(card)


@scorecard.command(name="score")
@click.argument("call_id")
@click.option(
    "--rubric",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A rubric TOML file (default: CALLVAULT_SCORECARD_RUBRIC).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def scorecard_score(ctx: click.Context, call_id: str, rubric: Path | None, as_json: bool) -> None:
    """Score a processed call again (reviewers' overrides of the same rubric still apply)."""
    with open_context(config_of(ctx)) as svc:
        card = score_call(svc, call_id, rubric=rubric)
    if as_json:
        echo_json(card.to_json())
    else:
        _print(card)


@scorecard.command(name="override")
@click.argument("call_id")
@click.argument("question")
@click.argument("score", type=int)
@click.option("--reason", required=True, help="Why (kept in the history and the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def scorecard_override(
    ctx: click.Context, call_id: str, question: str, score: int, reason: str, as_json: bool
) -> None:
    """Set QUESTION's score to SCORE; kept with its history, applied after a re-score."""
    with open_context(config_of(ctx)) as svc:
        done = override_score(svc, call_id, question, score, reason=reason)
    if as_json:
        echo_json(done.to_json())
    else:
        click.echo(f"override {done.id}: {question} {done.old} -> {done.new}")


@scorecard.command(name="check")
@click.argument("rubric", type=click.Path(path_type=Path, dir_okay=False))
def scorecard_check(rubric: Path) -> None:
    """Validate a rubric file; an error names the section, question and key at fault."""
    parsed = check_rubric_file(rubric)
    count = sum(len(s.questions) for s in parsed.sections)
    click.echo(
        f"rubric {parsed.name} v{parsed.version}: {len(parsed.sections)} sections, "
        f"{count} questions, scale {parsed.scale_min}..{parsed.scale_max}"
    )
