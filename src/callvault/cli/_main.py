"""`callvault`: thin commands that parse input, call one use case and render the result."""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from callvault import __version__
from callvault.capture import FileImportOptions
from callvault.cli._ask import ask
from callvault.cli._audit import audit
from callvault.cli._backup import backup, restore
from callvault.cli._capture import capture, siprec
from callvault.cli._common import Group, announce_erased, config_of, console, echo_json
from callvault.cli._contacts import contacts, crm
from callvault.cli._governance import consent, hold, retention
from callvault.cli._insights import insights
from callvault.cli._monitor import monitor
from callvault.cli._outcomes import outcome, predict
from callvault.cli._policy import policy
from callvault.cli._processing import jobs, models, process, wait_for_jobs
from callvault.cli._refusals import refusals
from callvault.cli._rights import rights
from callvault.cli._scorecards import scorecard
from callvault.cli._search import reindex, search
from callvault.cli._team import export_training_command, team
from callvault.cli._users import users
from callvault.cli._worker import worker
from callvault.config import load_config, masked_values
from callvault.errors import CallvaultError, InputError
from callvault.services import (
    CallContext,
    call_document,
    check_files,
    collect_garbage,
    demo_call,
    erase_call,
    export_audio,
    has_users,
    ingest_captured,
    init_storage,
    list_calls,
    listen_audio,
    open_context,
    rotate_keys,
    verify_recordings,
    write_anonymized_audio,
)

