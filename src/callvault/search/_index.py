"""The full-text index of transcript utterances, on SQLite (FTS5) and PostgreSQL
(tsvector), holding no transcript words in the clear.

What is stored (see `_blind`): for each utterance its filter columns (call, recording,
speaker, role, agent, language, start time), its keyed tokens (HMAC of each word, of each
word's prefixes and, on PostgreSQL, of each pair of adjacent words) and its text sealed
under its call's key. The engines index the keyed tokens as opaque words, so FTS5 and
``tsvector`` still give phrase positions, BM25 (SQLite) and ``ts_rank_cd`` (PostgreSQL).
Snippets are built here, at query time, from the decrypted text of the page's rows only:
rows that the query's filters (the reader's reach, restricted calls) already admitted.

Purging a call deletes its rows and its key (``search_keys``). On SQLite, FTS5 keeps the
tokens of deleted rows in its b-tree segments until they are merged: purging therefore
either deletes securely (FTS5 ``secure-delete``, SQLite >= 3.42) or rewrites the index
(``optimize``), and then truncates the write-ahead log. On PostgreSQL the deleted tuples
stay in the table files until ``VACUUM`` runs (autovacuum, or the operator); their text
is sealed under a key that is gone with the call's key row.

Snippets mark each match with ``«`` and ``»`` (`SNIPPET_START`, `SNIPPET_END`); text
left out at either end is shown as ``…``. The snippet is transcript text: show it only to
users allowed to read that call.

Hits are ranked by relevance (BM25 on SQLite, ``ts_rank_cd`` on PostgreSQL) when the query
and its filters match at most `RANK_LIMIT` utterances. Ranking needs every match scored,
and a query that matches more (a common word, a phrase of common words) would cost time
in proportion; its hits come newest first instead (most recently indexed first), with
``score`` 0. A search first counts its matches, up to one past the limit, to choose. A
query with a term the index can only narrow down (`Term.checked`) reads and checks every
candidate instead.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import BindParameter, Connection, DateTime, Engine, TextClause, bindparam, text
from sqlalchemy.orm import Session

from callvault.errors import ConfigError, InputError, IntegrityError
from callvault.search._blind import BlindDocument, Blinder, CallKeys
from callvault.search._query import (
    PgMatch,
    Term,
    fts5_expression,
    iter_token_spans,
    parse_query,
    pg_match,
    term_spans,
    tokenize,
)

__all__ = [
    "MAX_LIMIT",
    "RANK_LIMIT",
    "SEARCH_TABLE_PREFIX",
    "SNIPPET_ELLIPSIS",
    "SNIPPET_END",
    "SNIPPET_START",
    "IndexRow",
    "SearchHit",
    "SearchIndex",
    "SearchPage",
    "is_search_table",
]

logger = logging.getLogger("callvault.search")

SNIPPET_START = "«"
SNIPPET_END = "»"
SNIPPET_ELLIPSIS = "…"
SEARCH_TABLE_PREFIX = "search_"
MAX_LIMIT = 1000
# Matches that a search still ranks; bench/search.py measures the cost of the choice.
RANK_LIMIT = 2000
# PostgreSQL refuses lexemes over 2047 bytes in a tsquery; no spoken word comes close.
_MAX_TOKEN_CHARS = 256
_SNIPPET_TOKENS = 16
# PostgreSQL keeps positions 1 to 16383, and at most 256 of them per lexeme.
_PG_MAX_POSITION = 16383
_PG_MAX_POSITIONS = 256
# FTS5 "secure-delete" overwrites the tokens of deleted rows at once (SQLite 3.42).
_FTS5_SECURE_DELETE = sqlite3.sqlite_version_info >= (3, 42, 0)


def is_search_table(name: str) -> bool:
    """Whether ``name`` is one of the search index's tables, which ``Base.metadata`` lacks.

    For Alembic's ``include_object`` (schema comparison and autogenerate)::

        def include_object(obj, name, type_, reflected, compare_to):
            return not (type_ == "table" and compare_to is None and is_search_table(name))
    """
    return name.startswith(SEARCH_TABLE_PREFIX)


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One utterance to index. ``start``/``end`` are seconds from the start of the call."""

    call_id: str
    recording_id: str
    utterance: int
    speaker: str
    role: str | None
    agent: str | None
    language: str | None
    started_at: datetime | None
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One matching utterance; ``snippet`` marks matches with « », higher ``score`` is better
    (0 for every hit of a query with more matches than are ranked: those come newest first)."""

    call_id: str
    recording_id: str
    utterance: int
    speaker: str
    role: str | None
    start: float
    end: float
    snippet: str
    score: float


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of hits and how they were ordered.

    ``ranked``: best first (by relevance) when True; newest first, every ``score`` 0, when
    more than the index's rank limit matched. ``matches``: how many utterances match, when
    ranked; None when more than ``rank_limit`` did (the count stops there).
    """

    hits: list[SearchHit]
    ranked: bool
    matches: int | None
    rank_limit: int


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InputError(f"{name} is a naive datetime; give it a time zone (for example UTC)")
    return value.astimezone(UTC)


