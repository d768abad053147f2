"""Full-text search over transcript utterances, with metadata filters.

`SearchIndex` keeps one row per utterance (SQLite FTS5 or a PostgreSQL ``tsvector``, over
keyed tokens: no transcript word is stored in the clear, see ``_blind.py``) and answers
queries of words, ``"phrases"`` and ``prefix*``; see ``_query.py`` for the rules
(case-insensitive, umlauts and ß exact) and ``_index.py`` for purging, snippet markers and
ranking (by relevance up to `RANK_LIMIT` matches, newest first beyond). Both take the key
ring's search key (`Vault.search_key`).

`SemanticIndex` adds multilingual sentence embeddings of the same utterances (stored
sealed, searched by cosine similarity) and `hybrid_search` fuses both rankings; see
``_semantic.py``. `compose_answer` answers a question from retrieved utterances by
quoting them, `llm_answer` has an OpenAI-compatible server word it; see ``_ask.py``.
"""

from callvault.search._ask import (
    MIN_COSINE,
    NOTHING_FOUND,
    Answer,
    Quote,
    Retrieved,
    compose_answer,
    llm_answer,
    llm_prompt,
    nothing_found,
)
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
from callvault.search._semantic import (
    EMBEDDING_DIM,
    RRF_K,
    SCAN_CHUNK,
    SCAN_LIMIT_HINT,
    SEMANTIC_STAGE,
    E5Embedder,
    Embedder,
    HybridHit,
    SemanticHit,
    SemanticIndex,
    decode_vectors,
    encode_vectors,
    hybrid_search,
    reciprocal_rank_fusion,
)

__all__ = [
    "EMBEDDING_DIM",
    "MAX_LIMIT",
    "MIN_COSINE",
    "NOTHING_FOUND",
    "RANK_LIMIT",
    "RRF_K",
    "SCAN_CHUNK",
    "SCAN_LIMIT_HINT",
    "SEARCH_TABLE_PREFIX",
    "SEMANTIC_STAGE",
    "SNIPPET_ELLIPSIS",
    "SNIPPET_END",
    "SNIPPET_START",
    "Answer",
    "E5Embedder",
    "Embedder",
    "HybridHit",
    "IndexRow",
    "Quote",
    "Retrieved",
    "SearchHit",
    "SearchIndex",
    "SearchPage",
    "SemanticHit",
    "SemanticIndex",
    "Term",
    "compose_answer",
    "decode_vectors",
    "encode_vectors",
    "hybrid_search",
    "is_search_table",
    "llm_answer",
    "llm_prompt",
    "nothing_found",
    "parse_query",
    "reciprocal_rank_fusion",
]
