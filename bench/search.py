"""Benchmark of callvault.search: the blind index (issue 17) against the plain one it
replaced, on the same calls, in the same run.

What one run measures (single process, this machine):

1. Build: ``--calls`` synthetic calls (default 10,000) of about ``--words`` words in all
   (default 5,000,000), in utterances of 4 to 30 words drawn from a vocabulary of
   ``--vocab`` made-up words (default 4,000; some with umlauts and ß) with a Zipf
   distribution (s = 1), fixed seed. Indexed twice, into two fresh SQLite databases in a
   temporary directory, 100 calls per transaction:

   - blind: ``SearchIndex.index_utterances`` (keyed tokens, sealed text; migration 0013);
   - plain: the index callvault kept before issue 17, built here from its DDL
     (migration 0003: FTS5 over the text itself) with the same rows.

   Reported: build time and the size of each database.
2. Queries: 200 single words (drawn uniformly from the vocabulary's ranks, so rare and
   common words alike), 200 two-word phrases (taken from the generated utterances, so
   every one matches), 200 prefixes (the first four letters of drawn words), and, as the
   worst case, the 20 most frequent words. Each query runs both ways, in turn, after one
   warm-up pass:

   - blind: ``SearchIndex.search_page(query, limit=20)``: count up to ``RANK_LIMIT`` + 1,
     the ranked (or newest) page, its rows' text decrypted, snippets built in Python;
   - plain: the statements the plain index was searched with (count, then the ranked
     page with ``snippet()`` for its 20 rows, or the newest 20).

   Target (the earlier search issue, kept by issue 17): p95 <= 50 ms for the word and
   phrase sets. The table also gives how many distinct queries both ranked and, in
   brackets, for how many the two pages held the same utterances (BM25 on the blind
   index counts a row's prefix tokens in its length, so scores and near ties differ).
3. One ``purge_recording`` of each.
4. Semantic search (``--semantic-utterances``, default 100,000 vectors of the first
   utterances, random ones: a scan's cost does not depend on their meaning):
   ``SemanticIndex.search`` over sealed vectors, and the time it takes to decrypt them
   all (every vector the filters admit is decrypted on each search).

With ``--postgres URL`` the blind index also runs on PostgreSQL (the URL's database gets
callvault's schema and its search tables are emptied: use a scratch database).
``--rank-limit`` measures another limit than callvault's default.
Results are Markdown tables on stdout; the exit status is 0 whatever the verdicts: this
is a benchmark, not a test.

Run it from the repository root::

    .venv/bin/python bench/search.py                     # full run
    .venv/bin/python bench/search.py --calls 1000 --words 500000    # quick check
"""

from __future__ import annotations

import argparse
import functools
import itertools
import platform
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, text

from callvault.search import (
    EMBEDDING_DIM,
    RANK_LIMIT,
    Embedder,
    IndexRow,
    SearchHit,
    SearchIndex,
    SemanticIndex,
    Term,
    parse_query,
)
from callvault.search._blind import CallKeys
from callvault.vault._db import create_db_engine, migrate

SEED = 2026
LIMIT = 20
TARGET_P95_MS = 50.0
CALLS_PER_TRANSACTION = 100
ROLES = ("agent", "customer")
AGENTS = ("anna", "ben", "chiara", "deniz", "emil")

