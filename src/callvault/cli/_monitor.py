"""`callvault monitor`: the live engine and its alert rules, without a live call."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from callvault.cli._common import Group, config_of, echo_json

__all__ = ["monitor"]


@click.group(cls=Group)
def monitor() -> None:
    """Live transcription and alerts while calls are going on."""


@monitor.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--realtime",
    is_flag=True,
    help="Feed the audio at the pace of the wall clock, as a live call arrives "
    "(default: as fast as the engine keeps up, which it does every 2 s of audio).",
)
@click.option(
    "--channels",
    metavar="ROLE,ROLE",
    help="Who is on each channel, in order, e.g. agent,customer (the default for two "
    "channels; one channel is one speaker).",
)
@click.option("--language", metavar="TAG", help="The language spoken (default: detected).")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML file of alert rules (default: CALLVAULT_ALERT_RULES, else the built-in set).",
)
@click.option(
    "--live",
    is_flag=True,
    help="Also publish the calls to the live page of the web app, as a live capture does.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per event.")
@click.pass_context
def replay(
    ctx: click.Context,
    files: tuple[Path, ...],
    realtime: bool,
    channels: str | None,
    language: str | None,
    rules_path: Path | None,
    live: bool,
    as_json: bool,
) -> None:
    """Feed recordings (WAV or other audio, or pcap) through the live engine and print
    each partial, final and alert as it happens.

    Several FILES replay at once, as concurrent calls. `call_time` is the moment in the
    call an event refers to (for an alert, the end of the words that triggered it) and
    `delay_s` the wall-clock time from that moment being fed to the event being printed.
    """
    from callvault.services.monitor import replay as run_replay

    config = config_of(ctx)
    roles = [part.strip() for part in channels.split(",")] if channels else None
    many = len(files) > 1

    def sink(call: str, event: object) -> None:
        data = event.to_json()  # type: ignore[attr-defined]
        if many:
            data = {"call": call, **data}
        if as_json:
            sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            return
        if data["event"] == "partial":
            return  # a terminal shows what is settled
        who = data["speaker"] or f"channel {data['channel']}"
        prefix = f"[{call}] " if many else ""
        line = f"{prefix}{data['call_time']:8.2f}s +{(data['delay_s'] or 0):.2f}s {who}: "
        if data["event"] == "alert":
            line += f"ALERT {data['rule']} ({data['confidence']:.2f}) {data['text']}"
        else:
            line += data["text"]
        click.echo(line)

    summary = run_replay(
        config,
        files,
        realtime=realtime,
        channels=roles,
        language=language,
        rules_path=rules_path,
        sink=sink,
        live=live,
    )
    if as_json:
        return
    click.echo("")
    echo_json(summary.to_json())
