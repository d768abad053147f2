"""callvault.search on SQLite (FTS5) and PostgreSQL (tsvector), with the same expectations."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, text

from callvault.config import Config
from callvault.errors import ConfigError, InputError
from callvault.search import (
    SNIPPET_START,
    IndexRow,
    SearchHit,
    SearchIndex,
    is_search_table,
    parse_query,
)
from callvault.search._blind import MAX_PREFIX, Blinder
from callvault.search._query import fts5_expression, tokenize
from callvault.vault._crypto import KeyRing

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def search_key(config: Config) -> bytes:
    """The search key of a key ring in the test's data directory, as the vault makes it."""
    return KeyRing(config.data_dir / "keys").search_key()


@pytest.fixture
def index(engine: Engine, search_key: bytes) -> SearchIndex:
    return SearchIndex(engine, search_key)


def rows(
    call: str,
    texts: list[str],
    *,
    recording: str | None = None,
    agent: str | None = "anna",
    language: str | None = "de",
    started_at: datetime | None = T0,
    roles: tuple[str | None, str | None] = ("agent", "customer"),
) -> list[IndexRow]:
    return [
        IndexRow(
            call_id=call,
            recording_id=recording or f"rec-{call}",
            utterance=i,
            speaker=f"S{i % 2}",
            role=roles[i % 2],
            agent=agent,
            language=language,
            started_at=started_at,
            start=i * 5.0,
            end=i * 5.0 + 4.5,
            text=body,
        )
        for i, body in enumerate(texts)
    ]


def put(index: SearchIndex, engine: Engine, batch: list[IndexRow]) -> int:
    with engine.execution_options(callvault_write=True).begin() as conn:
        return index.index_utterances(conn, batch)


def found(index: SearchIndex, query: str, **filters: object) -> list[tuple[str, int]]:
    return sorted((h.call_id, h.utterance) for h in index.search(query, **filters))  # type: ignore[arg-type]


@pytest.fixture
def filled(index: SearchIndex, engine: Engine) -> SearchIndex:
    put(
        index,
        engine,
        rows(
            "c1",
            [
                "Guten Tag, ich möchte eine Rückerstattung für meine Bestellung.",
                "Die Größe passt leider nicht, ich wohne in der Hauptstraße.",
                "Wir überweisen Ihnen das Geld über die Bank.",
            ],
        ),
    )
    put(
        index,
        engine,
        rows(
            "c2",
            [
                "I would like a refund for my order please.",
                "The order number is on the invoice, refunds take five days.",
                "Please refund my order.",
            ],
            agent="ben",
            language="en",
            started_at=T0 + timedelta(days=10),
            roles=("caller", "callee"),
        ),
    )
    put(index, engine, rows("c3", ["order refund", "Strasse und Masse"], started_at=None))
    return index


def test_words_must_all_match(filled: SearchIndex) -> None:
    assert found(filled, "order") == [("c2", 0), ("c2", 1), ("c2", 2), ("c3", 0)]
    assert found(filled, "refund order") == [("c2", 0), ("c2", 2), ("c3", 0)]
    assert found(filled, "refund invoice") == []


def test_phrase_versus_words(filled: SearchIndex) -> None:
    assert found(filled, "order refund") == [("c2", 0), ("c2", 2), ("c3", 0)]
    assert found(filled, '"order refund"') == [("c3", 0)]
    assert found(filled, '"refund my order"') == [("c2", 2)]
    assert found(filled, '"my refund order"') == []


def test_prefix(filled: SearchIndex) -> None:
    assert found(filled, "refund*") == [("c2", 0), ("c2", 1), ("c2", 2), ("c3", 0)]
    assert found(filled, "refunds") == [("c2", 1)]
    assert found(filled, "Rückerst*") == [("c1", 0)]
    assert found(filled, '"refund my"*') == [("c2", 2)]


