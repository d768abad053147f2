"""Rewriting a call's audio with its transcript and search rows: for a withdrawal during
the call (cut) and for erasing one party's leg (silence), see `Vault.rewrite_audio`."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace

from sqlalchemy.orm import Session

from callvault.analysis import Transcript, Utterance
from callvault.media import AudioEdit
from callvault.search import SearchIndex, SemanticIndex
from callvault.services._speakers import speakers_by_channel
from callvault.services.process import _index_rows
from callvault.vault import Vault
from callvault.vault._rewrite import RewriteResult, TranscriptRewrite

__all__ = ["TranscriptEditor", "cut_utterance", "rewrite_call", "without_channels"]

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


class TranscriptEditor:
    """The `transcript` callback of `Vault.rewrite_audio`: keeps what `keep` returns, and
    remembers the new transcript for the search index."""

    def __init__(self, keep: Keep) -> None:
        self._keep = keep
        self.result: Transcript | None = None

    def __call__(self, document: bytes) -> TranscriptRewrite:
        old = Transcript.from_json(document)
        kept: list[Utterance] = []
        unchanged: dict[int, int] = {}
        for index, utterance in enumerate(old.utterances):
            edited = self._keep(utterance)
            if edited is None:
                continue
            if edited == utterance:
                unchanged[index] = len(kept)
            kept.append(edited)
        new = replace(old, utterances=tuple(kept), status="done" if kept else "no_speech")
        self.result = new
        return TranscriptRewrite(
            document=new.to_json().encode(),
            status=new.status,
            utterances=len(kept),
            words=sum(len(u.words) for u in kept),
            removed_utterances=len(old.utterances) - len(kept),
            unchanged=unchanged,
        )


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
    vault.check_erasable(call_id)
    record = vault.get_call(call_id, actor=actor, purpose=reason)
    index = SearchIndex(vault.engine, vault.search_key)
    editor = TranscriptEditor(keep)

    def reindex(session: Session) -> None:
        if editor.result is not None and editor.result.utterances:
            rows = _index_rows(record, speakers_by_channel(record), editor.result)
            index.index_utterances(session, rows)
            SemanticIndex(vault.engine, vault.search_key).index_utterances(session, rows)

    index.purge_call(call_id)
    return vault.rewrite_audio(
        call_id,
        edit,
        action=action,
        reason=reason,
        actor=actor,
        transcript=editor,
        within=reindex,
        blank_participants=blank_participants,
        erasure_state=erasure_state,
    )