__all__ = ["cli", "main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="callvault")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Record calls where allowed; keep them encrypted, signed and audited."""
    try:
        config = load_config()
    except CallvaultError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(exc.exit_code)
    level = {0: config.log_level, 1: "INFO"}.get(verbose, "DEBUG")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = config


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def init(ctx: click.Context, as_json: bool) -> None:
    """Create the data directory, keys and database (other commands do it on first use)."""
    info = asdict(init_storage(config_of(ctx)))
    if as_json:
        echo_json(info)
    else:
        state = "created" if info["created"] else "already initialised"
        click.echo(
            f"{state}: {info['data_dir']} ({info['database']}, signing key {info['signing_key']})"
        )
        where = "created" if info["blobs_created"] else "exists already"
        click.echo(f"blob store: {info['blobs']} ({where})")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option("--caller", metavar="E164", help="Caller's number, e.g. +442071234567.")
@click.option("--callee", metavar="E164", help="Callee's number.")
@click.option(
    "--direction",
    metavar="inbound|outbound|internal",
    help="Which way the call went, seen from the organisation.",
)
@click.option("--agent", metavar="USER", help="The agent (user name) on the call.")
@click.option(
    "--channels",
    metavar="agent,customer|customer,agent",
    help="The role of each channel of a stereo file, in order, for recorders that put the "
    "agent on a fixed side; needs --direction inbound or outbound. Default: channel 0 is "
    "the caller, channel 1 the callee.",
)
@click.option("--started-at", metavar="ISO8601", help="When the call started, with time zone.")
@click.option("--language", metavar="xx", help="Spoken language (ISO 639-1).")
@click.option(
    "--consent",
    metavar="METHOD",
    help="How every party agreed to the recording: verbal, dtmf, web, ivr or pre-call-notice "
    "(needed where the law asks for everyone's consent; recorded per party).",
)
@click.option("--team", metavar="TEAM", help="The agent's team, for the recording rules.")
@click.option("--group", "group_", metavar="GROUP", help="User group, for the recording rules.")
@click.option(
    "--category", metavar="CATEGORY", help="Call category (e.g. sales, hr), for the rules."
)
@click.option("--wait", is_flag=True, help="Transcribe now, in this process, with progress.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    caller: str | None,
    callee: str | None,
    direction: str | None,
    agent: str | None,
    channels: str | None,
    started_at: str | None,
    language: str | None,
    consent: str | None,
    team: str | None,
    group_: str | None,
    category: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Import audio files; each file is one call, each channel one leg.

    Every file is checked, and every call passes the recording policy (rules and the
    consent law of each party's jurisdiction), before anything is stored: one refused
    file and nothing is written. Each new recording is queued for transcription (`--wait`
    runs it here and now); a call kept in quarantine for want of consent is queued when
    its consent is complete.
    """
    options = FileImportOptions(caller, callee, direction, agent, started_at, language, channels)
    context = CallContext(team=team, group=group_, category=category)
    # Every file is checked before the vault is opened: a bad one leaves nothing behind.
    if len(paths) > 1 and sys.stderr.isatty():
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("storing", total=len(paths))
            checked = check_files(config_of(ctx), list(paths), options)
            with open_context(config_of(ctx)) as svc:
                results = ingest_captured(
                    svc,
                    checked,
                    consent=consent,
                    context=context,
                    progress=lambda _call: bar.advance(task),
                )
    else:
        checked = check_files(config_of(ctx), list(paths), options)
        with open_context(config_of(ctx)) as svc:
            results = ingest_captured(svc, checked, consent=consent, context=context)
    if wait:
        wait_for_jobs(config_of(ctx), [r.job_id for r in results if r.job_id])
    if as_json:
        echo_json({"calls": [r.to_json() for r in results]})
        return
    for result in results:
        state = "already stored" if result.duplicate else "stored"
        if result.consent_state == "quarantined":
            state += ", in quarantine until every party's consent is recorded"
        click.echo(f"{result.call_id}  {state}  {result.source}")


@cli.command(name="list")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many calls.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def calls_list(ctx: click.Context, limit: int | None, as_json: bool) -> None:
    """List calls, newest first."""
    with open_context(config_of(ctx)) as svc:
        calls = list_calls(svc, limit=limit)
    if as_json:
        echo_json({"calls": [c.to_json() for c in calls]})
        return
    table = Table("call", "started", "direction", "agent", "duration", "channels")
    for call in calls:
        table.add_row(
            call.id,
            call.started_at.isoformat() if call.started_at else "",
            call.direction or "",
            call.agent or "",
            f"{call.duration_s:.1f} s",
            str(call.channels),
        )
    console().print(table)


@cli.command()
@click.argument("call_id")
@click.option("--purpose", help="Why you are looking (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, call_id: str, purpose: str | None, as_json: bool) -> None:
    """Show one call: participants, legs, recording and transcript."""
    with open_context(config_of(ctx)) as svc:
        data = call_document(svc, call_id, purpose=purpose)
    if as_json:
        echo_json(data)
        return
    rec = data["recording"]
    click.echo(f"call       {data['id']}")
    click.echo(f"direction  {data['direction'] or '-'}   agent {data['agent'] or '-'}")
    click.echo(f"started    {data['started_at'] or '-'}   language {data['language'] or '-'}")
    click.echo(
        f"recording  {rec['id']}  {rec['container']}/{rec['codec']}  "
        f"{rec['sample_rate']} Hz  {rec['channels']} ch  {rec['duration_s']} s"
    )
    click.echo(f"sha256     {rec['sha256']}")
    for party in data["participants"]:
        agent = " (agent)" if party["is_agent"] else ""
        click.echo(f"party      {party['role']}{agent}  {party['phone'] or '-'}")
    transcript = data["transcript"]
    if data.get("restricted") is not None:
        click.echo(f"restricted by restriction {data['restricted']} (GDPR art. 18)")
    if transcript is None:
        if data.get("restricted") is not None:
            click.echo("transcript withheld: pass --purpose 'legal-claim: ...' or another ground")
            return
        click.echo("transcript not yet processed (`callvault process CALL_ID`)")
        return
    if transcript["status"] == "no_speech":
        click.echo("transcript no speech detected")
    for u in transcript["utterances"]:
        click.echo(f"{u['start']:8.2f}  {u['speaker']}: {u['text']}")


@cli.command()
@click.argument("call_id")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="File to write.")
@click.option("--purpose", help="Why you need the audio (written to the audit log).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.pass_context
def export(ctx: click.Context, call_id: str, out: Path, purpose: str | None, force: bool) -> None:
    """Write a call's stored audio, decrypted and bit-exact (redacted, once processed)."""
    with open_context(config_of(ctx)) as svc:
        size = export_audio(svc, call_id, out, purpose=purpose, overwrite=force)
    click.echo(f"wrote {size} bytes to {out}")


@cli.command()
@click.argument("call_id")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="WAV file to write.")
@click.option(
    "--original",
    is_flag=True,
    help="The kept unredacted original instead (compliance role and --reason).",
)
@click.option("--reason", help="Why the original is opened (audit log); needed with --original.")
@click.option(
    "--anonymize-voice",
    is_flag=True,
    help="Anonymise the voices (McAdams formant shifting, one voice per speaker).",
)
@click.option(
    "--speaker",
    "speaker_role",
    metavar="ROLE",
    help="With --anonymize-voice: only this speaker (agent, customer, or a speaker label).",
)
@click.option("--purpose", help="Why you listen (written to the audit log).")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.pass_context
def audio(
    ctx: click.Context,
    call_id: str,
    out: Path,
    original: bool,
    reason: str | None,
    anonymize_voice: bool,
    speaker_role: str | None,
    purpose: str | None,
    force: bool,
) -> None:
    """Write what a listener hears as a WAV file: the audio with personal data cut out.

    With --original, the unredacted original where the policy kept it; only the
    compliance role (CALLVAULT_ROLE=compliance) opens it, with a reason, audited.
    With --anonymize-voice, the voices (or the --speaker's) anonymised.
    """
    if anonymize_voice and original:
        raise InputError("--anonymize-voice and --original cannot be used together")
    if speaker_role is not None and not anonymize_voice:
        raise InputError("--speaker needs --anonymize-voice")
    config = config_of(ctx)
    with open_context(config) as svc:
        if anonymize_voice:
            size, seconds = write_anonymized_audio(
                svc, call_id, out, speaker_role=speaker_role, purpose=purpose, overwrite=force
            )
            click.echo(f"wrote {seconds:.1f} s of voice-anonymised audio ({size} bytes) to {out}")
            return
        size, seconds = listen_audio(
            svc,
            call_id,
            out,
            original=original,
            reason=reason,
            role=config.role,
            purpose=purpose,
            overwrite=force,
        )
    click.echo(f"wrote {seconds:.1f} s of audio ({size} bytes) to {out}")


@cli.command()
@click.argument("call_id")
@click.option("--reason", required=True, help="Why the call is erased (audit log).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete(ctx: click.Context, call_id: str, reason: str, yes: bool) -> None:
    """Erase a call for good: its data key is destroyed (crypto-shredding)."""
    if not yes:
        if not sys.stdin.isatty():
            raise InputError("delete cannot be undone; pass --yes to confirm")
        click.confirm(
            f"Erase call {call_id} and destroy its key? This cannot be undone", abort=True
        )
    with open_context(config_of(ctx)) as svc:
        erase_call(svc, call_id, reason=reason)
    click.echo(f"erased call {call_id}")
    announce_erased(config_of(ctx), [call_id])


@cli.command()
@click.argument("call_id", required=False)
@click.option("--all", "all_", is_flag=True, help="Verify every recording.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def verify(ctx: click.Context, call_id: str | None, all_: bool, as_json: bool) -> None:
    """Decrypt, re-hash and check signatures; exit 1 when anything was changed."""
    if bool(call_id) == all_:
        raise InputError("give either a CALL_ID or --all")
    with open_context(config_of(ctx)) as svc:
        results = verify_recordings(svc, call_id)
    ok = all(r.ok for r in results)
    if as_json:
        echo_json({"ok": ok, "recordings": [r.to_json() for r in results]})
    else:
        for result in results:
            if result.ok:
                click.echo(f"ok     call {result.call_id} recording {result.recording_id}")
            for fault in result.faults:
                click.echo(f"FAULT  call {result.call_id}: {fault}")
        bad = sum(not r.ok for r in results)
        click.echo(f"{len(results)} recording(s) checked, {bad} with faults")
    ctx.exit(0 if ok else 1)


@cli.group(cls=Group)
def keys() -> None:
    """Key-encryption keys."""


@keys.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rotate(ctx: click.Context, as_json: bool) -> None:
    """Re-wrap every data key under a new key-encryption key and retire the old one."""
    with open_context(config_of(ctx)) as svc:
        result = rotate_keys(svc)
    if as_json:
        echo_json(
            {
                "kek_id": result.new_kek_id,
                "rewrapped": result.rewrapped,
                "retired": list(result.retired),
            }
        )
    else:
        click.echo(
            f"re-wrapped {result.rewrapped} data key(s) under {result.new_kek_id}; "
            f"retired {', '.join(result.retired) or 'none'}"
        )


@cli.command(name="config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show_config(ctx: click.Context, as_json: bool) -> None:
    """Print the effective settings (secrets masked)."""
    rows = masked_values(config_of(ctx))
    if as_json:
        echo_json({s.name: {"value": v, "env": s.env} for s, v in rows})
        return
    table = Table("setting", "value", "environment variable")
    for setting, value in rows:
        table.add_row(setting.name, value, setting.env)
    console().print(table)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@click.pass_context
def gc(ctx: click.Context, dry_run: bool) -> None:
    """Remove what interrupted ingests left behind (never anything a record points to)."""
    with open_context(config_of(ctx)) as svc:
        report = collect_garbage(svc, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {report.incomplete_writes} unfinished write(s) and "
        f"{len(report.orphaned_blobs)} orphaned blob(s)"
    )


@cli.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Synthesize a sample call with espeak-ng, ingest and transcribe it, print its record."""
    config = config_of(ctx)
    # The sample's agent announces the recording before anyone speaks.
    call = demo_call()  # synthesised before the vault opens: without espeak-ng, no vault
    with open_context(config) as svc:
        (stored,) = ingest_captured(svc, [call], consent="pre-call-notice")
    wait_for_jobs(config, [stored.job_id] if stored.job_id else [])
    with open_context(config) as svc:
        record = call_document(svc, stored.call_id, purpose="demo")
    echo_json({"ingested": stored.to_json(), "call": record})


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers/--no-workers",
    default=True,
    show_default=True,
    help="Run processing jobs in this process (the embedded default).",
)
@click.option(
    "--demo",
    is_flag=True,
    help="First store the sample call (spoken by espeak-ng) and, if there are no users "
    "yet, create the user admin with a random password, printed once.",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: bool, demo: bool) -> None:
    """Serve the web app, the API (OpenAPI at /docs) and the workers, until interrupted."""
    import uvicorn

    from callvault.api import create_app, uvicorn_options
    from callvault.services.demo import seed_demo

    config = config_of(ctx)
    with open_context(config) as svc:  # creates and migrates the database, or fails here
        users_exist = has_users(svc)
        seed = seed_demo(svc) if demo else None
    if seed is not None:
        click.echo(f"sample call {seed.call_id} stored; the workers transcribe it", err=True)
        if seed.password is not None:
            click.echo(
                f"sign in as {seed.username} with the password {seed.password} "
                f"(shown once; change it with: callvault users password {seed.username})",
                err=True,
            )
            users_exist = True
    if not users_exist:
        click.echo("no users yet: add one with  callvault users add NAME --role admin", err=True)
    app = create_app(config, workers=workers)
    click.echo(
        f"callvault serving on http://{host}:{port} (web app at /, API docs at /docs)", err=True
    )
    # Bounded connections, header size and header time; the keep-alive; no forwarded
    # headers believed by uvicorn (issue 17).
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        **uvicorn_options(config),
    )


for command in (
    process,
    jobs,
    models,
    search,
    ask,
    reindex,
    hold,
    retention,
    consent,
    refusals,
    policy,
    rights,
    capture,
    siprec,
    insights,
    scorecard,
    monitor,
    worker,
    audit,
    backup,
    restore,
    team,
    export_training_command,
):
    cli.add_command(command)
cli.add_command(contacts)
cli.add_command(crm)
cli.add_command(users)
cli.add_command(outcome)
cli.add_command(predict)


def main() -> None:
    cli(prog_name="callvault")