def test_case_insensitive(filled: SearchIndex) -> None:
    assert found(filled, "ORDER") == found(filled, "order")
    assert found(filled, "RÜCKERSTATTUNG") == [("c1", 0)]


def test_umlauts_and_sharp_s(filled: SearchIndex) -> None:
    assert found(filled, "Größe") == [("c1", 1)]
    assert found(filled, "GRÖßE") == [("c1", 1)]
    assert found(filled, "größe") == [("c1", 1)]
    assert found(filled, "über") == [("c1", 2)]
    assert found(filled, "ÜBER") == [("c1", 2)]
    assert found(filled, "hauptstraße") == [("c1", 1)]
    # Capital sharp s (U+1E9E) lower-cases to ß.
    assert found(filled, "HAUPTSTRAẞE") == [("c1", 1)]
    # Documented choice: ß and umlauts are not folded to ss / ae, oe, ue.
    assert found(filled, "hauptstrasse") == []
    assert found(filled, "GRÖSSE") == []
    assert found(filled, "ueber") == []
    assert found(filled, "strasse") == [("c3", 1)]
    # A prefix finds both spellings.
    assert found(filled, "hauptstra*") == [("c1", 1)]
    # Decomposed input (o + combining diaeresis) is the same word after NFC.
    assert found(filled, "Gro\u0308ße") == [("c1", 1)]


def test_filters(filled: SearchIndex) -> None:
    assert found(filled, "refund*", speaker_role="caller") == [("c2", 0), ("c2", 2)]
    assert found(filled, "refund*", speaker_role="agent") == [("c3", 0)]
    assert found(filled, "refund*", agent="ben") == [("c2", 0), ("c2", 1), ("c2", 2)]
    assert found(filled, "refund*", agent="nobody") == []
    assert found(filled, "refund*", language="de") == [("c3", 0)]
    assert found(filled, "die", language="de") == [("c1", 1), ("c1", 2)]
    since = T0 + timedelta(days=1)
    assert found(filled, "refund*", since=since) == [("c2", 0), ("c2", 1), ("c2", 2)]
    assert found(filled, "die", until=since) == [("c1", 1), ("c1", 2)]
    assert found(filled, "refund*", since=T0, until=T0 + timedelta(days=10)) == []
    # The same instant in another zone.
    cet = timezone(timedelta(hours=1))
    assert found(filled, "refund*", since=(T0 + timedelta(days=10)).astimezone(cet)) == [
        ("c2", 0),
        ("c2", 1),
        ("c2", 2),
    ]
    assert found(filled, "refund*", agent="ben", speaker_role="callee") == [("c2", 1)]


def test_naive_times_and_bad_limits_are_refused(filled: SearchIndex, engine: Engine) -> None:
    with pytest.raises(InputError, match="^since is a naive datetime; give it a time zone"):
        filled.search("order", since=datetime(2026, 1, 1))
    with pytest.raises(InputError, match="^limit must be between 1 and 1000, not 0$"):
        filled.search("order", limit=0)
    with pytest.raises(InputError, match="^offset must be 0 or more, not -1$"):
        filled.search("order", offset=-1)
    with pytest.raises(InputError, match="^IndexRow.started_at is a naive datetime"):
        put(filled, engine, rows("c9", ["x"], started_at=datetime(2026, 1, 1)))
    with pytest.raises(InputError, match="^utterance 0 of recording rec-c9 is given twice"):
        put(filled, engine, rows("c9", ["x"]) * 2)


def test_hits_carry_the_utterance(filled: SearchIndex) -> None:
    (hit,) = filled.search("invoice")
    assert (hit.call_id, hit.recording_id, hit.utterance) == ("c2", "rec-c2", 1)
    assert (hit.speaker, hit.role, hit.start, hit.end) == ("S1", "callee", 5.0, 9.5)
    assert hit.score > 0


