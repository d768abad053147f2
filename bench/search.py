"""Benchmark of callvault.search: query latency against the bare FTS5 query on one index.

What one run measures (single process, this machine):

1. Build: ``--calls`` synthetic calls (default 10,000) of about ``--words`` words in all
   (default 5,000,000), in utterances of 4 to 30 words drawn from a vocabulary of
   ``--vocab`` made-up words (default 4,000; some with umlauts and ß) with a Zipf
   distribution (s = 1), fixed seed. Indexed through ``SearchIndex.index_utterances``,
   100 calls per transaction, into a fresh SQLite database in a temporary directory.
   Reported: build time and the size of the database file.
2. Queries: 200 single words (drawn uniformly from the vocabulary's ranks, so rare and
   common words alike), 200 two-word phrases (taken from the generated utterances, so
   every one matches), and, as the worst case, the 20 most frequent words. Each query
   runs through ``SearchIndex.search(query, limit=20)`` and as the bare FTS5 statement on
   its own ``sqlite3`` connection to the same file: the same MATCH expression, the same
   ``ORDER BY rank LIMIT 20``, the same ``snippet()``. The two alternate per query, after
   one warm-up pass. Target: p95 <= 50 ms for the word and phrase sets.
3. One ``purge_recording``, which on SQLite < 3.42 rewrites the FTS5 index (optimize).

With ``--postgres URL`` the same data and queries also run on PostgreSQL (the URL's
database gets callvault's schema; use a scratch database), the peer being the same SQL
sent through the same engine. Results are Markdown tables on stdout; the exit status is
0 whatever the verdicts: this is a benchmark, not a test.

Run it from the repository root::

    .venv/bin/python bench/search.py                     # full run (about 2 minutes)
    .venv/bin/python bench/search.py --calls 1000 --words 500000    # quick check
"""

from __future__ import annotations

import argparse
import functools
import itertools
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from callvault.search import IndexRow, SearchIndex, parse_query
from callvault.search._query import fts5_expression, tsquery_expression
from callvault.vault._db import create_db_engine, migrate

SEED = 2026
LIMIT = 20
TARGET_P95_MS = 50.0
CALLS_PER_TRANSACTION = 100
ROLES = ("agent", "customer")
AGENTS = ("anna", "ben", "chiara", "deniz", "emil")

RAW_SQLITE = (
    "SELECT rowid, snippet(search_fts, 0, '«', '»', '…', 16), rank FROM search_fts "
    "WHERE search_fts MATCH ? ORDER BY rank LIMIT ?"
)
RAW_PG = (
    "SELECT h.id, ts_headline('simple', h.text, to_tsquery('simple', :q), "
    "'StartSel=«, StopSel=», MaxWords=24, MinWords=8'), h.score FROM ("
    "SELECT id, text, ts_rank_cd(tsv, to_tsquery('simple', :q)) AS score "
    "FROM search_utterances WHERE tsv @@ to_tsquery('simple', :q) "
    "ORDER BY score DESC, id LIMIT :limit) AS h ORDER BY h.score DESC, h.id"
)

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


def build(engine: Engine, calls: int, words: int, vocab: list[str]) -> tuple[float, list[str]]:
    """Index the synthetic calls; returns the seconds taken and sample two-word phrases."""
    index = SearchIndex(engine)
    rng = random.Random(SEED + 1)
    phrases: list[str] = []
    started = time.perf_counter()
    calls_iter = iter_calls(calls, words, vocab, rng)
    while batch := list(itertools.islice(calls_iter, CALLS_PER_TRANSACTION)):
        with engine.execution_options(callvault_write=True).begin() as conn:
            for utterances in batch:
                index.index_utterances(conn, utterances)
        sample = batch[0][len(batch[0]) // 2].text.rstrip(".").lower().split()
        if len(sample) >= 2:
            phrases.append(f'"{sample[0]} {sample[1]}"')
        if len(phrases) and len(phrases) % 20 == 0:
            print(f"  indexed {len(phrases) * CALLS_PER_TRANSACTION} calls", file=sys.stderr)
    return time.perf_counter() - started, phrases


# -- measuring ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def measure(
    queries: list[str], ours: Callable[[str], object], raw: Callable[[str], object]
) -> dict[str, float]:
    for q in queries:  # warm-up: page cache, statement caches
        ours(q)
        raw(q)
    ours_ms, raw_ms = [], []
    for q in queries:
        ours_ms.append(timed(functools.partial(ours, q)))
        raw_ms.append(timed(functools.partial(raw, q)))
    return {
        "ours_p50": statistics.median(ours_ms),
        "ours_p95": percentile(ours_ms, 0.95),
        "raw_p50": statistics.median(raw_ms),
        "raw_p95": percentile(raw_ms, 0.95),
    }


