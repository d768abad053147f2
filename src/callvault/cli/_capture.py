"""`callvault capture`: record calls from the network (capture files; live and SIPREC
come through the same use cases)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from callvault.capture import DIRECTIONS
from callvault.cli._common import Group, config_of, console, echo_json
from callvault.services.capture import record_pcaps
from callvault.services.ingest import CallContext

__all__ = ["capture"]


@click.group(cls=Group)
def capture() -> None:
    """Record calls from SIP/RTP traffic."""


@capture.command(name="pcap")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--consent",
    metavar="METHOD",
    help="How every party agreed (verbal, dtmf, web, ivr, pre-call-notice), where the "
    "law asks for everyone's consent.",
)
@click.option("--direction", type=click.Choice(DIRECTIONS), help="Which way the calls went.")
@click.option("--team", metavar="TEAM", help="The agents' team, for the recording rules.")
@click.option("--group", "group_", metavar="GROUP", help="User group, for the rules.")
@click.option("--category", metavar="CATEGORY", help="Call category, for the rules.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def capture_pcap(
    ctx: click.Context,
    paths: tuple[Path, ...],
    consent: str | None,
    direction: str | None,
    team: str | None,
    group_: str | None,
    category: str | None,
    as_json: bool,
) -> None:
    """Read pcap/pcapng files (as one capture) and store each call they hold.

    Every call passes the recording policy on its own: a refused call is reported and
    not stored, the others are stored and queued for transcription. DTMF digits are
    not kept, only when keys were pressed.
    """
    err = Console(stderr=True)

    def progress(name: str, packets: int) -> None:
        if sys.stderr.isatty():
            err.print(f"capture: {packets:,} packets read ({Path(name).name})", end="\r")

    report = record_pcaps(
        config_of(ctx),
        list(paths),
        consent=consent,
        context=CallContext(team=team, group=group_, category=category),
        direction=direction,  # type: ignore[arg-type]  # click.Choice of DIRECTIONS
        on_progress=progress,
    )
    if as_json:
        echo_json(report.to_json())
        return
    table = Table("call", "outcome", "duration", "codecs", "loss %", "MOS", "DTMF")
    for item in report.calls:
        network = item.network
        qualities = [leg.quality for leg in network.legs if leg.quality is not None]
        table.add_row(
            item.stored.call_id if item.stored else "-",
            item.outcome if item.outcome != "refused" else "refused by policy",
            f"{max((len(leg.pcm) for leg in network.legs), default=0) / network.sample_rate:.1f} s",
            ",".join(sorted({leg.codec for leg in network.legs if leg.codec})),
            " / ".join(f"{q.loss_percent:.1f}" for q in qualities),
            " / ".join(f"{q.mos:.2f}" for q in qualities),
            str(len(network.dtmf)),
        )
    console().print(table)
    stats = report.stats
    click.echo(
        f"{stats.packets:,} packets, {stats.sip_messages:,} SIP messages, "
        f"{stats.rtp_packets:,} RTP packets, {stats.malformed:,} malformed; "
        f"{sum(c.outcome == 'stored' for c in report.calls)} of {len(report.calls)} call(s) "
        "stored"
    )
    for item in report.calls:
        if item.outcome == "refused":
            click.echo(f"refused: {item.reason}", err=True)