def test_snippet_marks_matches(filled: SearchIndex) -> None:
    (hit,) = filled.search("invoice")
    assert "«invoice»" in hit.snippet
    (hit,) = filled.search("größe")
    assert "«Größe»" in hit.snippet
    (hit,) = filled.search('"refund my order"')
    assert "«refund» «my» «order»" in hit.snippet or "«refund my order»" in hit.snippet


def test_ranking_prefers_denser_matches(index: SearchIndex, engine: Engine) -> None:
    put(
        index,
        engine,
        rows(
            "r",
            [
                "refund " + "filler words about nothing in particular " * 8,
                "refund refund, I want my refund",
                "nothing here",
            ],
        ),
    )
    hits = index.search("refund")
    assert [h.utterance for h in hits] == [1, 0]
    assert hits[0].score > hits[1].score


def test_limit_and_offset(filled: SearchIndex) -> None:
    everything = filled.search("refund*")
    assert len(everything) == 4
    assert filled.search("refund*", limit=2) == everything[:2]
    assert filled.search("refund*", limit=2, offset=2) == everything[2:]
    assert filled.search("refund*", offset=10) == []


def test_queries_with_too_many_matches_come_newest_first(
    filled: SearchIndex, engine: Engine, search_key: bytes
) -> None:
    small = SearchIndex(engine, search_key, rank_limit=3)
    # "order": four matches, one more than the limit; c3 was indexed last.
    newest = [("c3", 0), ("c2", 2), ("c2", 1), ("c2", 0)]
    hits = small.search("order")
    assert [(h.call_id, h.utterance) for h in hits] == newest
    assert {h.score for h in hits} == {0.0}
    assert "«order»" in hits[0].snippet
    assert small.search("order", limit=2, offset=2) == hits[2:]
    # Three matches, or four narrowed to three by a filter, are ranked as usual.
    assert small.search("refund order") == filled.search("refund order")
    assert all(h.score > 0 for h in small.search("order", agent="ben"))
    assert small.search("order", agent="ben") == filled.search("order", agent="ben")
    zero = SearchIndex(engine, search_key, rank_limit=0)
    assert [h.score for h in zero.search("invoice")] == [0.0]
    with pytest.raises(ConfigError, match="^rank_limit must be 0 or more, not -1$"):
        SearchIndex(engine, search_key, rank_limit=-1)


# Few words, so that words and word pairs repeat: phrases of common words, phrases whose
# pairs all occur apart, prefixes of both words of a pair.
_WORDS = "rein fun wauchsto größe straße über tante kich reß rechnung rückgabe ja".split()


def corpus_texts() -> dict[tuple[str, int], str]:
    """The corpus's utterances by (call, utterance), in the order they are indexed."""
    rng = random.Random(7)
    weights = [1 / rank for rank in range(1, len(_WORDS) + 1)]
    out: dict[tuple[str, int], str] = {}
    for c in range(12):
        for n in range(8):
            words = rng.choices(_WORDS, weights, k=rng.randint(1, 14))
            out[(f"k{c:02d}", n)] = " ".join(words).capitalize() + "."
    return out


@pytest.fixture
def corpus(index: SearchIndex, engine: Engine) -> SearchIndex:
    texts = corpus_texts()
    for c in range(12):
        body = [texts[(f"k{c:02d}", n)] for n in range(8)]
        put(index, engine, rows(f"k{c:02d}", body, agent=("anna", "ben")[c % 2]))
    return index


_CORPUS_QUERIES = [
    *_WORDS,
    *(f'"{a} {b}"' for a, b in itertools.product(_WORDS[:6], repeat=2)),
    '"rein fun wauchsto"',
    '"fun rein fun"',
    '"größe straße über"',
    '"rein rein rein"',
    '"rein wau"*',
    '"straße ü"*',
    '"fun r"*',
    'tante "rein fun"',
    'größe "wauchsto rein" kich*',
    "rein fun",
    "r*",
    "stra*",
    '"kich nix"',
    # Longer than the prefixes that have a token of their own: checked against the text.
    "wauchst*",
    "rückgab*",
    '"rein rückgab"*',
]


