"""search index: word pairs on PostgreSQL

Revision ID: 0004
Revises: 0003

PostgreSQL only (SQLite is left as it is). The GIN index of ``tsv`` knows which words a
row holds, not where: a phrase of two common words was tested on every row holding both,
most of the table. ``bigrams`` holds each pair of adjacent words of ``tsv`` as one lexeme
(``'a b'``), computed from ``tsv`` itself by ``search_bigrams()`` so that it agrees with
the phrase operator ``<->`` by construction; a GIN index over it finds the rows of a
phrase directly (see ``callvault.search._query.Term.tsquery_bigrams``).

The column is generated and stored: adding it rewrites the table under an exclusive
lock. For the 10,000 calls of bench/search.py the table with its indexes grows from
200 MB to 400 MB, and indexing takes about 1.7 times as long. The function is PL/pgSQL
because PL/pgSQL keeps its query plan for the session; a SQL function would be planned
again for every row inserted (that made indexing three times slower).
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# A lexeme for every two lexemes of tsv at adjacent positions, cut to 511 characters: a
# lexeme holds at most 2047 bytes (callvault.search._query.BIGRAM_CHARS).
_BIGRAMS = """
CREATE FUNCTION search_bigrams(tsv tsvector) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN (
        SELECT coalesce(array_to_tsvector(array_agg(left(a.lexeme || ' ' || b.lexeme, 511))), '')
        FROM (SELECT t.lexeme, unnest(t.positions) AS pos FROM unnest(tsv) AS t) AS a
        JOIN (SELECT t.lexeme, unnest(t.positions) AS pos FROM unnest(tsv) AS t) AS b
        ON b.pos = a.pos + 1
    );
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_BIGRAMS)
    op.execute(
        "ALTER TABLE search_utterances ADD COLUMN bigrams tsvector "
        "GENERATED ALWAYS AS (search_bigrams(tsv)) STORED"
    )
    op.create_index(
        "ix_search_utterances_bigrams", "search_utterances", ["bigrams"], postgresql_using="gin"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_search_utterances_bigrams", table_name="search_utterances")
    op.execute("ALTER TABLE search_utterances DROP COLUMN bigrams")
    op.execute("DROP FUNCTION search_bigrams(tsvector)")
