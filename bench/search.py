"""Benchmark of callvault.search: query latency against the bare SQL on one index.

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
   runs three ways, in turn, after one warm-up pass:

   - callvault: ``SearchIndex.search(query, limit=20)``;
   - same SQL: the statements callvault sends, as bare SQL on their own connection
     (a ``sqlite3`` connection to the same file; on PostgreSQL a connection of the same
     engine): first the count of matches up to ``RANK_LIMIT`` + 1, then either the
     ranked page (``bm25()`` / ``ts_rank_cd``, snippet or ``ts_headline`` for the 20
     rows only) or, for a query with more matches than that, the newest 20;
   - naive: the one statement callvault sent before it counted (``ORDER BY rank LIMIT
     20`` with ``snippet()``; ``ts_rank_cd`` over every match, ``tsv @@`` the phrase),
     which ranks every match however many there are.

   Target: callvault's p95 <= 50 ms for the word and phrase sets. The table also gives
   how many of the distinct queries were ranked (the others matched more than
   ``RANK_LIMIT`` utterances) and, in brackets, how many of those got the naive
   statement's hits (the same scores and snippets).
3. One ``purge_recording``, which on SQLite < 3.42 rewrites the FTS5 index (optimize).

With ``--postgres URL`` the same data and queries also run on PostgreSQL (the URL's
database gets callvault's schema, with the word-pair index of migration 0004, and its
search table is emptied: use a scratch database). ``--rank-limit`` measures another
limit than callvault's default.
Results are Markdown tables on stdout; the exit status is 0 whatever the verdicts: this
is a benchmark, not a test.

Run it from the repository root::

    .venv/bin/python bench/search.py                     # full run (about 2 minutes)
    .venv/bin/python bench/search.py --calls 1000 --words 500000    # quick check
    .venv/bin/python bench/search.py --postgres postgresql+psycopg://postgres@127.0.0.1/scratch
                                                         # and PostgreSQL (3 more minutes)
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
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from callvault.search import RANK_LIMIT, IndexRow, SearchHit, SearchIndex, parse_query
from callvault.search._query import fts5_expression, pg_match, tsquery_expression
from callvault.vault._db import create_db_engine, migrate

SEED = 2026
LIMIT = 20
TARGET_P95_MS = 50.0
CALLS_PER_TRANSACTION = 100
ROLES = ("agent", "customer")
AGENTS = ("anna", "ben", "chiara", "deniz", "emil")

# The statements callvault sends for a query without filters (callvault.search._index).
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
# Words go to the GIN index of tsv; phrases to that of their word pairs, then are tested.
PG_WORDS = "FROM search_utterances AS u WHERE u.tsv @@ to_tsquery('simple', :q)"
PG_PAIRS = (
    "FROM search_utterances AS u WHERE u.bigrams @@ CAST(:bigrams AS tsquery) "
    "AND ts_match_vq(u.tsv, to_tsquery('simple', :q))"
)
PG_COUNT = "SELECT count(*) FROM (SELECT 1 {matches} LIMIT :count_limit) AS m"
PG_HEADLINE = (
    "SELECT h.call_id, h.recording_id, h.utterance, h.speaker, h.role, h.start_s, h.end_s, "
    "ts_headline('simple', h.text, to_tsquery('simple', :q), "
    "'StartSel=«, StopSel=», MaxWords=24, MinWords=8'), h.score FROM ("
)
PG_RANKED = (
    f"{PG_HEADLINE}SELECT u.id, {HIT}, u.text, ts_rank_cd(u.tsv, to_tsquery('simple', :q)) "
    "AS score {matches} ORDER BY score DESC, id LIMIT :limit) AS h ORDER BY score DESC, id"
)
PG_NEWEST = (
    f"{PG_HEADLINE}SELECT u.id, {HIT}, u.text, 0.0 "
    "AS score {matches} ORDER BY id DESC LIMIT :limit) AS h ORDER BY id DESC"
)

# The one statement callvault sent before (it ranks every match).
NAIVE_SQLITE = (
    "SELECT rowid, snippet(search_fts, 0, '«', '»', '…', 16), -rank FROM search_fts "
    "WHERE search_fts MATCH ? ORDER BY rank LIMIT ?"
)
NAIVE_PG = (
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


Rows = Sequence[Sequence[Any]]


def measure(
    queries: list[str],
    ours: Callable[[str], list[SearchHit]],
    same: Callable[[str], tuple[bool, Rows]],
    naive: Callable[[str], Rows],
) -> dict[str, float]:
    """Latencies of the three ways, and how many distinct queries were ranked and agree."""
    ranked = agree = 0
    for q in dict.fromkeys(queries):  # warm-up: page cache, statement caches; checks
        hits = ours(q)
        was_ranked, _ = same(q)
        naive_rows = naive(q)
        if was_ranked:
            ranked += 1
            agree += same_hits(hits, naive_rows)
    times: dict[str, list[float]] = {"ours": [], "same": [], "naive": []}
    for q in queries:
        times["ours"].append(timed(functools.partial(ours, q)))
        times["same"].append(timed(functools.partial(same, q)))
        times["naive"].append(timed(functools.partial(naive, q)))
    result: dict[str, float] = {"distinct": len(set(queries)), "ranked": ranked, "agree": agree}
    for way, ms in times.items():
        result[f"{way}_p50"] = statistics.median(ms)
        result[f"{way}_p95"] = percentile(ms, 0.95)
    return result


def same_hits(hits: list[SearchHit], naive_rows: Rows) -> bool:
    """Whether callvault's hits are the naive statement's: the same scores and snippets
    (sorted, so that hits of equal score may come in either order)."""
    ours = sorted((round(h.score, 9), h.snippet) for h in hits)
    theirs = sorted((round(float(r[2]), 9), str(r[1])) for r in naive_rows)
    return ours == theirs


def query_sets(vocab: list[str], phrases: list[str], n: int) -> dict[str, list[str]]:
    rng = random.Random(SEED + 2)
    words = [rng.choice(vocab) for _ in range(n)]
    phrase_list = [rng.choice(phrases) for _ in range(n)]
    return {
        f"{n} words (uniform ranks)": words,
        f"{n} phrases (2 words)": phrase_list,
        "20 most frequent words": vocab[:20],
    }


def table(backend: str, results: dict[str, dict[str, float]]) -> str:
    lines = [
        f"| {backend}: query set | callvault p50 / p95 ms | same SQL p50 / p95 ms "
        f"| naive p50 / p95 ms | p95 callvault / same SQL | ranked (hits = naive) "
        f"| p95 <= {TARGET_P95_MS:.0f} ms |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        verdict = "yes" if r["ours_p95"] <= TARGET_P95_MS else "NO"
        if name.startswith("20 most"):
            verdict += " (worst case, no target)"
        lines.append(
            f"| {name} | {r['ours_p50']:.2f} / {r['ours_p95']:.2f} "
            f"| {r['same_p50']:.2f} / {r['same_p95']:.2f} "
            f"| {r['naive_p50']:.2f} / {r['naive_p95']:.2f} "
            f"| {r['ours_p95'] / r['same_p95']:.2f} "
            f"| {r['ranked']:.0f} of {r['distinct']:.0f} ({r['agree']:.0f}) | {verdict} |"
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
    index = SearchIndex(engine, rank_limit=args.rank_limit)
    raw_conn = sqlite3.connect(db)

    def same(q: str) -> tuple[bool, Rows]:
        expression = fts5_expression(parse_query(q))
        count = {"q": expression, "count_limit": args.rank_limit + 1}
        (matches,) = raw_conn.execute(SQLITE_COUNT, count).fetchone()
        ranked = matches <= args.rank_limit
        sql = SQLITE_RANKED if ranked else SQLITE_NEWEST
        return ranked, raw_conn.execute(sql, {"q": expression, "limit": LIMIT}).fetchall()

    def naive(q: str) -> Rows:
        expression = fts5_expression(parse_query(q))
        return raw_conn.execute(NAIVE_SQLITE, (expression, LIMIT)).fetchall()

    results = {
        name: measure(queries, lambda q: index.search(q, limit=LIMIT), same, naive)
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
    print(table("SQLite", results))


def run_postgres(args: argparse.Namespace, vocab: list[str]) -> None:
    engine = create_db_engine(args.postgres)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE search_utterances"))
    print("building the PostgreSQL index", file=sys.stderr)
    seconds, phrases = build(engine, args.calls, args.words, vocab)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE search_utterances"))
        conn.commit()
        size = conn.execute(text("SELECT pg_total_relation_size('search_utterances')")).scalar_one()
    index = SearchIndex(engine, rank_limit=args.rank_limit)
    raw_conn = engine.connect()

    def same(q: str) -> tuple[bool, Rows]:
        match = pg_match(parse_query(q))
        # The bench's queries are one word or one phrase: words or word pairs, never both.
        matches = PG_WORDS if match.bigrams is None else PG_PAIRS
        params = {"q": match.exact, "bigrams": match.bigrams, "limit": LIMIT}
        count = text(PG_COUNT.format(matches=matches))
        n = raw_conn.execute(count, {**params, "count_limit": args.rank_limit + 1}).scalar_one()
        ranked = n <= args.rank_limit
        sql = (PG_RANKED if ranked else PG_NEWEST).format(matches=matches)
        rows = raw_conn.execute(text(sql), params).all()
        raw_conn.rollback()
        return ranked, rows

    def naive(q: str) -> Rows:
        expression = tsquery_expression(parse_query(q))
        rows = raw_conn.execute(text(NAIVE_PG), {"q": expression, "limit": LIMIT}).all()
        raw_conn.rollback()
        return rows

    results = {
        name: measure(queries, lambda q: index.search(q, limit=LIMIT), same, naive)
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
    print(table("PostgreSQL", results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--words", type=int, default=5_000_000)
    parser.add_argument("--vocab", type=int, default=4_000)
    parser.add_argument("--queries", type=int, default=200)
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