# The plain index of migration 0003 on SQLite, and the statements it was searched with
# (callvault.search._index before issue 17).
PLAIN_DDL = (
    "CREATE TABLE search_utterances (id INTEGER PRIMARY KEY, call_id TEXT NOT NULL, "
    "recording_id TEXT NOT NULL, utterance INTEGER NOT NULL, speaker TEXT NOT NULL, "
    "role TEXT, agent TEXT, language TEXT, started_at TEXT, start_s REAL NOT NULL, "
    "end_s REAL NOT NULL, UNIQUE (recording_id, utterance))",
    "CREATE INDEX ix_search_utterances_call_id ON search_utterances (call_id)",
    "CREATE INDEX ix_search_utterances_started_at ON search_utterances (started_at)",
    "CREATE INDEX ix_search_utterances_agent ON search_utterances (agent)",
    "CREATE VIRTUAL TABLE search_fts USING fts5(text, tokenize = 'unicode61 remove_diacritics 0')",
)
HIT = "u.call_id, u.recording_id, u.utterance, u.speaker, u.role, u.start_s, u.end_s"
SQLITE_MATCHES = (
    "FROM search_fts CROSS JOIN search_utterances AS u ON u.id = search_fts.rowid "
    "WHERE search_fts MATCH :q"
)
SQLITE_COUNT = f"SELECT count(*) FROM (SELECT 1 {SQLITE_MATCHES} LIMIT :count_limit)"
SQLITE_RANKED = (
    f"SELECT {HIT}, snippet(search_fts, 0, '«', '»', '…', 16), -best.score FROM ("
    f"SELECT search_fts.rowid AS id, bm25(search_fts) AS score {SQLITE_MATCHES} "
    "ORDER BY score, search_fts.rowid LIMIT :limit) AS best "
    "CROSS JOIN search_fts ON search_fts.rowid = best.id "
    "CROSS JOIN search_utterances AS u ON u.id = best.id "
    "WHERE search_fts MATCH :q ORDER BY best.score, best.id"
)
SQLITE_NEWEST = (
    f"SELECT {HIT}, snippet(search_fts, 0, '«', '»', '…', 16), 0.0 {SQLITE_MATCHES} "
    "ORDER BY search_fts.rowid DESC LIMIT :limit"
)


def plain_fts5(terms: list[Term]) -> str:
    """The plain index's FTS5 expression: the words themselves, quoted."""
    parts = []
    for term in terms:
        quoted = '"' + " ".join(term.tokens) + '"'
        parts.append(quoted + "*" if term.prefix else quoted)
    return " AND ".join(parts)


# -- data --------------------------------------------------------------------------------

_ONSETS = ["b", "k", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "w", "st", "sch"]
_VOWELS = ["a", "e", "i", "o", "u", "ä", "ö", "ü", "ei", "au"]
_CODAS = ["", "n", "r", "s", "ß", "t", "ng", "ch"]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """``size`` distinct made-up words of one to three syllables."""
    words: dict[str, None] = {}
    while len(words) < size:
        syllables = rng.choice((1, 2, 2, 3))
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)
        )
        words.setdefault(word, None)
    return list(words)


def iter_calls(
    calls: int, words: int, vocab: list[str], rng: random.Random
) -> Iterator[list[IndexRow]]:
    """The utterances of each call, ``words`` words in all, Zipf-distributed over ``vocab``."""
    cum_weights = list(itertools.accumulate(1.0 / rank for rank in range(1, len(vocab) + 1)))
    per_call = words // calls
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for c in range(calls):
        drawn = rng.choices(vocab, cum_weights=cum_weights, k=per_call)
        utterances: list[IndexRow] = []
        at = 0
        while at < per_call:
            n = min(rng.randint(4, 30), per_call - at)
            u = len(utterances)
            utterances.append(
                IndexRow(
                    call_id=f"call{c:06d}",
                    recording_id=f"rec{c:06d}",
                    utterance=u,
                    speaker=f"S{u % 2}",
                    role=ROLES[u % 2],
                    agent=AGENTS[c % len(AGENTS)],
                    language="de",
                    started_at=t0 + timedelta(minutes=7 * c),
                    start=u * 6.0,
                    end=u * 6.0 + 5.5,
                    text=" ".join(drawn[at : at + n]).capitalize() + ".",
                )
            )
            at += n
        yield utterances