def _connection(session_or_conn: Session | Connection) -> Connection:
    return session_or_conn.connection() if isinstance(session_or_conn, Session) else session_or_conn


def _check_rows(rows: Sequence[IndexRow]) -> list[dict[str, Any]]:
    seen: set[tuple[str, int]] = set()
    params: list[dict[str, Any]] = []
    for row in rows:
        key = (row.recording_id, row.utterance)
        if key in seen:
            raise InputError(
                f"utterance {row.utterance} of recording {row.recording_id} is given twice; "
                "index each utterance once"
            )
        seen.add(key)
        if not (math.isfinite(row.start) and math.isfinite(row.end)):
            raise InputError(
                f"utterance {row.utterance} of recording {row.recording_id} has a start or "
                "end that is not a finite number of seconds"
            )
        params.append(
            {
                "call_id": row.call_id,
                "recording_id": row.recording_id,
                "utterance": row.utterance,
                "speaker": row.speaker,
                "role": row.role,
                "agent": row.agent,
                "language": row.language,
                "started_at": _utc(row.started_at, "IndexRow.started_at"),
                "start_s": float(row.start),
                "end_s": float(row.end),
                "text": unicodedata.normalize("NFC", row.text),
            }
        )
    return params


def _pg_tsv(document: BlindDocument) -> str:
    """``tsv`` as a tsvector literal: each word's token and its prefix tokens at the
    word's position, so that ``<->`` works for phrases that end in a prefix."""
    positions: dict[str, list[int]] = {}
    for index, (word, prefixes) in enumerate(zip(document.words, document.prefixes, strict=True)):
        position = min(index + 1, _PG_MAX_POSITION)
        for lexeme in (word, *prefixes):
            found = positions.setdefault(lexeme, [])
            if len(found) < _PG_MAX_POSITIONS and (not found or found[-1] != position):
                found.append(position)
    return " ".join(f"{lexeme}:{','.join(map(str, p))}" for lexeme, p in positions.items())


_COLUMNS = (
    "call_id, recording_id, utterance, speaker, role, agent, language, started_at, start_s, "
    "end_s, sealed"
)
_VALUES = (
    ":call_id, :recording_id, :utterance, :speaker, :role, :agent, :language, :started_at, "
    ":start_s, :end_s, :sealed"
)
_INSERT_SQLITE = text(f"INSERT INTO search_utterances ({_COLUMNS}) VALUES ({_VALUES})").bindparams(
    bindparam("started_at", type_=DateTime(timezone=True))
)
_INSERT_PG = text(
    f"INSERT INTO search_utterances ({_COLUMNS}, tsv, pairs) "
    f"VALUES ({_VALUES}, CAST(:tsv AS tsvector), CAST(:pairs AS tsvector))"
).bindparams(bindparam("started_at", type_=DateTime(timezone=True)))


