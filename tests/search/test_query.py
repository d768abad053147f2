"""callvault.search._query: how a query is split between PostgreSQL's two GIN indexes."""

from __future__ import annotations

from callvault.search import parse_query
from callvault.search._query import BIGRAM_CHARS, PgMatch, pg_match


def bigrams(query: str) -> list[str | None]:
    return [t.tsquery_bigrams() for t in parse_query(query)]


def test_phrases_become_word_pairs() -> None:
    assert bigrams('"my order" refund "größe über alles"') == [
        "'my order'",
        None,
        "'größe über' & 'über alles'",
    ]
    assert bigrams('"refund my"* "e-mail" x*') == ["'refund my':*", "'e mail'", None]
    assert bigrams('"ελληνικά κείμενα" "кириллица текст" "2026 rechnung"') == [
        "'ελληνικά κείμενα'",
        "'кириллица текст'",
        "'2026 rechnung'",
    ]


def test_phrases_of_other_letters_keep_to_the_word_index() -> None:
    # PostgreSQL's parser may cut these otherwise than callvault (it drops the ² of x²).
    assert bigrams('"中文 测试" "x² y" "٣ apples"') == [None, None, None]


def test_long_pairs_are_cut_as_the_index_cuts_them() -> None:
    a, o = "ä" * 256, "ö" * 256
    (pairs,) = bigrams(f'"{a} {o}"*')
    assert pairs == f"'{a} {o[: BIGRAM_CHARS - 257]}':*"


def test_pg_match() -> None:
    assert pg_match(parse_query("refund* order")) == PgMatch(
        words="'refund':* & 'order'", bigrams=None, exact="'refund':* & 'order'"
    )
    assert pg_match(parse_query('refund "my order" "中文 测试"')) == PgMatch(
        words="'refund' & ('中文' <-> '测试')",
        bigrams="'my order'",
        exact="'refund' & ('my' <-> 'order') & ('中文' <-> '测试')",
    )
    assert pg_match(parse_query('"my order"')) == PgMatch(
        words=None, bigrams="'my order'", exact="('my' <-> 'order')"
    )
