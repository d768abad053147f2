"""Rebuilding the search index from the stored, decrypted transcripts.

Needed once after upgrading to migration 0013, which drops the plain full-text index and
the embeddings stored in the clear and cannot rebuild them itself (a migration has no key
ring): ``callvault reindex``. Safe to run at any time: each call's rows are replaced in one
transaction. A restricted call is left out (indexing is processing, GDPR art. 18): it is
indexed when it is processed again after the restriction is lifted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from callvault.analysis import Transcript
from callvault.search import SearchIndex, SemanticIndex
from callvault.services._context import Context
from callvault.services._index import index_rows
from callvault.services._speakers import speakers_by_channel

__all__ = ["REINDEX_PURPOSE", "ReindexResult", "reindex_search"]

log = logging.getLogger("callvault.services")

REINDEX_PURPOSE = "search index rebuild"


@dataclass(frozen=True, slots=True)
class ReindexResult:
    """How many calls were indexed, with how many utterances; how many were left out
    because they are restricted, and how many have no transcript yet."""

    calls: int
    utterances: int
    restricted: int
    untranscribed: int


def reindex_search(
    ctx: Context,
    *,
    actor: str | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> ReindexResult:
    """Index every transcribed call again, full text and embeddings, from its transcript.

    Each transcript read is audited (``transcript.read``, purpose `REINDEX_PURPOSE`).
    ``progress(done, total)`` is called after each call.
    """
    calls = utterances = restricted = untranscribed = 0
    vault = ctx.vault
    index = SearchIndex(vault.engine, vault.search_key)
    semantic = SemanticIndex(vault.engine, vault.search_key)
    kept = vault.restrictions.restricted_calls()
    summaries = vault.calls.list_calls(actor=actor, purpose=REINDEX_PURPOSE)
    for done, summary in enumerate(summaries, start=1):
        if summary.id in kept:
            restricted += 1
        else:
            document = vault.transcripts.read_transcript(
                summary.id, actor=actor, purpose=REINDEX_PURPOSE
            )
            if document is None:
                untranscribed += 1
            else:
                record = vault.calls.get_call(summary.id, actor=actor, purpose=REINDEX_PURPOSE)
                transcript = Transcript.from_json(document)
                rows = index_rows(record, speakers_by_channel(record), transcript)
                vectors = semantic.embed_rows(rows)  # before the write transaction
                with vault.transaction(actor=actor, purpose=REINDEX_PURPOSE) as tx:
                    index.index_utterances(tx.session, rows)
                    semantic.index_utterances(tx.session, rows, vectors)
                calls += 1
                utterances += len(rows)
        if progress is not None:
            progress(done, len(summaries))
    log.info("search index rebuilt: %d calls, %d utterances", calls, utterances)
    return ReindexResult(calls, utterances, restricted, untranscribed)
