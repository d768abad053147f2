"""The full-text index of transcript utterances, on SQLite (FTS5) and PostgreSQL (tsvector).

The index is, besides the encrypted transcript blob, the only copy of transcript text, so
every recording's rows can be purged. On SQLite, FTS5 keeps the tokens of deleted rows in
its b-tree segments until they are merged: purging therefore either deletes securely
(FTS5 ``secure-delete``, SQLite >= 3.42) or rewrites the index (``optimize``), and then
truncates the write-ahead log. On PostgreSQL the deleted tuples stay in the table files
until ``VACUUM`` runs (autovacuum, or the operator).

Snippets mark each match with ``«`` and ``»`` (`SNIPPET_START`, `SNIPPET_END`); text
left out at either end of a SQLite snippet is shown as ``…``. The snippet is transcript
text: show it only to users allowed to read that call.

Hits are ranked by relevance (BM25 on SQLite, ``ts_rank_cd`` on PostgreSQL) when the query
and its filters match at most `RANK_LIMIT` utterances. Ranking needs every match scored,
and a query that matches more (a common word, a phrase of common words) would cost time
in proportion; its hits come newest first instead (most recently indexed first), with
``score`` 0. A search first counts its matches, up to one past the limit, to choose.
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

from sqlalchemy import BindParameter, Connection, DateTime, Engine, TextClause, bindparam, text
from sqlalchemy.orm import Session

from callvault.errors import ConfigError, InputError
from callvault.search._query import (
    Term,
    fts5_expression,
    parse_query,
    pg_match,
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
# FTS5 "secure-delete" overwrites the tokens of deleted rows at once (SQLite 3.42).
_FTS5_SECURE_DELETE = sqlite3.sqlite_version_info >= (3, 42, 0)
_PG_HEADLINE = f"StartSel={SNIPPET_START}, StopSel={SNIPPET_END}, MaxWords=24, MinWords=8"


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
        body = unicodedata.normalize("NFC", row.text)
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
                "text": body,
                "tokens": " ".join(t for t in tokenize(body) if len(t) <= _MAX_TOKEN_CHARS),
            }
        )
    return params


_COLUMNS = (
    "call_id, recording_id, utterance, speaker, role, agent, language, started_at, start_s, end_s"
)
_VALUES = (
    ":call_id, :recording_id, :utterance, :speaker, :role, :agent, :language, :started_at, "
    ":start_s, :end_s"
)
_INSERT_SQLITE = text(f"INSERT INTO search_utterances ({_COLUMNS}) VALUES ({_VALUES})").bindparams(
    bindparam("started_at", type_=DateTime(timezone=True))
)
_INSERT_PG = text(
    f"INSERT INTO search_utterances ({_COLUMNS}, text, tsv) "
    f"VALUES ({_VALUES}, :text, to_tsvector('simple', :tokens))"
).bindparams(bindparam("started_at", type_=DateTime(timezone=True)))


class SearchIndex:
    """Full-text search over transcript utterances, with metadata filters.

    Writes go through `index_utterances` in the caller's transaction (so the index changes
    together with the transcript it comes from) or through the purge methods, which run
    their own transaction. Callers enforce access control: this class does not.
    """

    def __init__(self, engine: Engine, *, rank_limit: int = RANK_LIMIT) -> None:
        if rank_limit < 0:
            raise ConfigError(f"rank_limit must be 0 or more, not {rank_limit}")
        self._engine = engine
        self._writer = engine.execution_options(callvault_write=True)
        self._postgres = engine.dialect.name == "postgresql"
        self._rank_limit = rank_limit

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
        if self._postgres:
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
                text("INSERT INTO search_fts (rowid, text) VALUES (:id, :text)"),
                [
                    {"id": ids[(p["recording_id"], p["utterance"])], "text": p["text"]}
                    for p in params
                ],
            )
        logger.debug("indexed %d utterances of %d recordings", len(params), len(recordings))
        return len(params)

    def purge_recording(self, recording_id: str) -> int:
        """Remove every indexed utterance of a recording, with its sentence embeddings;
        returns how many utterances were removed."""
        return self._purge("recording_id", recording_id)

    def purge_call(self, call_id: str) -> int:
        """Remove every indexed utterance of a call (all its recordings), with embeddings."""
        return self._purge("call_id", call_id)

    def purge_calls(self, call_ids: list[str]) -> int:
        """Remove every indexed utterance of several calls, in one transaction."""
        return self._purge("call_id", *call_ids)

    def _purge(self, column: str, *values: str) -> int:
        with self._writer.begin() as conn:
            removed = self._delete(conn, column, list(values))
            # The sentence embeddings (callvault.search._semantic) are derived from the
            # same text: they go in the same transaction.
            for value in values:
                conn.execute(
                    text(f"DELETE FROM search_embeddings WHERE {column} = :v"), {"v": value}
                )
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
        filters: list[str] = []
        for column, value in (("role", speaker_role), ("agent", agent), ("language", language)):
            if value is not None:
                filters.append(f"u.{column} = :{column}")
                params[column] = value
        binds: list[BindParameter[Any]] = []
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
        where = "".join(f" AND {f}" for f in filters)
        if self._postgres:
            statements = _pg_statements(terms, where, params)
        else:
            params["q"] = fts5_expression(terms)
            statements = _sqlite_statements(where)
        params["count_limit"] = self._rank_limit + 1
        with self._engine.connect() as conn:
            matches = conn.execute(_bind(statements.count, binds), params).scalar_one()
            ranked = matches <= self._rank_limit
            page = statements.ranked if ranked else statements.newest
            rows = conn.execute(_bind(page, binds), params).all()
            conn.rollback()
        hits = [
            SearchHit(
                call_id=r[0],
                recording_id=r[1],
                utterance=r[2],
                speaker=r[3],
                role=r[4],
                start=float(r[5]),
                end=float(r[6]),
                snippet=r[7],
                score=float(r[8]),
            )
            for r in rows
        ]
        return SearchPage(hits, ranked, int(matches) if ranked else None, self._rank_limit)


@dataclass(frozen=True, slots=True)
class _Statements:
    """A search's SQL: ``count`` counts matches up to ``:count_limit``; ``ranked`` and
    ``newest`` give the page of hits best first and newest first."""

    count: str
    ranked: str
    newest: str


_HIT_COLUMNS = "u.call_id, u.recording_id, u.utterance, u.speaker, u.role, u.start_s, u.end_s"
_SNIPPET = (
    f"snippet(search_fts, 0, '{SNIPPET_START}', '{SNIPPET_END}', '{SNIPPET_ELLIPSIS}', "
    f"{_SNIPPET_TOKENS})"
)


def _pg_statements(terms: list[Term], where: str, params: dict[str, Any]) -> _Statements:
    """The statements on PostgreSQL, for ``terms`` and the filters ``where``; puts the
    query's parameters in ``params``."""
    match = pg_match(terms)
    params["q"] = match.exact
    if match.bigrams is None:
        conditions = ["u.tsv @@ to_tsquery('simple', :q)"]
    else:
        # The phrase test is written as the function behind @@ so that the planner
        # cannot take it to the GIN index of tsv: that would intersect the rows of each
        # of its words, which for common words is most of the table.
        params["bigrams"] = match.bigrams
        conditions = [
            "u.bigrams @@ CAST(:bigrams AS tsquery)",
            "ts_match_vq(u.tsv, to_tsquery('simple', :q))",
        ]
        if match.words is not None:
            params["words"] = match.words
            conditions.insert(0, "u.tsv @@ to_tsquery('simple', :words)")
    matches = f"FROM search_utterances AS u WHERE {' AND '.join(conditions)}{where}"

    def page(score: str, order: str) -> str:
        # ts_headline is slow: it runs on the rows of the page only.
        return (
            "SELECT h.call_id, h.recording_id, h.utterance, h.speaker, h.role, h.start_s, "
            f"h.end_s, ts_headline('simple', h.text, to_tsquery('simple', :q), "
            f"'{_PG_HEADLINE}'), h.score FROM (SELECT u.id, {_HIT_COLUMNS}, u.text, "
            f"{score} AS score {matches} ORDER BY {order} LIMIT :limit OFFSET :offset) AS h "
            f"ORDER BY {order}"
        )

    return _Statements(
        count=f"SELECT count(*) FROM (SELECT 1 {matches} LIMIT :count_limit) AS m",
        ranked=page("ts_rank_cd(u.tsv, to_tsquery('simple', :q))", "score DESC, id"),
        newest=page("0.0", "id DESC"),
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
        # The best rows by bm25() and row id first; SQLite computes every column of a row
        # it sorts, so snippet() is left to the outer query, which finds each of those
        # rows again in FTS5 by its id.
        ranked=(
            f"SELECT {_HIT_COLUMNS}, {_SNIPPET}, -best.score FROM ("
            f"SELECT search_fts.rowid AS id, bm25(search_fts) AS score {matches} "
            "ORDER BY score, search_fts.rowid LIMIT :limit OFFSET :offset) AS best "
            "CROSS JOIN search_fts ON search_fts.rowid = best.id "
            "CROSS JOIN search_utterances AS u ON u.id = best.id "
            "WHERE search_fts MATCH :q ORDER BY best.score, best.id"
        ),
        # FTS5 returns rows by descending rowid itself, and stops at the page's end.
        newest=(
            f"SELECT {_HIT_COLUMNS}, {_SNIPPET}, 0.0 {matches} "
            "ORDER BY search_fts.rowid DESC LIMIT :limit OFFSET :offset"
        ),
    )


def _bind(sql: str, binds: list[BindParameter[Any]]) -> TextClause:
    statement = text(sql)
    return statement.bindparams(*binds) if binds else statement
