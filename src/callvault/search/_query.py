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
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from callvault.errors import InputError

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "Term",
    "fts5_expression",
    "parse_query",
    "tokenize",
    "tsquery_expression",
]

MAX_QUERY_CHARS = 1000
MAX_TERMS = 32

# Runs of letters and digits: the token characters of FTS5's unicode61 tokenizer
# (categories L* and N*); everything else separates tokens.
_TOKEN = re.compile(r"[^\W_]+")


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