class SearchIndex:
    """Full-text search over transcript utterances, with metadata filters.

    ``search_key``: the key ring's search key (`KeyRing.search_key`, or `Vault.search_key`);
    the index's tokens and sealed text derive from it. Writes go through
    `index_utterances` in the caller's transaction (so the index changes together with
    the transcript it comes from) or through the purge methods, which run their own
    transaction. Callers enforce access control (through the filters): this class does
    not.
    """

    def __init__(self, engine: Engine, search_key: bytes, *, rank_limit: int = RANK_LIMIT) -> None:
        if rank_limit < 0:
            raise ConfigError(f"rank_limit must be 0 or more, not {rank_limit}")
        self._engine = engine
        self._writer = engine.execution_options(callvault_write=True)
        self._postgres = engine.dialect.name == "postgresql"
        self._rank_limit = rank_limit
        self._blind = Blinder(search_key)
        self._keys = CallKeys(search_key)

    # -- writing -----------------------------------------------------------------------

    def index_utterances(
        self, session_or_conn: Session | Connection, rows: Sequence[IndexRow]
    ) -> int:
        """Index ``rows``, replacing every row already indexed for their recordings.

        Runs in the caller's transaction (on SQLite a write transaction, opened with the
        ``callvault_write`` execution option); the caller commits. Returns the number of
        rows indexed. Re-indexing the same rows is a no-op in effect.
        """
        params = _check_rows(rows)
        conn = _connection(session_or_conn)
        recordings = sorted({p["recording_id"] for p in params})
        self._delete(conn, "recording_id", recordings)
        if not params:
            return 0
        ciphers = self._keys.load(conn, {p["call_id"] for p in params}, create=True)
        documents: list[BlindDocument] = []
        for p in params:
            body: str = p.pop("text")
            documents.append(self._blind.document(tokenize(body), pairs=self._postgres))
            p["sealed"] = CallKeys.seal(
                ciphers[p["call_id"]], "text", p["recording_id"], p["utterance"], body.encode()
            )
        if self._postgres:
            for p, document in zip(params, documents, strict=True):
                p["tsv"] = _pg_tsv(document)
                p["pairs"] = " ".join(sorted(set(document.pairs)))
            conn.execute(_INSERT_PG, params)
        else:
            conn.execute(_INSERT_SQLITE, params)
            ids: dict[tuple[str, int], int] = {}
            for recording in recordings:
                found = conn.execute(
                    text("SELECT id, utterance FROM search_utterances WHERE recording_id = :r"),
                    {"r": recording},
                )
                ids.update({(recording, row[1]): row[0] for row in found})
            conn.execute(
                text("INSERT INTO search_fts (rowid, words, prefixes) VALUES (:id, :w, :p)"),
                [
                    {
                        "id": ids[(p["recording_id"], p["utterance"])],
                        "w": " ".join(d.words),
                        "p": " ".join(t for prefixes in d.prefixes for t in prefixes),
                    }
                    for p, d in zip(params, documents, strict=True)
                ],
            )
        logger.debug("indexed %d utterances of %d recordings", len(params), len(recordings))
        return len(params)

    def purge_recording(self, recording_id: str) -> int:
        """Remove every indexed utterance of a recording, with its sentence embeddings;
        returns how many utterances were removed."""
        return self._purge("recording_id", recording_id)

    def purge_call(self, call_id: str) -> int:
        """Remove every indexed utterance of a call (all its recordings), with embeddings
        and the call's index key."""
        return self._purge("call_id", call_id)

    def purge_calls(self, call_ids: list[str]) -> int:
        """Remove every indexed utterance of several calls, in one transaction."""
        return self._purge("call_id", *call_ids)

    def _purge(self, column: str, *values: str) -> int:
        with self._writer.begin() as conn:
            removed = self._delete(conn, column, list(values))
            # The sentence embeddings (callvault.search._semantic) are derived from the
            # same text: they go in the same transaction, and so does a call's key.
            for value in values:
                conn.execute(
                    text(f"DELETE FROM search_embeddings WHERE {column} = :v"), {"v": value}
                )
                if column == "call_id":
                    conn.execute(text("DELETE FROM search_keys WHERE call_id = :v"), {"v": value})
            if not self._postgres and not _FTS5_SECURE_DELETE:
                # Without secure-delete, the tokens of deleted rows stay in older FTS5
                # segments until a merge; "optimize" merges all of them now.
                conn.execute(text("INSERT INTO search_fts (search_fts) VALUES ('optimize')"))
        if not self._postgres:
            # The write-ahead log still holds the old pages until it is checkpointed.
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        logger.info("purged %d indexed utterances", removed)
        return removed

    def _delete(self, conn: Connection, column: str, values: list[str]) -> int:
        assert column in ("recording_id", "call_id")
        if not values:
            return 0
        removed = 0
        if not self._postgres and _FTS5_SECURE_DELETE:  # pragma: no cover - SQLite >= 3.42
            conn.execute(
                text("INSERT INTO search_fts (search_fts, rank) VALUES ('secure-delete', 1)")
            )
        for value in values:
            if not self._postgres:
                conn.execute(
                    text(
                        "DELETE FROM search_fts WHERE rowid IN "
                        f"(SELECT id FROM search_utterances WHERE {column} = :v)"
                    ),
                    {"v": value},
                )
            result = conn.execute(
                text(f"DELETE FROM search_utterances WHERE {column} = :v"), {"v": value}
            )
            removed += result.rowcount
        return removed

    # -- reading -----------------------------------------------------------------------

    def _unseal_texts(
        self, conn: Connection, rows: Sequence[tuple[str, str, int, bytes]]
    ) -> list[str]:
        """The texts of sealed rows (call, recording, utterance, sealed), in order."""
        ciphers = self._keys.load(conn, {r[0] for r in rows})
        return [
            CallKeys.open(_cipher(ciphers, call), "text", recording, n, bytes(sealed)).decode()
            for call, recording, n, sealed in rows
        ]

    # -- searching ---------------------------------------------------------------------

    def search(self, query: str, **filters: Any) -> list[SearchHit]:
        """The hits of `search_page` alone."""
        return self.search_page(query, **filters).hits

    def search_page(
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
        offset: int = 0,
        agents: Collection[str] | None = None,
    ) -> SearchPage:
        """Utterances matching ``query``, best first; newest first, with ``score`` 0, when
        more than the index's ``rank_limit`` (`RANK_LIMIT`) match.

        ``exclude_calls``: calls whose utterances are left out, in the query itself, so
        that counts and pages are those of the rest (restricted calls, say). ``agents``:
        only calls of these agents (a caller's reach: `services.access.call_filter`); an
        empty collection matches nothing.

        ``query``: words (all must match), ``"phrases"`` and ``prefix*`` (see `_query`).
        Filters compare exactly; ``since`` is inclusive and ``until`` exclusive, both on
        the call's start time (calls without one are left out when either is given).
        """
        terms = parse_query(query)
        for term in terms:
            longest = max(len(t) for t in term.tokens)
            if longest > _MAX_TOKEN_CHARS:
                raise InputError(
                    f"a word of the search query is {longest} characters long; use words of "
                    f"at most {_MAX_TOKEN_CHARS}"
                )
        if not 1 <= limit <= MAX_LIMIT:
            raise InputError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        if offset < 0:
            raise InputError(f"offset must be 0 or more, not {offset}")
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        where, filter_params, binds = _filters(
            speaker_role, agent, since, until, language, exclude_calls, agents
        )
        params.update(filter_params)
        if self._postgres:
            statements = _pg_statements(pg_match(terms, self._blind), where, params)
        else:
            params["q"] = fts5_expression(terms, self._blind)
            statements = _sqlite_statements(where)
        params["count_limit"] = self._rank_limit + 1
        checked = any(t.checked(self._postgres) for t in terms)
        with self._engine.connect() as conn:
            if checked:
                rows, texts, ranked, matches = self._checked_page(
                    conn, statements, binds, params, terms
                )
            else:
                matches = conn.execute(_bind(statements.count, binds), params).scalar_one()
                ranked = matches <= self._rank_limit
                sql = statements.ranked if ranked else statements.newest
                rows = list(conn.execute(_bind(sql, binds), params).all())
                texts = self._unseal_texts(conn, [(r[1], r[2], r[3], r[8]) for r in rows])
            conn.rollback()
        hits = [
            SearchHit(
                call_id=r[1],
                recording_id=r[2],
                utterance=r[3],
                speaker=r[4],
                role=r[5],
                start=float(r[6]),
                end=float(r[7]),
                snippet=_snippet(body, terms),
                score=float(r[9]) if ranked else 0.0,
            )
            for r, body in zip(rows, texts, strict=True)
        ]
        return SearchPage(hits, ranked, matches if ranked else None, self._rank_limit)

    def _checked_page(
        self,
        conn: Connection,
        statements: _Statements,
        binds: list[BindParameter[Any]],
        params: dict[str, Any],
        terms: list[Term],
    ) -> tuple[list[Any], list[str], bool, int]:
        """Every candidate, best first, checked against its decrypted text; then the
        count, the order and the page (its rows and their texts, decrypted once) as for
        the other queries."""
        candidates = list(conn.execute(_bind(statements.candidates, binds), params).all())
        texts = self._unseal_texts(conn, [(r[1], r[2], r[3], r[8]) for r in candidates])
        kept = [
            (row, body)
            for row, body in zip(candidates, texts, strict=True)
            if term_spans(terms, [t for _, _, t in iter_token_spans(body)]) is not None
        ]
        ranked = len(kept) <= self._rank_limit
        if not ranked:
            kept.sort(key=lambda k: -int(k[0][0]))
        start = params["offset"]
        page = kept[start : start + params["limit"]]
        return [row for row, _ in page], [body for _, body in page], ranked, len(kept)


