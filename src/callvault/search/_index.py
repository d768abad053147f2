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
"""

from __future__ import annotations

import logging
import math
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, bindparam, text
from sqlalchemy.orm import Session

from callvault.errors import InputError
from callvault.search._query import (
    fts5_expression,
    parse_query,
    tokenize,
    tsquery_expression,
)

__all__ = [
    "MAX_LIMIT",
    "SEARCH_TABLE_PREFIX",
    "SNIPPET_ELLIPSIS",
    "SNIPPET_END",
    "SNIPPET_START",
    "IndexRow",
    "SearchHit",
    "SearchIndex",
    "is_search_table",
]

logger = logging.getLogger("callvault.search")

SNIPPET_START = "«"
SNIPPET_END = "»"
SNIPPET_ELLIPSIS = "…"
SEARCH_TABLE_PREFIX = "search_"
MAX_LIMIT = 1000
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
    """One matching utterance; ``snippet`` marks matches with « », higher ``score`` is better."""

    call_id: str
    recording_id: str
    utterance: int
    speaker: str
    role: str | None
    start: float
    end: float
    snippet: str
    score: float


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

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = engine.execution_options(callvault_write=True)
        self._postgres = engine.dialect.name == "postgresql"

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
        """Remove every indexed utterance of a recording; returns how many were removed."""
        return self._purge("recording_id", recording_id)

    def purge_call(self, call_id: str) -> int:
        """Remove every indexed utterance of a call (all its recordings)."""
        return self._purge("call_id", call_id)

    def _purge(self, column: str, value: str) -> int:
        with self._writer.begin() as conn:
            removed = self._delete(conn, column, [value])
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

    def search(
        self,
        query: str,
        *,
        speaker_role: str | None = None,
        agent: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        language: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[SearchHit]:
        """Utterances matching ``query``, best first.

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
        binds = []
        if since is not None:
            filters.append("u.started_at >= :since")
            params["since"] = _utc(since, "since")
            binds.append(bindparam("since", type_=DateTime(timezone=True)))
        if until is not None:
            filters.append("u.started_at < :until")
            params["until"] = _utc(until, "until")
            binds.append(bindparam("until", type_=DateTime(timezone=True)))
        where = "".join(f" AND {f}" for f in filters)
        if self._postgres:
            params["q"] = tsquery_expression(terms)
            sql = (
                "SELECT h.call_id, h.recording_id, h.utterance, h.speaker, h.role, h.start_s, "
                f"h.end_s, ts_headline('simple', h.text, to_tsquery('simple', :q), "
                f"'{_PG_HEADLINE}'), h.score FROM ("
                "SELECT u.id, u.call_id, u.recording_id, u.utterance, u.speaker, u.role, "
                "u.start_s, u.end_s, u.text, ts_rank_cd(u.tsv, to_tsquery('simple', :q)) AS score "
                "FROM search_utterances AS u "
                f"WHERE u.tsv @@ to_tsquery('simple', :q){where} "
                "ORDER BY score DESC, u.id LIMIT :limit OFFSET :offset"
                ") AS h ORDER BY h.score DESC, h.id"
            )
        else:
            params["q"] = fts5_expression(terms)
            # CROSS JOIN keeps the FTS5 table the outer loop, so FTS5 itself returns rows
            # in rank order and snippet() runs only for the rows that are returned.
            sql = (
                "SELECT u.call_id, u.recording_id, u.utterance, u.speaker, u.role, u.start_s, "
                f"u.end_s, snippet(search_fts, 0, '{SNIPPET_START}', '{SNIPPET_END}', "
                f"'{SNIPPET_ELLIPSIS}', {_SNIPPET_TOKENS}), -search_fts.rank "
                "FROM search_fts CROSS JOIN search_utterances AS u ON u.id = search_fts.rowid "
                f"WHERE search_fts MATCH :q{where} "
                "ORDER BY search_fts.rank LIMIT :limit OFFSET :offset"
            )
        statement = text(sql).bindparams(*binds) if binds else text(sql)
        with self._engine.connect() as conn:
            rows = conn.execute(statement, params).all()
            conn.rollback()
        return [
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
