"""Ask your calls (issue 22): a question answered by quoting the utterances that answer it,
from the calls the asker may read, worded by an LLM when one is configured.

Retrieval is `semantic_search_calls` (full-text and semantic hits fused; restricted calls
left out in the query; the asker's reach as `agents`). The neighbouring utterances of
each hit come from the call's stored transcript, read through the vault's audited read
(``transcript.read``, refused on a restricted call), so the answer quotes only what the
asker could open. The stored transcript is the redacted one: an LLM, when configured,
receives that text and the question, nothing else. One ``transcript.ask`` event records
the question's outcome (method, quoted calls), never its text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from callvault.analysis import Transcript
from callvault.errors import InputError
from callvault.search import Answer, HybridHit, Quote, Retrieved, compose_answer, llm_answer
from callvault.services._context import Context
from callvault.services._speakers import speakers_by_channel
from callvault.services.calls import semantic_search_calls

__all__ = ["ASK_CONTEXT", "MAX_QUOTES", "ask_calls"]

logger = logging.getLogger("callvault.services")

MAX_QUOTES = 20
# Utterances read on each side of a hit: a reply two turns later still counts.
ASK_CONTEXT = 2
_PER_CALL = 2


def _retrieval_pool(limit: int) -> int:
    return min(100, max(20, 5 * limit))


def ask_calls(
    ctx: Context,
    question: str,
    *,
    agent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    language: str | None = None,
    speaker_role: str | None = None,
    limit: int = 3,
    agents: Sequence[str] | None = None,
    purpose: str | None = None,
    actor: str | None = None,
    llm: bool = True,
) -> Answer:
    """Answer ``question`` from the calls ``agents`` reach (None: every call) that pass
    the filters, quoting at most ``limit`` utterances (1 to `MAX_QUOTES`), at most two
    of one call. With ``CALLVAULT_ASK_LLM_URL`` set (and ``llm``), the LLM words the
    answer from the quotes; otherwise, or when it fails, the answer is extractive."""
    if not 1 <= limit <= MAX_QUOTES:
        raise InputError(f"limit must be between 1 and {MAX_QUOTES}, not {limit}")
    hits = semantic_search_calls(
        ctx,
        question,
        purpose=purpose,
        speaker_role=speaker_role,
        agent=agent,
        since=since,
        until=until,
        language=language,
        limit=_retrieval_pool(limit),
        agents=agents,
        actor=actor,
    )
    retrieved = _with_context(ctx, hits, speaker_role, actor=actor, purpose=purpose)
    answer = compose_answer(question, retrieved, quotes=limit, per_call=min(_PER_CALL, limit))
    config = ctx.config
    if llm and config.ask_llm_url and answer.quotes:
        answer = llm_answer(
            config.ask_llm_url,
            question,
            answer,
            model=config.ask_llm_model,
            api_key=config.ask_llm_key,
            timeout=config.ask_llm_timeout,
        )
    ctx.vault.record_event(
        "transcript.ask",
        "call",
        None,
        purpose=purpose,
        details={
            "method": answer.method,
            "llm_failed": bool(
                llm and config.ask_llm_url and answer.quotes and answer.method != "llm"
            ),
            "quotes": len(answer.quotes),
            "calls": sorted({q.call_id for q in answer.quotes}),
        },
        actor=actor,
    )
    return answer


def _with_context(
    ctx: Context,
    hits: Sequence[HybridHit],
    speaker_role: str | None,
    *,
    actor: str | None,
    purpose: str | None,
) -> list[Retrieved]:
    """Each hit with its neighbouring utterances, read from the call's stored transcript
    (one audited read a call). With ``speaker_role``, neighbours of another or an
    unknown role are left out, as the search leaves them out."""
    vault = ctx.vault
    utterances: dict[str, list[Quote]] = {}
    for call_id in dict.fromkeys(h.call_id for h in hits):
        stored = vault.transcripts.read_transcript(call_id, actor=actor, purpose=purpose)
        if stored is None:
            utterances[call_id] = []
            continue
        record = vault.calls.get_call(call_id, actor=actor, purpose=purpose)
        speakers = speakers_by_channel(record)
        transcript = Transcript.from_json(stored)
        utterances[call_id] = [
            Quote(
                call_id=call_id,
                utterance=n,
                speaker=u.speaker,
                role=speakers[u.channel].role
                if u.channel is not None and u.channel in speakers
                else None,
                start=u.start,
                end=u.end,
                text=u.text,
            )
            for n, u in enumerate(transcript.utterances)
        ]
    found: list[Retrieved] = []
    for hit in hits:
        lines = utterances.get(hit.call_id, [])
        if not 0 <= hit.utterance < len(lines):
            continue  # the index is ahead of or behind the transcript: quote nothing
        stored_line = lines[hit.utterance]
        quote = Quote(
            call_id=hit.call_id,
            utterance=hit.utterance,
            speaker=hit.speaker,
            role=hit.role,
            start=hit.start,
            end=hit.end,
            text=stored_line.text,
        )
        low, high = max(0, hit.utterance - ASK_CONTEXT), hit.utterance + ASK_CONTEXT + 1
        context = tuple(
            q
            for q in lines[low:high]
            if q.utterance != hit.utterance and (speaker_role is None or q.role == speaker_role)
        )
        found.append(Retrieved(quote, hit.confidence, hit.methods, hit.cosine, context))
    return found