def build(
    engine: Engine, plain: sqlite3.Connection | None, calls: int, words: int, vocab: list[str]
) -> tuple[float, float, list[str], bytes]:
    """Index the synthetic calls in the blind index (and in the plain one); returns the
    seconds each took, sample two-word phrases and the search key."""
    key = secrets.token_bytes(32)
    index = SearchIndex(engine, key)
    rng = random.Random(SEED + 1)
    phrases: list[str] = []
    blind_s = plain_s = 0.0
    calls_iter = iter_calls(calls, words, vocab, rng)
    while batch := list(itertools.islice(calls_iter, CALLS_PER_TRANSACTION)):
        started = time.perf_counter()
        with engine.execution_options(callvault_write=True).begin() as conn:
            for utterances in batch:
                index.index_utterances(conn, utterances)
        blind_s += time.perf_counter() - started
        if plain is not None:
            started = time.perf_counter()
            with plain:
                for utterances in batch:
                    for r in utterances:
                        cursor = plain.execute(
                            "INSERT INTO search_utterances (call_id, recording_id, utterance, "
                            "speaker, role, agent, language, started_at, start_s, end_s) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                r.call_id,
                                r.recording_id,
                                r.utterance,
                                r.speaker,
                                r.role,
                                r.agent,
                                r.language,
                                None if r.started_at is None else r.started_at.isoformat(),
                                r.start,
                                r.end,
                            ),
                        )
                        plain.execute(
                            "INSERT INTO search_fts (rowid, text) VALUES (?, ?)",
                            (cursor.lastrowid, r.text),
                        )
            plain_s += time.perf_counter() - started
        sample = batch[0][len(batch[0]) // 2].text.rstrip(".").lower().split()
        if len(sample) >= 2:
            phrases.append(f'"{sample[0]} {sample[1]}"')
        if len(phrases) and len(phrases) % 20 == 0:
            print(f"  indexed {len(phrases) * CALLS_PER_TRANSACTION} calls", file=sys.stderr)
    return blind_s, plain_s, phrases, key


# -- measuring ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


Rows = Sequence[Sequence[Any]]


def measure(
    queries: list[str],
    blind: Callable[[str], tuple[bool, list[SearchHit]]],
    plain: Callable[[str], tuple[bool, Rows]] | None,
) -> dict[str, float]:
    """Latencies of both ways, and how many distinct queries both ranked and agree on."""
    ranked = agree = 0
    for q in dict.fromkeys(queries):  # warm-up: page cache, statement caches; checks
        blind_ranked, hits = blind(q)
        if plain is not None:
            plain_ranked, rows = plain(q)
            if blind_ranked and plain_ranked:
                ranked += 1
                agree += same_hits(hits, rows)
    times: dict[str, list[float]] = {"blind": [], "plain": []}
    for q in queries:
        times["blind"].append(timed(functools.partial(blind, q)))
        if plain is not None:
            times["plain"].append(timed(functools.partial(plain, q)))
    result: dict[str, float] = {"distinct": len(set(queries)), "ranked": ranked, "agree": agree}
    for way, ms in times.items():
        result[f"{way}_p50"] = statistics.median(ms) if ms else float("nan")
        result[f"{way}_p95"] = percentile(ms, 0.95) if ms else float("nan")
    return result


def same_hits(hits: list[SearchHit], rows: Rows) -> bool:
    """Whether the blind index's page holds the plain index's utterances (as sets: BM25's
    document length counts the prefix tokens too, so scores differ a little)."""
    return {(h.call_id, h.utterance) for h in hits} == {(str(r[0]), int(r[2])) for r in rows}


def query_sets(vocab: list[str], phrases: list[str], n: int) -> dict[str, list[str]]:
    rng = random.Random(SEED + 2)
    words = [rng.choice(vocab) for _ in range(n)]
    phrase_list = [rng.choice(phrases) for _ in range(n)]
    prefixes = [rng.choice([w for w in vocab if len(w) >= 5])[:4] + "*" for _ in range(n)]
    return {
        f"{n} words (uniform ranks)": words,
        f"{n} phrases (2 words)": phrase_list,
        f"{n} prefixes (4 letters)": prefixes,
        "20 most frequent words": vocab[:20],
    }


def table(backend: str, results: dict[str, dict[str, float]]) -> str:
    lines = [
        f"| {backend}: query set | blind p50 / p95 ms | plain p50 / p95 ms "
        f"| p95 blind / plain | ranked by both (same hits) | blind p95 <= {TARGET_P95_MS:.0f} ms |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        verdict = "yes" if r["blind_p95"] <= TARGET_P95_MS else "NO"
        if not (name.endswith("(uniform ranks)") or name.endswith("(2 words)")):
            verdict += " (no target)"
        lines.append(
            f"| {name} | {r['blind_p50']:.2f} / {r['blind_p95']:.2f} "
            f"| {r['plain_p50']:.2f} / {r['plain_p95']:.2f} "
            f"| {r['blind_p95'] / r['plain_p95']:.2f} "
            f"| {r['ranked']:.0f} of {r['distinct']:.0f} ({r['agree']:.0f}) | {verdict} |"
        )
    return "\n".join(lines)


def db_size(tmp: Path, name: str) -> int:
    return sum(p.stat().st_size for p in tmp.iterdir() if p.name.startswith(name))


def run_sqlite(args: argparse.Namespace, vocab: list[str], tmp: Path) -> None:
    db = tmp / "blind.db"
    engine = create_db_engine(f"sqlite:///{db}")
    migrate(engine)
    plain = sqlite3.connect(tmp / "plain.db")
    plain.execute("PRAGMA journal_mode=WAL")
    for statement in PLAIN_DDL:
        plain.execute(statement)
    print(f"building both SQLite indexes in {tmp}", file=sys.stderr)
    blind_s, plain_s, phrases, key = build(engine, plain, args.calls, args.words, vocab)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        utterances = conn.execute(text("SELECT count(*) FROM search_utterances")).scalar_one()
    plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sizes = (db_size(tmp, "blind.db"), db_size(tmp, "plain.db"))
    index = SearchIndex(engine, key, rank_limit=args.rank_limit)

    def blind(q: str) -> tuple[bool, list[SearchHit]]:
        page = index.search_page(q, limit=LIMIT)
        return page.ranked, page.hits

    def plain_search(q: str) -> tuple[bool, Rows]:
        expression = plain_fts5(parse_query(q))
        count = {"q": expression, "count_limit": args.rank_limit + 1}
        (matches,) = plain.execute(SQLITE_COUNT, count).fetchone()
        ranked = matches <= args.rank_limit
        sql = SQLITE_RANKED if ranked else SQLITE_NEWEST
        return ranked, plain.execute(sql, {"q": expression, "limit": LIMIT}).fetchall()

    results = {
        name: measure(queries, blind, plain_search)
        for name, queries in query_sets(vocab, phrases, args.queries).items()
    }
    purge_s = timed(lambda: index.purge_recording("rec000000")) / 1000
    started = time.perf_counter()
    with plain:
        plain.execute(
            "DELETE FROM search_fts WHERE rowid IN "
            "(SELECT id FROM search_utterances WHERE recording_id = 'rec000000')"
        )
        plain.execute("DELETE FROM search_utterances WHERE recording_id = 'rec000000'")
        plain.execute("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
    plain_purge_s = time.perf_counter() - started
    plain.close()
    semantic = measure_semantic(engine, key, args.semantic_utterances)
    engine.dispose()
    print()
    print(
        f"SQLite {sqlite3.sqlite_version}: {args.calls:,} calls, {args.words:,} words, "
        f"{utterances:,} utterances"
    )
    print()
    print("| SQLite index | build s | M words/s | database MB | purge of one recording s |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, size, purge in (
        ("blind (issue 17)", blind_s, sizes[0], purge_s),
        ("plain (before)", plain_s, sizes[1], plain_purge_s),
    ):
        print(
            f"| {name} | {seconds:.1f} | {args.words / seconds / 1e6:.2f} | {size / 1e6:.0f} "
            f"| {purge:.2f} |"
        )
    print()
    print(table("SQLite", results))
    print()
    print(semantic)


class RandomEmbedder(Embedder):
    """Random unit vectors: the scan's cost does not depend on what the vectors mean."""

    model = "bench-random"
    dim = EMBEDDING_DIM

    def __init__(self) -> None:
        self._rng = np.random.default_rng(SEED)

    def passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def query(self, text: str) -> NDArray[np.float32]:
        return self.passages([text])[0]


def measure_semantic(engine: Engine, key: bytes, wanted: int) -> str:
    """Seal ``wanted`` vectors of the indexed utterances (random ones: the cost of a scan
    does not depend on their meaning), then time searches and the decryption alone."""
    if wanted <= 0:
        return ""
    embedder = RandomEmbedder()
    semantic = SemanticIndex(engine, key, embedder=embedder)
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT call_id, recording_id, utterance FROM search_utterances "
                "ORDER BY id LIMIT :n"
            ),
            {"n": wanted},
        ).all()
    rows = [
        IndexRow(c, r, int(n), "S0", None, None, None, None, 0.0, 1.0, "x") for c, r, n in found
    ]
    # Only vectors are written here: the utterances' own rows stay as indexed.
    by_recording: dict[str, list[IndexRow]] = {}
    for row in rows:
        by_recording.setdefault(row.recording_id, []).append(row)
    started = time.perf_counter()
    with engine.execution_options(callvault_write=True).begin() as conn:
        # The bench stores no calls or recordings: in its scratch database the table
        # loses its foreign keys to them (migration 0010's columns otherwise).
        conn.exec_driver_sql("DROP TABLE search_embeddings")
        conn.exec_driver_sql(
            "CREATE TABLE search_embeddings (recording_id VARCHAR(32) NOT NULL, "
            "call_id VARCHAR(32) NOT NULL, utterance INTEGER NOT NULL, model VARCHAR(64) "
            "NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (recording_id, utterance))"
        )
        for batch in by_recording.values():
            vectors = embedder.passages([r.text for r in batch])
            semantic.index_utterances(conn, batch, vectors)
    seal_s = time.perf_counter() - started
    times = [timed(lambda: semantic.search("a query", limit=LIMIT)) for _ in range(6)][1:]
    with engine.connect() as conn:
        sealed = conn.execute(
            text("SELECT call_id, recording_id, utterance, vector FROM search_embeddings")
        ).all()
        started = time.perf_counter()
        ciphers = CallKeys(key).load(conn, {r[0] for r in sealed})
        for call, recording, n, blob in sealed:
            CallKeys.open(ciphers[call], "vector", recording, int(n), bytes(blob))
        decrypt_ms = (time.perf_counter() - started) * 1000
    return (
        f"| semantic search (SQLite) | vectors | seal and store s | search p50 ms "
        f"| of which decrypting (keys and vectors) ms |\n|---|---:|---:|---:|---:|\n"
        f"| sealed vectors | {len(sealed):,} | {seal_s:.1f} | {statistics.median(times):.0f} "
        f"| {decrypt_ms:.0f} |"
    )


def run_postgres(args: argparse.Namespace, vocab: list[str]) -> None:
    engine = create_db_engine(args.postgres)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE search_utterances, search_keys, search_embeddings"))
    print("building the PostgreSQL index", file=sys.stderr)
    seconds, _, phrases, key = build(engine, None, args.calls, args.words, vocab)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE search_utterances"))
        conn.commit()
        size = conn.execute(text("SELECT pg_total_relation_size('search_utterances')")).scalar_one()
    index = SearchIndex(engine, key, rank_limit=args.rank_limit)

    def blind(q: str) -> tuple[bool, list[SearchHit]]:
        page = index.search_page(q, limit=LIMIT)
        return page.ranked, page.hits

    results = {
        name: measure(queries, blind, None)
        for name, queries in query_sets(vocab, phrases, args.queries).items()
    }
    purge_s = timed(lambda: index.purge_recording("rec000000")) / 1000
    engine.dispose()
    print()
    print(
        f"PostgreSQL (blind index only): build {seconds:.1f} s, table with indexes "
        f"{size / 1e6:.0f} MB, purge of one recording {purge_s:.3f} s"
    )
    print()
    print(table("PostgreSQL", results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--words", type=int, default=5_000_000)
    parser.add_argument("--vocab", type=int, default=4_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--semantic-utterances", type=int, default=100_000)
    parser.add_argument(
        "--rank-limit",
        type=int,
        default=RANK_LIMIT,
        help=f"matches that callvault still ranks (default {RANK_LIMIT})",
    )
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database")
    args = parser.parse_args(argv)
    print(
        f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}; "
        f"ranking up to {args.rank_limit:,} matches"
    )
    vocab = vocabulary(args.vocab, random.Random(SEED))
    with tempfile.TemporaryDirectory(prefix="callvault-bench-search-") as tmp:
        run_sqlite(args, vocab, Path(tmp))
    if args.postgres:
        run_postgres(args, vocab)
    return 0


if __name__ == "__main__":
    sys.exit(main())