def _cipher(ciphers: dict[str, AESGCM], call_id: str) -> AESGCM:
    try:
        return ciphers[call_id]
    except KeyError:
        raise IntegrityError(
            f"call {call_id} has search rows but no search index key; index the call "
            "again (callvault reindex)"
        ) from None


def _snippet(body: str, terms: list[Term]) -> str:
    """Up to `_SNIPPET_TOKENS` tokens of ``body`` around its densest matches, each
    matching token between « and », ``…`` where text is left out."""
    spans = iter_token_spans(body)
    tokens = [t for _, _, t in spans]
    marked: set[int] = set()
    for term in terms:
        for found in term.spans(tokens):
            marked.update(found)
    n = len(tokens)
    if n == 0:
        return body
    width = min(_SNIPPET_TOKENS, n)
    flags = [1 if i in marked else 0 for i in range(n)]
    best = count = sum(flags[:width])
    low = 0
    for start in range(1, n - width + 1):
        count += flags[start + width - 1] - flags[start - 1]
        if count > best:
            best, low = count, start
    high = low + width
    out: list[str] = [SNIPPET_ELLIPSIS] if low > 0 else [body[: spans[0][0]]]
    for i in range(low, high):
        if i > low:
            out.append(body[spans[i - 1][1] : spans[i][0]])
        word = body[spans[i][0] : spans[i][1]]
        out.append(f"{SNIPPET_START}{word}{SNIPPET_END}" if i in marked else word)
    out.append(SNIPPET_ELLIPSIS if high < n else body[spans[-1][1] :])
    return "".join(out)


