"""callvault.search._query: how a query is split between PostgreSQL's two GIN indexes,
over keyed tokens."""

from __future__ import annotations

from callvault.search import parse_query
from callvault.search._blind import Blinder
from callvault.search._query import PgMatch, pg_match

BLIND = Blinder(b"\x07" * 32)
w, p, b = BLIND.word, BLIND.prefix, BLIND.pair


def pairs(query: str) -> list[str | None]:
    return [t.tsquery_pairs(BLIND) for t in parse_query(query)]


def test_phrases_become_word_pairs() -> None:
    assert pairs('"my order" refund "größe über alles"') == [
        f"'{b('my', 'order')}'",
        None,
        f"'{b('größe', 'über')}' & '{b('über', 'alles')}'",
    ]
    # A phrase that ends in a prefix: the pairs of its whole words only.
    assert pairs('"refund my"* "e-mail" x* "a b c"*') == [
        None,
        f"'{b('e', 'mail')}'",
        None,
        f"'{b('a', 'b')}'",
    ]
    # Every alphabet alike: the tokens are cut by callvault, not by PostgreSQL's parser.
    assert pairs('"中文 测试" "x² y"') == [f"'{b('中文', '测试')}'", f"'{b('x²', 'y')}'"]


def test_pg_match() -> None:
    assert pg_match(parse_query("refund* order"), BLIND) == PgMatch(
        words=f"'{p('refund')}' & '{w('order')}'",
        pairs=None,
        exact=f"'{p('refund')}' & '{w('order')}'",
    )
    assert pg_match(parse_query('refund "my order" "refund m"*'), BLIND) == PgMatch(
        words=f"'{w('refund')}' & ('{w('refund')}' <-> '{p('m')}')",
        pairs=f"'{b('my', 'order')}'",
        exact=(
            f"'{w('refund')}' & ('{w('my')}' <-> '{w('order')}') & ('{w('refund')}' <-> '{p('m')}')"
        ),
    )


def test_which_terms_are_checked_against_the_text() -> None:
    terms = parse_query('refund rückers* rückerstattung* "my ord"* "my order"')
    assert [t.checked(postgres=True) for t in terms] == [False, False, True, False, False]
    assert [t.checked(postgres=False) for t in terms] == [False, False, True, True, False]
