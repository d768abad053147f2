"""`callvault outcome` (set, import, list) and `callvault predict` (train, call,
warnings): outcomes of calls, contacts and deals, and the model trained on them
(issue 22; docs/outcomes.md)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from callvault.cli._common import Group, config_of, console, echo_json
from callvault.errors import InputError
from callvault.services import open_context
from callvault.services.outcomes import (
    OUTCOME_VALUES,
    import_outcomes_csv,
    list_outcomes,
    record_outcome,
)
from callvault.services.predict import deal_warnings, predict_call, train_outcome_model

__all__ = ["outcome", "predict"]


@click.group(cls=Group)
def outcome() -> None:
    """Outcomes (won, lost, churned, resolved, open) of calls, contacts and deals."""


@outcome.command(name="set")
@click.argument("args", nargs=-1, metavar="[CALL_ID] OUTCOME")
@click.option("--contact", "contact_id", help="The contact the outcome is for.")
@click.option("--deal", help="The deal (its CRM id) the outcome is for.")
@click.option("--note", help="A note kept with the outcome (never audited).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def outcome_set(
    ctx: click.Context,
    args: tuple[str, ...],
    contact_id: str | None,
    deal: str | None,
    note: str | None,
    as_json: bool,
) -> None:
    """Record OUTCOME for CALL_ID, or for --contact / --deal."""
    if len(args) not in (1, 2):
        raise InputError(
            f"give [CALL_ID] OUTCOME (OUTCOME: {', '.join(OUTCOME_VALUES)}); got {len(args)} "
            "arguments"
        )
    call_id, value = (None, args[0]) if len(args) == 1 else args
    with open_context(config_of(ctx)) as context:
        record = record_outcome(
            context, outcome=value, call_id=call_id, contact_id=contact_id, deal=deal, note=note
        )
    if as_json:
        echo_json(record.to_json())
    else:
        click.echo(f"recorded {record.outcome} ({record.id})")


@outcome.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--region", default="US", show_default=True, metavar="CC",
              help="Country (ISO 3166 alpha-2) of contact numbers written without +.")  # fmt: skip
@click.pass_context
def outcome_import(ctx: click.Context, file: Path, region: str) -> None:
    """Import FILE.csv (columns outcome and call_id, contact or deal; date, note);
    all or nothing."""
    with open_context(config_of(ctx)) as context:
        records = import_outcomes_csv(context, file, region=region)
    click.echo(f"{len(records)} outcomes recorded")


@outcome.command(name="list")
@click.option("--call", "call_id", help="Only the outcomes of this call.")
@click.option("--contact", "contact_id", help="Only the outcomes of this contact.")
@click.option("--deal", help="Only the outcomes of this deal.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def outcome_list(
    ctx: click.Context, call_id: str | None, contact_id: str | None, deal: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """List outcomes, oldest first."""
    with open_context(config_of(ctx)) as context:
        found = list_outcomes(context, call_id=call_id, contact_id=contact_id, deal=deal)
    if as_json:
        echo_json({"outcomes": [o.to_json() for o in found]})
        return
    table = Table("id", "outcome", "call", "contact", "deal", "recorded", "source")
    for o in found:
        table.add_row(
            o.id, o.outcome, o.call_id or "-", o.contact_id or "-", o.deal or "-",
            o.recorded_at.isoformat(timespec="seconds"), o.source,
        )  # fmt: skip
    console().print(table)


@click.group(cls=Group)
def predict() -> None:
    """An outcome model trained on this organisation's labelled calls."""


@predict.command(name="train")
@click.option("--purpose", help="Why (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def predict_train(ctx: click.Context, purpose: str | None, as_json: bool) -> None:
    """Train and keep a model; print its held-out measures against the base rate."""
    with open_context(config_of(ctx)) as context:
        report = train_outcome_model(context, purpose=purpose)
    if as_json:
        echo_json(report.to_json())
        return
    e = report.evaluation
    click.echo(
        f"model {report.model_id}: {report.n} calls ({report.positives} won/resolved), "
        f"{report.features} features"
    )
    click.echo(f"held out ({e.folds}-fold):  AUC {e.auc:.3f}  Brier {e.brier:.3f}  ECE {e.ece:.3f}")
    click.echo(
        f"base rate baseline:    AUC {e.baseline_auc:.3f}  Brier {e.baseline_brier:.3f}  "
        f"ECE {e.baseline_ece:.3f}"
    )
    if not e.beats_baseline:
        click.echo(
            "warning: on held-out calls the model predicts no better than the base rate; "
            "label more calls before relying on its predictions"
        )


@predict.command(name="call")
@click.argument("call_id")
@click.option("--purpose", help="Why (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def predict_one(ctx: click.Context, call_id: str, purpose: str | None, as_json: bool) -> None:
    """P(won/resolved) of CALL_ID, the factors that moved it, and a confidence."""
    with open_context(config_of(ctx)) as context:
        result = predict_call(context, call_id, purpose=purpose)
    if as_json:
        echo_json(result.to_json())
        return
    click.echo(
        f"P(won/resolved) {result.probability:.2f} (base rate {result.base_rate:.2f}), "
        f"confidence {result.confidence:.2f}"
    )
    for f in result.factors:
        click.echo(f"  {f.direction:>4} {f.effect:+.2f}  {f.feature} = {f.value:g}")


@predict.command(name="warnings")
@click.option("--threshold", type=float, help="Warn below this P(won/resolved) (0 to 1).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def predict_warnings(ctx: click.Context, threshold: float | None, as_json: bool) -> None:
    """Open deals and contacts whose recent calls look like lost ones."""
    with open_context(config_of(ctx)) as context:
        found = deal_warnings(context, threshold=threshold)
    if as_json:
        echo_json({"warnings": [w.to_json() for w in found]})
        return
    if not found:
        click.echo("no warnings")
    for w in found:
        top = ", ".join(f"{f.feature} {f.direction}" for f in w.factors[:3])
        click.echo(f"{w.kind} {w.id}: P {w.probability:.2f} over {len(w.call_ids)} calls ({top})")