def query_sets(vocab: list[str], phrases: list[str], n: int) -> dict[str, list[str]]:
    rng = random.Random(SEED + 2)
    words = [rng.choice(vocab) for _ in range(n)]
    phrase_list = [rng.choice(phrases) for _ in range(n)]
    return {
        f"{n} words (uniform ranks)": words,
        f"{n} phrases (2 words)": phrase_list,
        "20 most frequent words": vocab[:20],
    }


def table(backend: str, results: dict[str, dict[str, float]], peer: str) -> str:
    lines = [
        f"| {backend}: query set | callvault p50 ms | callvault p95 ms | {peer} p50 ms "
        f"| {peer} p95 ms | p95 ratio | p95 <= {TARGET_P95_MS:.0f} ms |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        verdict = "yes" if r["ours_p95"] <= TARGET_P95_MS else "NO"
        if name.startswith("20 most"):
            verdict += " (worst case, no target)"
        lines.append(
            f"| {name} | {r['ours_p50']:.2f} | {r['ours_p95']:.2f} | {r['raw_p50']:.2f} "
            f"| {r['raw_p95']:.2f} | {r['ours_p95'] / r['raw_p95']:.2f} | {verdict} |"
        )
    return "\n".join(lines)


def run_sqlite(args: argparse.Namespace, vocab: list[str], tmp: Path) -> None:
    db = tmp / "search.db"
    engine = create_db_engine(f"sqlite:///{db}")
    migrate(engine)
    print(f"building the SQLite index in {db}", file=sys.stderr)
    seconds, phrases = build(engine, args.calls, args.words, vocab)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        utterances = conn.execute(text("SELECT count(*) FROM search_utterances")).scalar_one()
    size = sum(p.stat().st_size for p in tmp.iterdir() if p.name.startswith("search.db"))
    index = SearchIndex(engine)
    raw_conn = sqlite3.connect(db)

    def raw(q: str) -> object:
        expression = fts5_expression(parse_query(q))
        return raw_conn.execute(RAW_SQLITE, (expression, LIMIT)).fetchall()

    results = {
        name: measure(queries, lambda q: index.search(q, limit=LIMIT), raw)
        for name, queries in query_sets(vocab, phrases, args.queries).items()
    }
    raw_conn.close()
    purge_s = timed(lambda: index.purge_recording("rec000000")) / 1000
    engine.dispose()
    print()
    print(
        f"SQLite {sqlite3.sqlite_version}: {args.calls:,} calls, {args.words:,} words, "
        f"{utterances:,} utterances; build {seconds:.1f} s "
        f"({args.words / seconds / 1e6:.2f} M words/s), database {size / 1e6:.0f} MB, "
        f"purge of one recording {purge_s:.2f} s"
    )
    print()
    print(table("SQLite", results, "bare FTS5"))


def run_postgres(args: argparse.Namespace, vocab: list[str]) -> None:
    engine = create_db_engine(args.postgres)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM search_utterances"))
    print("building the PostgreSQL index", file=sys.stderr)
    seconds, phrases = build(engine, args.calls, args.words, vocab)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE search_utterances"))
        conn.commit()
        size = conn.execute(text("SELECT pg_total_relation_size('search_utterances')")).scalar_one()
    index = SearchIndex(engine)
    raw_conn = engine.connect()

    def raw(q: str) -> object:
        expression = tsquery_expression(parse_query(q))
        rows = raw_conn.execute(text(RAW_PG), {"q": expression, "limit": LIMIT}).all()
        raw_conn.rollback()
        return rows

    results = {
        name: measure(queries, lambda q: index.search(q, limit=LIMIT), raw)
        for name, queries in query_sets(vocab, phrases, args.queries).items()
    }
    raw_conn.close()
    purge_s = timed(lambda: index.purge_recording("rec000000")) / 1000
    engine.dispose()
    print()
    print(
        f"PostgreSQL: build {seconds:.1f} s, table with indexes {size / 1e6:.0f} MB, "
        f"purge of one recording {purge_s:.3f} s"
    )
    print()
    print(table("PostgreSQL", results, "same SQL"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--words", type=int, default=5_000_000)
    parser.add_argument("--vocab", type=int, default=4_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database")
    args = parser.parse_args(argv)
    print(f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}")
    vocab = vocabulary(args.vocab, random.Random(SEED))
    with tempfile.TemporaryDirectory(prefix="callvault-bench-search-") as tmp:
        run_sqlite(args, vocab, Path(tmp))
    if args.postgres:
        run_postgres(args, vocab)
    return 0


if __name__ == "__main__":
    sys.exit(main())