def plain_matches(texts: dict[tuple[str, int], str], query: str) -> set[tuple[str, int]]:
    """The utterances of ``texts`` that ``query`` matches, by a plain scan of their words
    (the reference: no index, no keys)."""
    terms = parse_query(query)

    def occurs(tokens: list[str], words: tuple[str, ...], prefix: bool) -> bool:
        n = len(words)
        for i in range(len(tokens) - n + 1):
            window = tokens[i : i + n]
            if window[:-1] == list(words[:-1]) and (
                window[-1] == words[-1] or (prefix and window[-1].startswith(words[-1]))
            ):
                return True
        return False

    return {
        key
        for key, body in texts.items()
        if all(occurs(tokenize(body), t.tokens, t.prefix) for t in terms)
    }


def as_rows(hits: list[SearchHit]) -> list[tuple[object, ...]]:
    return [(h.call_id, h.utterance, round(h.score, 9), h.snippet) for h in hits]


def test_hits_are_those_of_a_plain_scan(
    corpus: SearchIndex, engine: Engine, search_key: bytes
) -> None:
    """The blind index finds exactly the utterances a scan of the plain text finds, for
    words, phrases, prefixes and phrases that end in one; pages, the count before
    ranking and the newest-first order agree with the full ranked list."""
    texts = corpus_texts()
    order = list(texts)  # the order of indexing: newest last
    small = SearchIndex(engine, search_key, rank_limit=5)
    seen = {"ranked": 0, "newest": 0, "none": 0}
    for query in _CORPUS_QUERIES:
        expected = plain_matches(texts, query)
        ranked = corpus.search(query, limit=1000)
        assert {(h.call_id, h.utterance) for h in ranked} == expected, query
        assert len(ranked) == len(expected), query
        scores = [h.score for h in ranked]
        assert scores == sorted(scores, reverse=True), query
        assert all(score > 0 for score in scores), query
        assert as_rows(corpus.search(query, limit=3, offset=2)) == as_rows(ranked[2:5]), query
        page = small.search_page(query, limit=1000)
        newest = len(expected) > 5
        if newest:
            assert not page.ranked and page.matches is None, query
            keys = sorted(expected, key=order.index, reverse=True)
            assert [(h.call_id, h.utterance) for h in page.hits] == keys, query
            assert {h.score for h in page.hits} == {0.0}, query
        else:
            assert as_rows(page.hits) == as_rows(ranked), query
            assert page.matches == len(expected), query
        for hit in ranked:
            assert SNIPPET_START in hit.snippet, query
        seen["none" if not expected else "newest" if newest else "ranked"] += 1
    # The queries cover each way (a test that cannot fail tells nothing).
    assert min(seen.values()) >= 3, seen


def test_phrases_beyond_the_word_pair_index(index: SearchIndex, engine: Engine) -> None:
    """Phrases of letters PostgreSQL may cut otherwise, and word pairs longer than a
    lexeme holds, are still found (on PostgreSQL without, or by the beginning of, a pair)."""
    # The word pairs of the third utterance are longer than 511 characters, those of the
    # fourth longer than 2047 bytes.
    a, o, u = "ä" * 256, "ö" * 256, "ü" * 256
    bold_a, bold_b = "\U0001d400" * 256, "\U0001d401" * 256
    texts = ["中文 测试 ok", "ελληνικά κείμενα und кириллица текст", f"{a} {o} {u}"]
    put(index, engine, rows("w", [*texts, f"{bold_a} {bold_b}", "x² y"]))
    assert found(index, '"中文 测试"') == [("w", 0)]
    assert found(index, '"测试 中文"') == []
    assert found(index, '"ελληνικά κείμενα"') == [("w", 1)]
    assert found(index, '"кириллица текст"') == [("w", 1)]
    assert found(index, '"κείμενα кириллица"') == []
    assert found(index, f'"{a} {o}"') == [("w", 2)]
    assert found(index, f'"{a} {o} {u}"') == [("w", 2)]
    assert found(index, f'"{a} {o[1:]}"') == []
    assert found(index, f'"{a} {o[:200]}"*') == [("w", 2)]
    assert found(index, f'"{bold_a} {bold_b}"') == [("w", 3)]
    assert found(index, '"x² y"') == [("w", 4)]


