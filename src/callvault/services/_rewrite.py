"""Rewriting a call's audio with its transcript and search rows: for a withdrawal during
the call (cut) and for erasing one party's leg (silence), see `RewriteRepository`."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace

from callvault.analysis import Transcript, Utterance
from callvault.media import AudioEdit
from callvault.search import SearchIndex, SemanticIndex
from callvault.services._index import index_rows
from callvault.services._speakers import speakers_by_channel
from callvault.vault import RewriteResult, TranscriptRewrite, Vault

__all__ = ["cut_utterance", "edit_transcript", "rewrite_call", "without_channels"]

Keep = Callable[[Utterance], Utterance | None]


def cut_utterance(seconds: float) -> Keep:
    """Keep of each utterance the words that end at or before `seconds`.

    An utterance without word times is kept whole when it ends by then and dropped
    otherwise: what it said after the cut cannot be told apart.
    """

    def keep(utterance: Utterance) -> Utterance | None:
        if not utterance.words:
            return utterance if utterance.end <= seconds else None
        words = tuple(w for w in utterance.words if w.end <= seconds)
        if not words:
            return None
        if len(words) == len(utterance.words):
            return utterance
        return replace(
            utterance,
            end=words[-1].end,
            text=" ".join(w.text for w in words),
            confidence=sum(w.confidence for w in words) / len(words),
            words=words,
        )

    return keep


def without_channels(channels: Collection[int]) -> Keep:
    """Drop the utterances of `channels`, and those of no known channel (a mixed leg may
    hold anyone's voice)."""
    gone = set(channels)

    def keep(utterance: Utterance) -> Utterance | None:
        if utterance.channel is None or utterance.channel in gone:
            return None
        return utterance

    return keep


def edit_transcript(document: bytes, keep: Keep) -> tuple[TranscriptRewrite, Transcript]:
    """A stored transcript with what `keep` returns of each utterance: what a rewrite
    stores (`TranscriptRewrite`), and the new transcript for the search index."""
    old = Transcript.from_json(document)
    kept: list[Utterance] = []
    unchanged: dict[int, int] = {}
    for index, utterance in enumerate(old.utterances):
        edited = keep(utterance)
        if edited is None:
            continue
        if edited == utterance:
            unchanged[index] = len(kept)
        kept.append(edited)
    new = replace(old, utterances=tuple(kept), status="done" if kept else "no_speech")
    rewrite = TranscriptRewrite(
        document=new.to_json().encode(),
        status=new.status,
        utterances=len(kept),
        words=sum(len(u.words) for u in kept),
        removed_utterances=len(old.utterances) - len(kept),
        unchanged=unchanged,
    )
    return rewrite, new


def rewrite_call(
    vault: Vault,
    call_id: str,
    edit: AudioEdit,
    keep: Keep,
    *,
    action: str,
    reason: str,
    actor: str | None = None,
    blank_participants: Collection[str] = (),
    erasure_state: str | None = None,
) -> RewriteResult:
    """Rewrite a call's audio and transcript, and its search rows with them.

    A held call is refused before anything is touched. The call's search rows are purged
    first (securely, in their own transaction: the index is the only other copy of the
    text), then the rows of the kept utterances are written in the rewrite's transaction.
    A failure in between leaves the call unindexed until it is processed again, never
    indexed text that the transcript no longer holds.
    """
    vault.holds.check_erasable(call_id)
    record = vault.calls.get_call(call_id, actor=actor, purpose=reason)
    index = SearchIndex(vault.engine, vault.search_key)
    plan = vault.rewrites.prepare_rewrite(
        call_id,
        edit,
        action=action,
        reason=reason,
        actor=actor,
        blank_participants=blank_participants,
        erasure_state=erasure_state,
        transcript=True,
    )
    try:
        edited = edit_transcript(plan.transcript, keep) if plan.transcript is not None else None
        index.purge_call(call_id)
    except BaseException:
        plan.abort()
        raise
    with vault.transaction(actor=actor) as tx:
        result = vault.rewrites.commit_rewrite(
            plan, transcript=edited[0] if edited is not None else None, tx=tx
        )
        if edited is not None and edited[1].utterances:
            rows = index_rows(record, speakers_by_channel(record), edited[1])
            index.index_utterances(tx.session, rows)
            SemanticIndex(vault.engine, vault.search_key).index_utterances(tx.session, rows)
    return result
