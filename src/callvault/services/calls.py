"""Use cases on stored calls: show, export, search and erase."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from callvault.errors import InputError
from callvault.jobs import cancel_jobs_of
from callvault.media import WavSource, decode_pcm, iter_wav
from callvault.search import HybridHit, SearchIndex, SearchPage, hybrid_search
from callvault.services._context import Context
from callvault.services.insight_corrections import apply_corrections
from callvault.services.process import transcript_json
from callvault.vault import ErasureCertificate, Vault, create_private, restriction_ground

__all__ = [
    "call_document",
    "erase_call",
    "export_audio",
    "listen_audio",
    "open_original_wav",
    "search_calls",
    "semantic_search_calls",
]


def export_destination(vault: Vault, out: Path, *, overwrite: bool) -> Path:
    """Where an export of plaintext may go: `out` resolved, refused inside the data
    directory (it holds only ciphertext), when it exists (unless `overwrite`) or when its
    directory is missing."""
    target = out.expanduser().resolve()
    data_dir = vault.config.data_dir.expanduser().resolve()
    if target == data_dir or data_dir in target.parents:
        raise InputError(
            f"{out}: is inside the data directory, which holds only ciphertext; export "
            "somewhere else"
        )
    if target.exists() and not overwrite:
        raise InputError(f"{out}: already exists; pass --force to replace it")
    if not target.parent.is_dir():
        raise InputError(f"{out}: the directory {target.parent} does not exist")
    return target


def part_file(target: Path) -> Path:
    """A hidden file beside `target` to write into and rename when complete."""
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")


def export_audio(
    ctx: Context, call_id: str, out: Path, *, purpose: str | None, overwrite: bool = False
) -> int:
    """Decrypt a call's stored audio bit-exact to `out`; return the byte count. After a
    redaction the stored audio is the redacted one (a WAV file); see `listen_audio`.

    Refuses a destination inside the data directory: plaintext audio never lands there.
    """
    vault = ctx.vault
    target = export_destination(vault, out, overwrite=overwrite)
    tmp = part_file(target)
    written = 0
    try:
        with vault.calls.open_recording(
            call_id, action="recording.export", purpose=purpose
        ) as reader:
            with create_private(tmp) as handle:  # 0600 whatever the umask
                for chunk in reader.iter_chunks():
                    handle.write(chunk)
                    written += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return written


def listen_audio(
    ctx: Context,
    call_id: str,
    out: Path,
    *,
    original: bool = False,
    reason: str | None = None,
    role: str,
    purpose: str | None = None,
    overwrite: bool = False,
) -> tuple[int, float]:
    """Write what a listener hears as a 16-bit PCM WAV file: the redacted audio, or with
    `original` the kept unredacted original (compliance role and a reason; audited).
    Returns (bytes written, seconds of audio)."""
    vault = ctx.vault
    target = export_destination(vault, out, overwrite=overwrite)
    if original:
        if not reason or not reason.strip():
            raise InputError("--original needs --reason: why the unredacted audio is opened")
        with vault.artifacts.open_original(call_id, role=role, reason=reason) as (reader, _info):
            pcm, rate = decode_pcm(reader.as_file(), name=f"original of call {call_id}")
    else:
        with vault.calls.open_recording(
            call_id, action="recording.listen", purpose=purpose
        ) as reader:
            pcm, rate = decode_pcm(reader.as_file(), name=f"recording of call {call_id}")
    return write_wav(target, pcm, rate), pcm.shape[1] / rate


def write_wav(target: Path, pcm: Any, rate: int) -> int:
    """Write `pcm` (channels x samples, int16) as a WAV file at `target`, private (0600)
    and complete or not at all (a hidden part file renamed); returns the byte count."""
    tmp = part_file(target)
    written = 0
    try:
        source = WavSource(pcm, rate)
        with create_private(tmp) as handle:
            while block := source.read(1 << 20):
                handle.write(block)
                written += len(block)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return written


@contextmanager
def open_original_wav(
    ctx: Context, call_id: str, *, role: str, reason: str, actor: str | None = None
) -> Iterator[Iterator[bytes]]:
    """The kept unredacted original of a call as 16-bit PCM WAV, for the API: compliance
    role and a reason, audited (`Vault.open_original`) when this is entered. The WAV
    comes block by block, decoded from the encrypted original as it is sent (issue 17):
    a long original is never held whole in memory."""
    vault = ctx.vault
    name = f"original of call {call_id}"
    with vault.artifacts.open_original(call_id, role=role, reason=reason, actor=actor) as (
        reader,
        info,
    ):
        layout = [info.meta.get(k) for k in ("sample_rate", "channels", "frames")]
        if all(isinstance(v, int) and v > 0 for v in layout):
            rate, channels, frames = (int(str(v)) for v in layout)
            yield iter_wav(
                reader.as_file(), name=name, sample_rate=rate, channels=channels, frames=frames
            )
            return
        # An original stored without its layout: decoded whole to learn it.
        pcm, decoded_rate = decode_pcm(reader.as_file(), name=name)
        source = WavSource(pcm, decoded_rate)
        yield iter(lambda: source.read(1 << 20), b"")


def call_document(
    ctx: Context,
    call_id: str,
    *,
    purpose: str | None,
    actor: str | None = None,
    transcript: bool = True,
    insights: bool = True,
) -> dict[str, Any]:
    """`show --json`: the call's record plus its transcript, `insights` and `redactions`
    (null until processed) and `restricted`, the id of the restriction of processing that
    covers it, or null. The content of a restricted call is null too unless `purpose`
    names an art. 18(2) ground ("legal-claim: ..."): the metadata stays visible, the
    content does not. `transcript` and `insights` False leave those parts null without
    reading them (a role that may see only metadata)."""
    vault = ctx.vault
    document = vault.calls.get_call(call_id, actor=actor, purpose=purpose).to_json()
    restricted = vault.restrictions.restriction_for_call(call_id)
    readable = restricted is None or restriction_ground(purpose) is not None
    stored = (
        vault.transcripts.read_transcript(call_id, actor=actor, purpose=purpose)
        if readable and transcript
        else None
    )
    document["transcript"] = transcript_json(stored) if stored is not None else None
    found = (
        vault.artifacts.read_insights(call_id, actor=actor, purpose=purpose)
        if readable and insights
        else None
    )
    parsed = json.loads(found) if found is not None else {}
    corrections = (
        [
            c
            for c in vault.corrections.corrections(call_id, actor=actor, purpose=purpose)
            if c.target == "insight"
        ]
        if found is not None and vault.corrections.correction_ids(call_id)
        else []
    )
    document["insights"] = apply_corrections(parsed.get("insights"), corrections)
    document["redactions"] = parsed.get("redactions")
    document["restricted"] = restricted
    return document


def erase_call(
    ctx: Context,
    call_id: str,
    *,
    reason: str,
    actor: str | None = None,
    expired_by: datetime | None = None,
) -> ErasureCertificate:
    """Erase a call: its search rows first (the only other copy of transcript text), then
    the call itself by crypto-shredding. A crash in between leaves the call unindexed,
    never indexed text of an erased call.

    A held call is refused before its search rows are touched (and again, atomically, by
    the vault). `expired_by`: see `Vault.delete_call` (retention erasure).
    """
    vault = ctx.vault
    vault.holds.check_erasable(call_id, expired_by=expired_by)
    SearchIndex(vault.engine, vault.search_key).purge_call(call_id)
    with vault.transaction(actor=actor) as tx:
        certificate = vault.calls.delete_call(
            call_id, reason=reason, actor=actor, expired_by=expired_by, tx=tx
        )
        # Work queued for the call goes with it, in this transaction: a worker running
        # one loses its lease and drops its result (issue 17).
        cancel_jobs_of(tx.session, [call_id], now=certificate.erased_at)
    return certificate


def search_calls(
    ctx: Context,
    query: str,
    *,
    purpose: str | None = None,
    speaker_role: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    language: str | None = None,
    limit: int = 20,
    offset: int = 0,
    agents: Sequence[str] | None = None,
    actor: str | None = None,
) -> SearchPage:
    """Search transcripts; the search is audited (its text is not kept: it may be personal).
    `agents`: only calls of these agents (the caller's reach, `access.call_filter`)."""
    vault = ctx.vault
    index = SearchIndex(vault.engine, vault.search_key, rank_limit=vault.config.search_rank_limit)
    page = index.search_page(
        query,
        speaker_role=speaker_role,
        agent=agent,
        since=since,
        until=until,
        language=language,
        # A restricted call's text is not processed, and a search is processing.
        exclude_calls=list(vault.restrictions.restricted_calls()),
        limit=limit,
        offset=offset,
        agents=agents,
    )
    vault.record_event(
        "transcript.search",
        "call",
        None,
        purpose=purpose,
        details={"hits": len(page.hits), "calls": sorted({h.call_id for h in page.hits})},
        actor=actor,
    )
    return page


def semantic_search_calls(
    ctx: Context,
    query: str,
    *,
    purpose: str | None = None,
    speaker_role: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    language: str | None = None,
    limit: int = 20,
    agents: Sequence[str] | None = None,
    actor: str | None = None,
) -> list[HybridHit]:
    """Full-text and semantic hits fused by rank (`hybrid_search`), with the rules of
    `search_calls`: restricted calls left out in the query, the search audited without
    its text."""
    vault = ctx.vault
    found = hybrid_search(
        vault.engine,
        vault.search_key,
        query,
        speaker_role=speaker_role,
        agent=agent,
        since=since,
        until=until,
        language=language,
        # A restricted call's text is not processed, and a search is processing.
        exclude_calls=list(vault.restrictions.restricted_calls()),
        limit=limit,
        rank_limit=vault.config.search_rank_limit,
        agents=agents,
    )
    vault.record_event(
        "transcript.search",
        "call",
        None,
        purpose=purpose,
        details={
            "method": "hybrid",
            "hits": len(found),
            "calls": sorted({h.call_id for h in found}),
        },
        actor=actor,
    )
    return found