def test_migration_0013_replaces_the_plain_index(filled: SearchIndex, engine: Engine) -> None:
    """Down to 0012 the plain index of 0003/0004 is back (empty); up again it is replaced
    by the blind one, empty until the calls are indexed again (search-reindex)."""
    from alembic import command
    from sqlalchemy import inspect

    from callvault.vault._db import _alembic_config

    migrations = _alembic_config()
    with engine.execution_options(callvault_write=True).begin() as conn:
        migrations.attributes["connection"] = conn
        command.downgrade(migrations, "0012")
    tables = set(inspect(engine).get_table_names())
    assert "search_keys" not in tables
    old = {c["name"] for c in inspect(engine).get_columns("search_utterances")}
    assert "sealed" not in old
    if engine.dialect.name == "postgresql":
        assert {"text", "tsv", "bigrams"} <= old
    else:
        assert {c["name"] for c in inspect(engine).get_columns("search_fts")} == {"text"}
    with engine.execution_options(callvault_write=True).begin() as conn:
        migrations.attributes["connection"] = conn
        command.upgrade(migrations, "head")
    assert "search_keys" in set(inspect(engine).get_table_names())
    assert found(filled, "refund*") == []
    put(filled, engine, rows("c2", ["Please refund my order."], agent="ben"))
    assert found(filled, '"refund my order"') == [("c2", 0)]


def test_purge_recording_and_call(filled: SearchIndex, engine: Engine) -> None:
    assert filled.purge_recording("rec-c2") == 3
    assert found(filled, "refund*") == [("c3", 0)]
    assert filled.purge_recording("rec-c2") == 0
    assert filled.purge_call("c3") == 2
    assert found(filled, "refund*") == []
    assert found(filled, "größe") == [("c1", 1)]
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM search_utterances WHERE call_id IN ('c2', 'c3')")
        )
        assert left.scalar_one() == 0


# SQLite only: PostgreSQL keeps dead tuples until VACUUM (documented in search/_index.py).
@pytest.mark.parametrize("backend", ["sqlite"])
def test_purge_leaves_no_text_in_sqlite_file(
    index: SearchIndex, engine: Engine, config: Config, backend: str
) -> None:
    put(index, engine, rows("p", ["the secret word is xylophonequartz"]))
    put(index, engine, rows("q", ["an unrelated utterance"]))
    assert index.purge_call("p") == 1
    engine.dispose()
    raw = b"".join(p.read_bytes() for p in config.data_dir.iterdir() if p.is_file())
    assert b"xylophonequartz" not in raw


def test_reindex_replaces(filled: SearchIndex, engine: Engine) -> None:
    assert put(filled, engine, rows("c2", ["An entirely new transcript."], agent="ben")) == 1
    assert found(filled, "invoice") == []
    assert found(filled, "transcript") == [("c2", 0)]
    assert put(filled, engine, rows("c2", ["An entirely new transcript."], agent="ben")) == 1
    assert found(filled, "transcript") == [("c2", 0)]
    assert put(filled, engine, []) == 0


def test_index_in_a_session(filled: SearchIndex, engine: Engine) -> None:
    from sqlalchemy.orm import Session

    with Session(engine.execution_options(callvault_write=True)) as session:
        filled.index_utterances(session, rows("s", ["session written words"]))
        session.rollback()
    assert found(filled, "session") == []
    with Session(engine.execution_options(callvault_write=True)) as session, session.begin():
        filled.index_utterances(session, rows("s", ["session written words"]))
    assert found(filled, "session") == [("s", 0)]