def _filters(
    speaker_role: str | None,
    agent: str | None,
    since: datetime | None,
    until: datetime | None,
    language: str | None,
    exclude_calls: Collection[str],
    agents: Collection[str] | None = None,
) -> tuple[str, dict[str, Any], list[BindParameter[Any]]]:
    """The filters of a search as SQL on ``u`` (search_utterances)."""
    params: dict[str, Any] = {}
    filters: list[str] = []
    binds: list[BindParameter[Any]] = []
    for column, value in (("role", speaker_role), ("agent", agent), ("language", language)):
        if value is not None:
            filters.append(f"u.{column} = :{column}")
            params[column] = value
    if agents is not None:
        filters.append("u.agent IN :agents" if agents else "1 = 0")
        if agents:
            params["agents"] = sorted(set(agents))
            binds.append(bindparam("agents", expanding=True))
    if since is not None:
        filters.append("u.started_at >= :since")
        params["since"] = _utc(since, "since")
        binds.append(bindparam("since", type_=DateTime(timezone=True)))
    if until is not None:
        filters.append("u.started_at < :until")
        params["until"] = _utc(until, "until")
        binds.append(bindparam("until", type_=DateTime(timezone=True)))
    if exclude_calls:
        filters.append("u.call_id NOT IN :exclude_calls")
        params["exclude_calls"] = sorted(set(exclude_calls))
        binds.append(bindparam("exclude_calls", expanding=True))
    return "".join(f" AND {f}" for f in filters), params, binds


