"""The user's query language, parsed once and rendered for each backend.

Users type words (all must match), phrases in double quotes and prefixes with a trailing
``*``. The text they type never reaches FTS5 ``MATCH`` or ``to_tsquery`` as syntax: it is
cut into tokens of letters and digits here, and every token is rendered quoted. Operators
of either engine (``AND``, ``OR``, ``NOT``, ``NEAR(``, ``:``, ``&``, ``|``, ``!``, ``<->``)
are thereby plain words or separators.

Matching rules, the same on SQLite and PostgreSQL:

- Case-insensitive (``str.lower``, so ``ẞ`` matches ``ß`` and ``GRÖßE`` matches ``Größe``).
- Umlauts and ß are letters of their own: ``über`` does not match ``ueber``, and
  ``strasse`` does not match ``straße`` (nor ``GRÖSSE`` ``Größe``). Folding them would
  also merge words that differ (``Masse``/``Maße``); a prefix such as ``stra*`` finds
  both spellings.
- A word with inner punctuation (``e-mail``, ``1=1``) is the phrase of its parts, as
  FTS5 itself treats it.
- An unbalanced ``"`` opens a phrase that runs to the end of the query.

On PostgreSQL a phrase is found through its word pairs (``bigrams``, see `pg_match`) and
then tested exactly; the GIN index of single words cannot tell whether two words are
next to each other, so a phrase of two frequent words would otherwise be tested on
every utterance that holds both.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

from callvault.errors import InputError

__all__ = [
    "BIGRAM_CHARS",
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "PgMatch",
    "Term",
    "fts5_expression",
    "parse_query",
    "pg_match",
    "tokenize",
    "tsquery_expression",
]

MAX_QUERY_CHARS = 1000
MAX_TERMS = 32

# Runs of letters and digits: the token characters of FTS5's unicode61 tokenizer
# (categories L* and N*); everything else separates tokens.
_TOKEN = re.compile(r"[^\W_]+")
# search_bigrams() (migration 0004) cuts a word pair to this many characters: 2047 bytes,
# the longest lexeme a tsvector holds, in characters of up to four bytes.
BIGRAM_CHARS = 511
# PostgreSQL's parser tells letters by the database's locale, and may cut words where
# `tokenize` does not (in C.UTF-8 it drops the "²" of "x²"), so that a word pair of the
# query would not be one of the index. Words of ASCII digits and of Latin, Greek and
# Cyrillic letters it cuts alike in every locale; a phrase with any other word is matched
# without the word-pair index.
_PG_SAME_WORDS = re.compile(r"[0-9a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]+")


def tokenize(text: str) -> list[str]:
    """The lower-cased tokens of ``text`` (NFC), as the index stores and matches them."""
    return _TOKEN.findall(unicodedata.normalize("NFC", text).lower())


@dataclass(frozen=True, slots=True)
class Term:
    """One thing that must match: a single token or a phrase, the last token maybe a prefix."""

    tokens: tuple[str, ...]
    prefix: bool = False

    def fts5(self) -> str:
        # Tokens hold only letters and digits; doubling quotes keeps that safe regardless.
        quoted = '"' + " ".join(self.tokens).replace('"', '""') + '"'
        return quoted + "*" if self.prefix else quoted

    def tsquery(self) -> str:
        parts = ["'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in self.tokens]
        if self.prefix:
            parts[-1] += ":*"
        return parts[0] if len(parts) == 1 else "(" + " <-> ".join(parts) + ")"

    def tsquery_bigrams(self) -> str | None:
        """The word pairs of a phrase as ``tsquery`` lexemes, all joined with &, for the
        word-pair index (cast to ``tsquery``, not parsed: a pair holds a space); None for
        a single word or a phrase with a word `_PG_SAME_WORDS` does not cover.

        Every row with the phrase holds all its pairs; a row with all the pairs may still
        lack the phrase (``a b c`` against ``a b … b c``), so the phrase is tested too.
        """
        if len(self.tokens) < 2 or not all(_PG_SAME_WORDS.fullmatch(t) for t in self.tokens):
            return None
        # The index keeps the first BIGRAM_CHARS characters of a pair; so does the query.
        pairs = [f"{a} {b}"[:BIGRAM_CHARS] for a, b in itertools.pairwise(self.tokens)]
        parts = [f"'{pair}'" for pair in pairs]
        if self.prefix:
            parts[-1] += ":*"
        return " & ".join(parts)


def _term(chunk: str, prefix: bool) -> Term | None:
    tokens = tokenize(chunk)
    return Term(tuple(tokens), prefix) if tokens else None


def parse_query(query: str) -> list[Term]:
    """The terms of ``query``, all of which must match; `InputError` when there are none."""
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(
            f"search query is {len(query)} characters long; shorten it to at most {MAX_QUERY_CHARS}"
        )
    terms: list[Term] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        if ch == '"':
            end = query.find('"', i + 1)
            body = query[i + 1 :] if end < 0 else query[i + 1 : end]
            i = n if end < 0 else end + 1
            prefix = i < n and query[i] == "*"
            if prefix:
                i += 1
            term = _term(body, prefix)
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] != '"':
                j += 1
            chunk = query[i:j]
            i = j
            term = _term(chunk, chunk.endswith("*"))
        if term is not None and term not in terms:
            terms.append(term)
    if not terms:
        raise InputError(
            "search query has nothing to search for; type at least one word of letters or digits"
        )
    if len(terms) > MAX_TERMS:
        raise InputError(f"search query has {len(terms)} words or phrases; use at most {MAX_TERMS}")
    return terms


def fts5_expression(terms: list[Term]) -> str:
    """The FTS5 ``MATCH`` expression: every term quoted, all joined with AND."""
    return " AND ".join(t.fts5() for t in terms)


def tsquery_expression(terms: list[Term]) -> str:
    """The ``to_tsquery`` text: every token quoted, phrases with ``<->``, all joined with &."""
    return " & ".join(t.tsquery() for t in terms)


@dataclass(frozen=True, slots=True)
class PgMatch:
    """How PostgreSQL finds the rows of a query.

    ``words``: ``to_tsquery`` text for the GIN index of ``tsv`` (single words, and phrases
    that `Term.tsquery_bigrams` leaves out); ``bigrams``: a ``tsquery`` for the GIN index
    of word pairs; ``exact``: the whole query, tested on ``tsv`` where ``bigrams`` is set.
    """

    words: str | None
    bigrams: str | None
    exact: str


def pg_match(terms: list[Term]) -> PgMatch:
    """Split ``terms`` between the word index and the word-pair index."""
    words: list[Term] = []
    bigrams: list[str] = []
    for term in terms:
        pairs = term.tsquery_bigrams()
        if pairs is None:
            words.append(term)
        else:
            bigrams.append(pairs)
    return PgMatch(
        words=tsquery_expression(words) if words else None,
        bigrams=" & ".join(bigrams) if bigrams else None,
        exact=tsquery_expression(terms),
    )
