"""`callvault team` and `callvault export-training` (issue 22): the anonymous team
dashboard and the de-identified training export. The operator acts in CALLVAULT_ROLE:
the export is for admin and compliance only; the dashboard shows a rep or a manager
only the persons within their reach."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table

from callvault.capture import parse_timestamp
from callvault.cli._common import config_of, console, echo_json
from callvault.errors import InputError
from callvault.services import (
    GroupFigures,
    TeamDashboard,
    export_training,
    open_context,
    team_dashboard,
)

__all__ = ["export_training_command", "team"]


def _date(value: str | None, option: str) -> datetime | None:
    """A date (taken as 00:00 UTC) or a date and time with a zone."""
    if value is None:
        return None
    if len(value) == 10:
        try:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        except ValueError:
            raise InputError(f"{option} {value!r} is not a date; for example 2026-11-23") from None
    return parse_timestamp(value, option=option)


def _shown(value: float | None, digits: int = 2, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.0f} %" if percent else f"{value:.{digits}f}"


def _row(table: Table, g: GroupFigures) -> None:
    if g.suppressed is not None:
        table.add_row(g.kind, g.name, "-", "-", "-", "-", "-", g.suppressed)
        return
    how = "exact" if g.calls.mechanism == "exact" else f"noise, epsilon {g.epsilon:g}"
    table.add_row(
        g.kind,
        g.name,
        _shown(g.calls.value, 0),
        _shown(g.talk_ratio.value, percent=True),
        _shown(g.patience.value),
        _shown(g.objections.value, 0),
        _shown(g.objections_handled.value, percent=True),
        how,
    )


def _render(board: TeamDashboard) -> None:
    table = Table(
        "kind", "name", "calls", "talk ratio", "patience (s)", "objections", "handled", "release"
    )
    for g in (*board.persons, *board.groups):
        _row(table, g)
    out = console()
    out.print(table)
    eps = "exact figures" if board.epsilon is None else f"epsilon {board.epsilon:g} per figure"
    out.print(
        f"k = {board.k}; {eps}; epsilon spent: {board.epsilon_spent:g}; "
        f"calls: {board.calls}; left out: "
        + (", ".join(f"{n} {why}" for why, n in board.skipped.items() if n) or "none")
    )


@click.command()
@click.option("--team", "team_name", help="Only this team's calls.")
@click.option("--since", metavar="DATE", help="Calls that started on or after (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Calls that started before (YYYY-MM-DD).")
@click.option(
    "--k", "k", type=int, help="Minimum agents per group (default CALLVAULT_TEAM_MIN_GROUP)."
)
@click.option("--epsilon", type=float, help="Differential-privacy epsilon per noisy figure.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def team(
    ctx: click.Context,
    team_name: str | None,
    since: str | None,
    until: str | None,
    k: int | None,
    epsilon: float | None,
    as_json: bool,
) -> None:
    """Team dashboard: talk ratio, patience, objections handled, sentiment by week and
    tracker rates; groups of fewer than k agents suppressed (the read is audited)."""
    with open_context(config_of(ctx)) as svc:
        board = team_dashboard(
            svc,
            team=team_name,
            since=_date(since, "--since"),
            until=_date(until, "--until"),
            k=k,
            epsilon=epsilon,
        )
    if as_json:
        echo_json(board.to_json())
        return
    _render(board)


@click.command(name="export-training")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="A new or empty directory outside the data directory.",
)
@click.option("--audio", is_flag=True, help="Add the anonymised voices (WAV).")
@click.option("--since", metavar="DATE", help="Calls that started on or after (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Calls that started before (YYYY-MM-DD).")
@click.option(
    "--purpose", default="training export", show_default=True, help="Why (in the audit log)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def export_training_command(
    ctx: click.Context,
    out_dir: Path,
    audio: bool,
    since: str | None,
    until: str | None,
    purpose: str,
    as_json: bool,
) -> None:
    """De-identified training export (admin and compliance): redacted transcripts, no
    names, numbers or call ids, days not times, and a data sheet of what was removed."""
    with open_context(config_of(ctx)) as svc:
        result = export_training(
            svc,
            out_dir,
            since=_date(since, "--since"),
            until=_date(until, "--until"),
            with_audio=audio,
            purpose=purpose,
        )
    if as_json:
        echo_json(result.to_json())
        return
    skipped = ", ".join(f"{n} {why}" for why, n in result.skipped.items()) or "none"
    console().print(
        f"{result.calls} calls, {result.utterances} utterances written to {result.out_dir}; "
        f"left out: {skipped}; see DATASHEET.md"
    )
