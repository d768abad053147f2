"""Full-text search over transcript utterances, with metadata filters.

`SearchIndex` keeps one row per utterance (SQLite FTS5 or a PostgreSQL ``tsvector``) and
answers queries of words, ``"phrases"`` and ``prefix*``; see ``_query.py`` for the rules
(case-insensitive, umlauts and ß exact) and ``_index.py`` for purging, snippet markers and
ranking (by relevance up to `RANK_LIMIT` matches, newest first beyond).
"""

from callvault.search._index import (
    MAX_LIMIT,
    RANK_LIMIT,
    SEARCH_TABLE_PREFIX,
    SNIPPET_ELLIPSIS,
    SNIPPET_END,
    SNIPPET_START,
    IndexRow,
    SearchHit,
    SearchIndex,
    SearchPage,
    is_search_table,
)
from callvault.search._query import Term, parse_query

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
    "Term",
    "is_search_table",
    "parse_query",
]
