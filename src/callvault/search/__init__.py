"""Full-text search over transcript utterances, with metadata filters.

`SearchIndex` keeps one row per utterance (SQLite FTS5 or a PostgreSQL ``tsvector``) and
answers queries of words, ``"phrases"`` and ``prefix*``; see ``_query.py`` for the rules
(case-insensitive, umlauts and ß exact) and ``_index.py`` for purging and snippet markers.
"""

from callvault.search._index import (
    MAX_LIMIT,
    SEARCH_TABLE_PREFIX,
    SNIPPET_ELLIPSIS,
    SNIPPET_END,
    SNIPPET_START,
    IndexRow,
    SearchHit,
    SearchIndex,
    is_search_table,
)
from callvault.search._query import Term, parse_query

__all__ = [
    "MAX_LIMIT",
    "SEARCH_TABLE_PREFIX",
    "SNIPPET_ELLIPSIS",
    "SNIPPET_END",
    "SNIPPET_START",
    "IndexRow",
    "SearchHit",
    "SearchIndex",
    "Term",
    "is_search_table",
    "parse_query",
]
