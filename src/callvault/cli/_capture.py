"""`callvault capture`: record calls from the network (capture files; live and SIPREC
come through the same use cases)."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from callvault.capture import DIRECTIONS
from callvault.capture.live import (
    AGENT_SIDES,
    InviteInfo,
    LiveCapture,
    LiveNetworkCall,
    OptOutRules,
    Withdrawal,
)
from callvault.capture.net import NetworkCall
from callvault.capture.siprec import SiprecLive, SiprecOffer, SiprecOptions, SiprecServer
from callvault.cli._common import Group, config_of, console, echo_json
from callvault.errors import InputError
from callvault.services import open_context
from callvault.services.capture import CapturedCallReport, read_pcaps, store_pcaps
from callvault.services.ingest import CallContext
from callvault.services.network import NetworkRecorder

if TYPE_CHECKING:
    from callvault.services.monitor import CaptureMonitor

__all__ = ["capture", "siprec"]


def _policy_options(function: Any) -> Any:
    """--consent, --direction, --team, --group, --category: what the gate is told."""
    for option in reversed(
        (
            click.option(
                "--consent",
                metavar="METHOD",
                help="How every party agreed (verbal, dtmf, web, ivr, pre-call-notice).",
            ),
            click.option("--direction", type=click.Choice(DIRECTIONS), help="Call direction."),
            click.option("--team", metavar="TEAM", help="The agents' team, for the rules."),
            click.option("--group", "group_", metavar="GROUP", help="User group, for the rules."),
            click.option("--category", metavar="CATEGORY", help="Call category, for the rules."),
        )
    ):
        function = option(function)
    return function


def _monitor_option(function: Any) -> Any:
    return click.option(
        "--monitor",
        "live_monitor",
        is_flag=True,
        help="Transcribe calls while they go on, raise alerts (CALLVAULT_ALERT_RULES) and "
        "show them on the web app's live page; a card number read out pauses that leg's "
        "recording until the agent speaks again, and a spoken refusal stops it.",
    )(function)


def _optout_options(function: Any) -> Any:
    """--agent-side, --optout-window, --notice-seconds, --inter-digit: which key press
    withdraws consent (issue 20); each defaults to its CALLVAULT_* setting."""
    for option in reversed(
        (
            click.option(
                "--agent-side",
                type=click.Choice(AGENT_SIDES),
                help="Which party is the agent, whose first words close the opt-out "
                "window [default: CALLVAULT_AGENT_SIDE; auto: the caller on outbound "
                "calls, else the callee].",
            ),
            click.option(
                "--optout-window",
                type=click.FloatRange(min=0.0, max=600.0),
                help="Seconds after the answer within which a single press of the "
                "withdraw digit withdraws consent, at most [default: "
                "CALLVAULT_DTMF_OPTOUT_WINDOW, 30].",
            ),
            click.option(
                "--notice-seconds",
                type=click.FloatRange(min=0.0, max=300.0),
                help="How long the notice plays on the agent's leg after the answer "
                "[default: CALLVAULT_NOTICE_SECONDS, 0].",
            ),
            click.option(
                "--inter-digit",
                type=click.FloatRange(min=0.2, max=10.0),
                help="Seconds that must separate the withdraw digit from any other key "
                "for a single press [default: CALLVAULT_DTMF_INTER_DIGIT, 2].",
            ),
        )
    ):
        function = option(function)
    return function


def _optout(
    recorder: NetworkRecorder,
    digit: str | None,
    agent_side: str | None,
    window: float | None,
    notice: float | None,
    inter_digit: float | None,
) -> OptOutRules:
    try:
        return recorder.optout_rules(
            digit,
            agent_side=agent_side,
            window_s=window,
            notice_s=notice,
            inter_digit_s=inter_digit,
        )
    except ValueError as error:
        raise InputError(str(error)) from None


def _withdrawn(recorder: NetworkRecorder, call_id: str, withdrawal: Withdrawal) -> None:
    recorder.withdrawn(
        call_id,
        withdrawal.channel,
        withdrawal.at,
        by=withdrawal.by,
        confidence=withdrawal.confidence,
    )


@click.group(cls=Group)
def capture() -> None:
    """Record calls from SIP/RTP traffic."""


@capture.command(name="pcap")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_policy_options
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

    # The files are read before the vault is opened: a bad one leaves nothing behind.
    read = read_pcaps(config_of(ctx), list(paths), on_progress=progress)
    with open_context(config_of(ctx)) as svc:
        report = store_pcaps(
            svc,
            read,
            consent=consent,
            context=CallContext(team=team, group=group_, category=category),
            direction=direction,  # type: ignore[arg-type]  # click.Choice of DIRECTIONS
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


def _report_line(report: CapturedCallReport) -> str:
    stored = report.stored
    if stored is not None:
        return f"{stored.call_id}  {report.outcome}  ({stored.consent_state})"
    return f"-  {report.outcome}: {report.reason}"


@capture.command(name="live")
@click.option("--interface", required=True, metavar="IFACE", help="Network interface, e.g. eth0.")
@click.option("--filter", "bpf", metavar="BPF", help='tcpdump filter, e.g. "udp".')
@click.option(
    "--rtp-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds without media or SIP that end a call.",
)
@click.option(
    "--segment-seconds",
    type=click.FloatRange(min=1.0),
    default=300.0,
    show_default=True,
    help="A longer call is stored in parts of this length.",
)
@click.option(
    "--withdraw-digit",
    default="9",
    show_default=True,
    help="The DTMF key a party presses, once, right after the notice to withdraw consent.",
)
@_optout_options
@_monitor_option
@_policy_options
@click.pass_context
def capture_live(
    ctx: click.Context,
    interface: str,
    bpf: str | None,
    rtp_timeout: float,
    segment_seconds: float,
    withdraw_digit: str,
    agent_side: str | None,
    optout_window: float | None,
    notice_seconds: float | None,
    inter_digit: float | None,
    live_monitor: bool,
    consent: str | None,
    direction: str | None,
    team: str | None,
    group_: str | None,
    category: str | None,
) -> None:
    """Record calls from a network interface until SIGTERM or Ctrl-C (needs root).

    The policy is asked at each call's INVITE (a refused call's media is never kept);
    each call is stored when it ends (BYE, CANCEL, error, or no media for
    --rtp-timeout). A party pressing --withdraw-digit once, inside the opt-out window
    (from the answer until the agent first speaks after the notice, at most
    --optout-window seconds), stops the recording of that call (CALLVAULT_ON_WITHDRAWAL
    says what is kept); other key presses are kept as DTMF events, muted. Stopping
    stores every call in progress.
    """
    with NetworkRecorder(
        config_of(ctx),
        source="live",
        consent=consent,
        context=CallContext(team=team, group=group_, category=category),
        direction=direction,  # type: ignore[arg-type]  # click.Choice of DIRECTIONS
    ) as recorder:
        rules = _optout(
            recorder, withdraw_digit, agent_side, optout_window, notice_seconds, inter_digit
        )
        monitor = _open_monitor(ctx, live_monitor, "live", rules)

        def on_call(call: LiveNetworkCall) -> None:
            segment = None if (call.segment == 0 and call.final) else call.segment
            report = recorder.record(
                call, segment=segment, withdrawn_at=call.withdrawn_at, pauses=call.pauses
            )
            if monitor is not None and call.final and call.call_id is not None:
                stored = report.stored.call_id if report.stored is not None else None
                monitor.call_ended(call.call_id, stored)
            click.echo(_report_line(report))

        def on_withdrawal(invite: InviteInfo, withdrawal: Withdrawal) -> None:
            _withdrawn(recorder, invite.call_id, withdrawal)

        live = LiveCapture(
            interface,
            bpf,
            on_call=on_call,
            decide=lambda invite: recorder.decide(
                invite.caller.e164, invite.callee.e164, invite.invited_at
            ),
            rtp_timeout=rtp_timeout,
            segment_seconds=segment_seconds,
            optout=rules,
            on_withdrawal=on_withdrawal,
            on_media=monitor.media if monitor is not None else None,
            on_call_end=monitor.call_ended if monitor is not None else None,
        )
        try:
            if monitor is not None:
                monitor.attach(live)
            live.open()  # a bad interface or filter fails here, before anything is announced
            click.echo(f"capture: recording on {interface}; stop with Ctrl-C or SIGTERM", err=True)
            live.run()
        finally:
            if monitor is not None:
                monitor.close()
        stats = live.stats()
    click.echo(
        f"capture: {stats.packets:,} packets ({stats.kernel_drops:,} dropped by the kernel), "
        f"{stats.calls_delivered} call(s) ended, {stats.calls_refused} refused at the INVITE",
        err=True,
    )


@click.command(name="siprec")
@click.option(
    "--listen",
    default="127.0.0.1:5060",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to take SIPREC sessions (UDP and TCP).",
)
@click.option(
    "--rtp-ports",
    default="20000-29999",
    show_default=True,
    metavar="LOW-HIGH",
    help="Port range for the media the SRC sends.",
)
@click.option(
    "--withdraw-digit",
    default="9",
    show_default=True,
    help="The DTMF key a party presses, once, right after the notice to withdraw consent.",
)
@_optout_options
@_monitor_option
@_policy_options
@click.pass_context
def siprec(
    ctx: click.Context,
    listen: str,
    rtp_ports: str,
    withdraw_digit: str,
    agent_side: str | None,
    optout_window: float | None,
    notice_seconds: float | None,
    inter_digit: float | None,
    live_monitor: bool,
    consent: str | None,
    direction: str | None,
    team: str | None,
    group_: str | None,
    category: str | None,
) -> None:
    """Run a SIPREC recording server (RFC 7866) until SIGTERM or Ctrl-C.

    A PBX or SBC forks its calls here; each offer is checked against the recording
    policy (refused: 403), and each finished call is stored like any other. A party
    pressing --withdraw-digit once inside the opt-out window (as for `capture live`)
    stops the recording of that call.
    """
    low, _, high = rtp_ports.partition("-")
    if not (low.isdigit() and high.isdigit()):
        raise InputError(f"--rtp-ports {rtp_ports!r} is not LOW-HIGH, such as 20000-29999")
    options = SiprecOptions.listening_on(listen, rtp_port_min=int(low), rtp_port_max=int(high))
    with NetworkRecorder(
        config_of(ctx),
        source="siprec",
        consent=consent,
        context=CallContext(team=team, group=group_, category=category),
        direction=direction,  # type: ignore[arg-type]  # click.Choice of DIRECTIONS
    ) as recorder:
        rules = _optout(
            recorder, withdraw_digit, agent_side, optout_window, notice_seconds, inter_digit
        )
        monitor = _open_monitor(ctx, live_monitor, "siprec", rules)
        try:
            asyncio.run(_serve_siprec(recorder, options, rules, monitor))
        finally:
            if monitor is not None:
                monitor.close()


def _open_monitor(
    ctx: click.Context, wanted: bool, source: str, rules: OptOutRules
) -> CaptureMonitor | None:
    if not wanted:
        return None
    from callvault.services.monitor import CaptureMonitor

    return CaptureMonitor(config_of(ctx), source=source, agent_channel=rules.agent_channel)


async def _serve_siprec(
    recorder: NetworkRecorder,
    options: SiprecOptions,
    rules: OptOutRules,
    monitor: CaptureMonitor | None = None,
) -> None:
    def on_offer(offer: SiprecOffer) -> bool:
        caller, callee = offer.caller, offer.callee
        return recorder.decide(
            caller.user if caller else None, callee.user if callee else None, datetime.now(UTC)
        )

    async def on_call(call: NetworkCall) -> None:
        if isinstance(call, LiveNetworkCall):
            report = await asyncio.to_thread(
                recorder.record, call, withdrawn_at=call.withdrawn_at, pauses=call.pauses
            )
            if monitor is not None and call.final and call.call_id is not None:
                stored = report.stored.call_id if report.stored is not None else None
                monitor.call_ended(call.call_id, stored)
        else:
            report = await asyncio.to_thread(recorder.record, call)
        click.echo(_report_line(report))

    def on_withdrawal(call_id: str, withdrawal: Withdrawal) -> None:
        _withdrawn(recorder, call_id, withdrawal)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    live = SiprecLive(
        optout=rules,
        on_withdrawal=on_withdrawal,
        on_media=monitor.media if monitor is not None else None,
        on_call_end=monitor.call_ended if monitor is not None else None,
    )
    if monitor is not None:
        monitor.attach(live)
    server = SiprecServer(on_call, options, on_offer=on_offer, live=live)
    await server.start()
    port = server.udp_address[1] if server.udp_address else options.port
    click.echo(f"siprec: listening on {options.host}:{port}; stop with Ctrl-C or SIGTERM", err=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