@dataclass(frozen=True, slots=True)
class _Statements:
    """A search's SQL: ``count`` counts matches up to ``:count_limit``; ``ranked`` and
    ``newest`` give the page of hits best first and newest first; ``candidates`` every
    match best first. Each row: id, the hit's columns, sealed text, score."""

    count: str
    ranked: str
    newest: str
    candidates: str


_HIT_COLUMNS = (
    "u.id, u.call_id, u.recording_id, u.utterance, u.speaker, u.role, u.start_s, u.end_s, u.sealed"
)


def _pg_statements(match: PgMatch, where: str, params: dict[str, Any]) -> _Statements:
    """The statements on PostgreSQL, for a `PgMatch` and the filters ``where``; puts the
    query's parameters in ``params``."""
    params["q"] = match.exact
    if match.pairs is None:
        conditions = ["u.tsv @@ CAST(:q AS tsquery)"]
    else:
        # The phrase test is written as the function behind @@ so that the planner
        # cannot take it to the GIN index of tsv: that would intersect the rows of each
        # of its words, which for common words is most of the table.
        params["pairs"] = match.pairs
        conditions = [
            "u.pairs @@ CAST(:pairs AS tsquery)",
            "ts_match_vq(u.tsv, CAST(:q AS tsquery))",
        ]
        if match.words is not None:
            params["words"] = match.words
            conditions.insert(0, "u.tsv @@ CAST(:words AS tsquery)")
    matches = f"FROM search_utterances AS u WHERE {' AND '.join(conditions)}{where}"
    score = "ts_rank_cd(u.tsv, CAST(:q AS tsquery))"
    return _Statements(
        count=f"SELECT count(*) FROM (SELECT 1 {matches} LIMIT :count_limit) AS m",
        ranked=(
            f"SELECT {_HIT_COLUMNS}, {score} AS score {matches} "
            "ORDER BY score DESC, u.id LIMIT :limit OFFSET :offset"
        ),
        newest=(
            f"SELECT {_HIT_COLUMNS}, 0.0 {matches} ORDER BY u.id DESC LIMIT :limit OFFSET :offset"
        ),
        candidates=f"SELECT {_HIT_COLUMNS}, {score} AS score {matches} ORDER BY score DESC, u.id",
    )


def _sqlite_statements(where: str) -> _Statements:
    """The statements on SQLite, for the filters ``where``."""
    # CROSS JOIN keeps the FTS5 table the outer loop: rows come in FTS5's own order.
    matches = (
        "FROM search_fts CROSS JOIN search_utterances AS u ON u.id = search_fts.rowid "
        f"WHERE search_fts MATCH :q{where}"
    )
    return _Statements(
        count=f"SELECT count(*) FROM (SELECT 1 {matches} LIMIT :count_limit)",
        # The best rows by bm25() and row id first; the outer query reads the sealed
        # text of those rows only.
        ranked=(
            f"SELECT {_HIT_COLUMNS}, -best.score FROM ("
            f"SELECT search_fts.rowid AS id, bm25(search_fts) AS score {matches} "
            "ORDER BY score, search_fts.rowid LIMIT :limit OFFSET :offset) AS best "
            "CROSS JOIN search_utterances AS u ON u.id = best.id ORDER BY best.score, best.id"
        ),
        # FTS5 returns rows by descending rowid itself, and stops at the page's end.
        newest=(
            f"SELECT {_HIT_COLUMNS}, 0.0 {matches} "
            "ORDER BY search_fts.rowid DESC LIMIT :limit OFFSET :offset"
        ),
        candidates=(
            f"SELECT {_HIT_COLUMNS}, -bm25(search_fts) AS score {matches} "
            "ORDER BY bm25(search_fts), search_fts.rowid"
        ),
    )


def _bind(sql: str, binds: list[BindParameter[Any]]) -> TextClause:
    statement = text(sql)
    return statement.bindparams(*binds) if binds else statement
