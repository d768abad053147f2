"""`callvault search`: words, "phrases" and prefix* over transcripts; with ``--semantic``,
full-text and semantic (multilingual sentence embedding) hits fused by rank."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import click
from rich.table import Table

from callvault.capture import parse_language, parse_timestamp
from callvault.cli._common import config_of, console, echo_json
from callvault.errors import InputError
from callvault.search import HybridHit
from callvault.services import open_context, reindex_search, search_calls, semantic_search_calls

__all__ = ["reindex", "search"]


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
@click.option(
    "--semantic",
    is_flag=True,
    help="Also find utterances close in meaning, in any language (slower; ranks fused).",
)
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
    semantic: bool,
    as_json: bool,
) -> None:
    """Search transcripts: words (all must occur), "exact phrases" and prefixes (refund*).

    Each hit gives the call, the speaker, the time in the call and a snippet with the
    match between « and ». With --semantic the query may be plain words in any language
    ("customer unhappy with price"): hits found by meaning show the utterance's text, and
    each hit says which method found it (fts, semantic).
    """
    if semantic:
        with open_context(config_of(ctx)) as svc:
            found = semantic_search_calls(
                svc,
                query,
                purpose=purpose,
                speaker_role=role,
                agent=agent,
                since=_date(since, "--since"),
                until=_date(until, "--until"),
                language=parse_language(language) if language else None,
                limit=limit,
            )
        _print_hybrid(found, as_json)
        return
    with open_context(config_of(ctx)) as svc:
        page = search_calls(
            svc,
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


def _print_hybrid(found: list[HybridHit], as_json: bool) -> None:
    if as_json:
        echo_json(
            {
                "order": "fused",
                "hits": [
                    {
                        "call_id": h.call_id,
                        "speaker": h.speaker,
                        "role": h.role,
                        "start": round(h.start, 3),
                        "end": round(h.end, 3),
                        "snippet": h.snippet,
                        "score": round(h.score, 4),
                        "methods": list(h.methods),
                        "cosine": None if h.cosine is None else round(h.cosine, 3),
                    }
                    for h in found
                ],
            }
        )
        return
    if not found:
        click.echo("no matches")
        return
    table = Table("call", "at", "speaker", "found by", "snippet")
    for h in found:
        minutes, seconds = divmod(int(h.start), 60)
        table.add_row(
            h.call_id, f"{minutes}:{seconds:02d}", h.speaker, "+".join(h.methods), h.snippet
        )
    console().print(table)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def reindex(ctx: click.Context, as_json: bool) -> None:
    """Rebuild the search index (blind full-text tokens and sealed embeddings) from the
    decrypted transcripts: once after upgrading to the blind index, or at any time.

    Every transcript read is audited. Restricted calls are left out.
    """
    with open_context(config_of(ctx)) as svc:
        result = reindex_search(svc)
    if as_json:
        echo_json(dataclasses.asdict(result))
        return
    click.echo(
        f"indexed {result.calls} calls ({result.utterances} utterances); left out "
        f"{result.restricted} restricted, {result.untranscribed} without a transcript"
    )
