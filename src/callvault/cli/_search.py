"""`callvault search`: words, "phrases" and prefix* over transcripts."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.table import Table

from callvault.capture import parse_language, parse_timestamp
from callvault.cli._common import config_of, console, echo_json
from callvault.errors import InputError
from callvault.services import search_calls
from callvault.vault import Vault

__all__ = ["search"]


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


@click.command()
@click.argument("query")
@click.option(
    "--speaker",
    "role",
    metavar="ROLE",
    help="Only what this party said: agent, customer, caller, callee.",
)
@click.option("--agent", metavar="USER", help="Only calls of this agent.")
@click.option("--since", metavar="DATE", help="Calls that started on or after (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Calls that started before (YYYY-MM-DD).")
@click.option("--language", metavar="xx", help="Only transcripts in this language.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--purpose", help="Why you are searching (written to the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search(
    ctx: click.Context,
    query: str,
    role: str | None,
    agent: str | None,
    since: str | None,
    until: str | None,
    language: str | None,
    limit: int,
    purpose: str | None,
    as_json: bool,
) -> None:
    """Search transcripts: words (all must occur), "exact phrases" and prefixes (refund*).

    Each hit gives the call, the speaker, the time in the call and a snippet with the
    match between « and ».
    """
    with Vault.open(config_of(ctx)) as vault:
        page = search_calls(
            vault,
            query,
            purpose=purpose,
            speaker_role=role,
            agent=agent,
            since=_date(since, "--since"),
            until=_date(until, "--until"),
            language=parse_language(language) if language else None,
            limit=limit,
        )
    hits = page.hits
    if as_json:
        echo_json(
            {
                "order": "relevance" if page.ranked else "newest",
                "matches": page.matches,
                "hits": [
                    {
                        "call_id": h.call_id,
                        "speaker": h.speaker,
                        "role": h.role,
                        "start": round(h.start, 3),
                        "end": round(h.end, 3),
                        "snippet": h.snippet,
                        "score": round(h.score, 4),
                    }
                    for h in hits
                ],
            }
        )
        return
    if not hits:
        click.echo("no matches")
        return
    if not page.ranked:
        click.echo(
            f"more than {page.rank_limit} utterances match: newest first, not by relevance "
            "(add words, a phrase or a filter to rank them)",
            err=True,
        )
    table = Table("call", "at", "speaker", "snippet")
    for h in hits:
        minutes, seconds = divmod(int(h.start), 60)
        table.add_row(h.call_id, f"{minutes}:{seconds:02d}", h.speaker, h.snippet)
    console().print(table)
