"""The user's query language, parsed once and rendered for each backend over blind tokens.

Users type words (all must match), phrases in double quotes and prefixes with a trailing
``*``. The text they type never reaches FTS5 ``MATCH`` or a ``tsquery`` at all: it is cut
into tokens of letters and digits here, and every token is replaced by its keyed token
(`_blind.Blinder`), which holds only base32 letters and digits. Operators of either engine
(``AND``, ``OR``, ``NOT``, ``NEAR(``, ``:``, ``&``, ``|``, ``!``, ``<->``) are thereby
plain words or separators.

Matching rules, the same on SQLite and PostgreSQL:

- Case-insensitive (``str.lower``, so ``ẞ`` matches ``ß`` and ``GRÖßE`` matches ``Größe``).
- Umlauts and ß are letters of their own: ``über`` does not match ``ueber``, and
  ``strasse`` does not match ``straße`` (nor ``GRÖSSE`` ``Größe``). Folding them would
  also merge words that differ (``Masse``/``Maße``); a prefix such as ``stra*`` finds
  both spellings.
- A word with inner punctuation (``e-mail``, ``1=1``) is the phrase of its parts.
- An unbalanced ``"`` opens a phrase that runs to the end of the query.

How a term is found: a word by its word token; a prefix by its prefix token (prefixes of
up to `MAX_PREFIX` characters have one); a phrase by its word tokens in a row (FTS5
positions; PostgreSQL finds candidates by word-pair tokens, then tests ``<->``). On
PostgreSQL a word's prefix tokens stand at the word's position, so a phrase ending in a
prefix is exact there too; on SQLite it is found by its words and its prefix, and the
candidates are checked against their decrypted text (`Term.checked`), as are prefixes
longer than `MAX_PREFIX` on both.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

from callvault.errors import InputError
from callvault.search._blind import MAX_PREFIX, Blinder

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "PgMatch",
    "Term",
    "fts5_expression",
    "iter_token_spans",
    "parse_query",
    "pg_match",
    "term_spans",
    "tokenize",
]

MAX_QUERY_CHARS = 1000
MAX_TERMS = 32

# Runs of letters and digits: the token characters of FTS5's unicode61 tokenizer
# (categories L* and N*); everything else separates tokens.
_TOKEN = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """The lower-cased tokens of ``text`` (NFC), as the index blinds and matches them."""
    return _TOKEN.findall(unicodedata.normalize("NFC", text).lower())


def iter_token_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, lower-cased token) of every token of ``text``, already NFC."""
    return [(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]


@dataclass(frozen=True, slots=True)
class Term:
    """One thing that must match: a single token or a phrase, the last token maybe a prefix."""

    tokens: tuple[str, ...]
    prefix: bool = False

    def checked(self, postgres: bool) -> bool:
        """Whether the index finds a superset of this term's rows, to be checked against
        their text: a prefix longer than `MAX_PREFIX`, and on SQLite a phrase ending in
        a prefix (its words and its prefix are found, not that they are adjacent)."""
        if not self.prefix:
            return False
        return len(self.tokens[-1]) > MAX_PREFIX or (not postgres and len(self.tokens) > 1)

    def fts5(self, blind: Blinder) -> str:
        """The FTS5 expression: the columns ``words`` and ``prefixes`` of ``search_fts``."""
        if not self.prefix:
            return 'words : "' + " ".join(blind.word(t) for t in self.tokens) + '"'
        last = 'prefixes : "' + blind.prefix(self.tokens[-1]) + '"'
        if len(self.tokens) == 1:
            return last
        return 'words : "' + " ".join(blind.word(t) for t in self.tokens[:-1]) + '" AND ' + last

    def tsquery(self, blind: Blinder) -> str:
        """A ``tsquery`` over ``tsv`` (word and prefix tokens), phrases with ``<->``."""
        parts = [f"'{blind.word(t)}'" for t in self.tokens]
        if self.prefix:
            parts[-1] = f"'{blind.prefix(self.tokens[-1])}'"
        return parts[0] if len(parts) == 1 else "(" + " <-> ".join(parts) + ")"

    def tsquery_pairs(self, blind: Blinder) -> str | None:
        """The word-pair tokens of a phrase's whole words, joined with &, for the GIN
        index of ``pairs``; None for a term with fewer than two whole words.

        Every row with the phrase holds all its pairs; a row with all the pairs may still
        lack the phrase (``a b c`` against ``a b … b c``), so the phrase is tested too.
        """
        whole = self.tokens[:-1] if self.prefix else self.tokens
        if len(whole) < 2:
            return None
        return " & ".join(f"'{blind.pair(a, b)}'" for a, b in itertools.pairwise(whole))

    def spans(self, tokens: list[str]) -> list[range]:
        """Where the term occurs in a row's ``tokens``: one range of token indexes each."""
        n = len(self.tokens)
        head, last = self.tokens[:-1], self.tokens[-1]
        found: list[range] = []
        for i in range(len(tokens) - n + 1):
            if tuple(tokens[i : i + n - 1]) != head:
                continue
            candidate = tokens[i + n - 1]
            if candidate == last or (self.prefix and candidate.startswith(last)):
                found.append(range(i, i + n))
        return found


def term_spans(terms: list[Term], tokens: list[str]) -> list[range] | None:
    """Where each term occurs in ``tokens``; None when one of them does not."""
    out: list[range] = []
    for term in terms:
        spans = term.spans(tokens)
        if not spans:
            return None
        out += spans
    return out


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


def fts5_expression(terms: list[Term], blind: Blinder) -> str:
    """The FTS5 ``MATCH`` expression: every term's blind tokens quoted, joined with AND."""
    return " AND ".join(t.fts5(blind) for t in terms)


@dataclass(frozen=True, slots=True)
class PgMatch:
    """How PostgreSQL finds the rows of a query.

    ``words``: a ``tsquery`` for the GIN index of ``tsv`` (words, prefixes, and phrases
    of fewer than two whole words); ``pairs``: a ``tsquery`` for the GIN index of word
    pairs; ``exact``: the whole query, tested on ``tsv`` where ``pairs`` is set.
    """

    words: str | None
    pairs: str | None
    exact: str


def pg_match(terms: list[Term], blind: Blinder) -> PgMatch:
    """Split ``terms`` between the word index and the word-pair index."""
    words: list[Term] = []
    pairs: list[str] = []
    for term in terms:
        found = term.tsquery_pairs(blind)
        if found is None:
            words.append(term)
        else:
            pairs.append(found)
    return PgMatch(
        words=" & ".join(t.tsquery(blind) for t in words) if words else None,
        pairs=" & ".join(pairs) if pairs else None,
        exact=" & ".join(t.tsquery(blind) for t in terms),
    )