@pytest.mark.parametrize(
    "query",
    [
        '") OR 1=1 --',
        "NEAR(",
        'NEAR(refund order, 2) OR "',
        "refund OR invoice",
        "refund AND NOT order",
        "'; DROP TABLE search_utterances; --",
        "order:* | !refund & <->",
        "col:refund",
        "^refund",
        "refund)",
        "{text} : refund",
        '"unbalanced refund',
        "\\' refund",
    ],
)
def test_hostile_queries_are_text(filled: SearchIndex, query: str) -> None:
    hits = filled.search(query)
    assert all(h.call_id in ("c1", "c2", "c3") for h in hits)


def test_operators_are_words(filled: SearchIndex) -> None:
    # OR is a word that must occur, not an operator.
    assert found(filled, "refund OR invoice") == []
    assert found(filled, '"unbalanced') == []
    assert found(filled, '"refund my') == [("c2", 2)]
    assert found(filled, "NEAR(refund") == []


@pytest.mark.parametrize("query", ["", "   ", "*", '""', "--", '") --', "!!! ???", "_"])
def test_empty_queries_are_refused(filled: SearchIndex, query: str) -> None:
    with pytest.raises(
        InputError,
        match="^search query has nothing to search for; type at least one word of letters",
    ):
        filled.search(query)


def test_overlong_queries_are_refused(filled: SearchIndex) -> None:
    with pytest.raises(InputError, match="^search query is 1001 characters long"):
        filled.search("a" * 1001)
    with pytest.raises(InputError, match="^a word of the search query is 300 characters long"):
        filled.search("a" * 300)
    with pytest.raises(InputError, match="^search query has 33 words or phrases; use at most 32"):
        filled.search(" ".join(f"w{i}" for i in range(33)))


def test_search_tables_are_named_apart(engine: Engine) -> None:
    from sqlalchemy import inspect

    tables = set(inspect(engine).get_table_names())
    assert "search_utterances" in tables
    assert is_search_table("search_fts_data")
    assert not is_search_table("calls")


def test_schema_matches_models_apart_from_search(engine: Engine) -> None:
    """The rule proposed for tests/vault/test_vault.py::test_schema_matches_models."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import callvault.contacts  # noqa: F401 - declares its `contacts` table on Base
    import callvault.jobs  # noqa: F401 - declares its `jobs` table on Base
    from callvault.vault import Base

    def include_object(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        return not (
            type_ == "table" and compare_to is None and name is not None and is_search_table(name)
        )

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        assert compare_metadata(context, Base.metadata) == []


def test_parse_query() -> None:
    terms = parse_query('Refund* "my ORDER" e-mail')
    assert [(t.tokens, t.prefix) for t in terms] == [
        (("refund",), True),
        (("my", "order"), False),
        (("e", "mail"), False),
    ]
    blind = Blinder(b"k" * 32)
    assert [t.fts5(blind) for t in terms] == [
        f'prefixes : "{blind.prefix("refund")}"',
        f'words : "{blind.word("my")} {blind.word("order")}"',
        f'words : "{blind.word("e")} {blind.word("mail")}"',
    ]
    assert [t.tsquery(blind) for t in terms] == [
        f"'{blind.prefix('refund')}'",
        f"('{blind.word('my')}' <-> '{blind.word('order')}')",
        f"('{blind.word('e')}' <-> '{blind.word('mail')}')",
    ]
    # The engines see keyed tokens only: no word of the query.
    expression = fts5_expression(terms, blind)
    assert not any(w in expression for w in ("refund", "order", "mail"))
    # A prefix token stands for the prefix's first MAX_PREFIX characters.
    assert blind.prefix("a" * MAX_PREFIX) == blind.prefix("a" * (MAX_PREFIX + 3))
    assert blind.prefix("refund") != blind.word("refund") != Blinder(b"j" * 32).word("refund")
