"""What the search index stores instead of words: keyed tokens and sealed text.

Both derive from the search key of the key ring (`KeyRing.search_key`), which never goes
into the database:

- Blind tokens. Every token of an utterance (``_query.tokenize``) is stored as
  HMAC-SHA256 under a key derived from the search key, cut to `TOKEN_BYTES` bytes and
  written in hex (16 letters and digits, so that FTS5 and ``tsvector`` take it as one
  opaque word). Three kinds, kept apart by a domain byte: the word itself, each of its
  prefixes of 1 to `MAX_PREFIX` characters (for ``prefix*``), and each pair of adjacent
  words (PostgreSQL's phrase index). Equal words give equal tokens: that is what makes
  the index searchable, and what it reveals (see docs/security.md, threat model).
- Sealed text and vectors. Each call has its own random 256-bit key, stored in
  ``search_keys`` only wrapped (AES-256-GCM under a key derived from the search key,
  the call id as associated data). An utterance's text (for snippets) and its sentence
  embedding are sealed under it with AES-256-GCM, the recording id, utterance number and
  kind as associated data. Purging a call deletes its key row with its index rows.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, bindparam, text

from callvault.errors import ConfigError, IntegrityError

__all__ = [
    "MAX_PREFIX",
    "TOKEN_BYTES",
    "BlindDocument",
    "Blinder",
    "CallKeys",
]

# 64 bits: a chance collision needs about 2^32 distinct tokens in one index.
TOKEN_BYTES = 8
# Prefixes of up to this many characters get a token of their own; a longer prefix query
# is looked up by its first MAX_PREFIX characters and the candidates are checked against
# their decrypted text.
MAX_PREFIX = 10
_WORD, _PREFIX, _PAIR = b"w\x00", b"p\x00", b"b\x00"
_BLIND_INFO = b"callvault/search/blind/v1"
_WRAP_INFO = b"callvault/search/wrap/v1"
_WRAP_AAD = b"callvault/search/call-key/v1|"
_SEAL_AAD = "callvault/search/{kind}/v1|{recording}|{utterance}"
_NONCE = 12


def _derive(master: bytes, info: bytes) -> bytes:
    if len(master) != 32:
        raise ConfigError("the search key must be 32 bytes (KeyRing.search_key)")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


@dataclass(frozen=True, slots=True)
class BlindDocument:
    """An utterance's blind tokens: ``words`` in order (one per token), ``prefixes``
    (those of each word, in the word's order), ``pairs`` (of adjacent words)."""

    words: list[str]
    prefixes: list[list[str]]
    pairs: list[str]


# Words whose tokens a Blinder keeps (a spoken vocabulary is far smaller); emptied when full.
_CACHE_WORDS = 65_536


class Blinder:
    """Keyed tokens of words, prefixes and word pairs (HMAC-SHA256, `TOKEN_BYTES`).

    The tokens of words seen before are kept in memory (at most `_CACHE_WORDS` words):
    indexing computes about ten HMACs a word otherwise. The process that holds the
    search key may as well hold them.
    """

    def __init__(self, search_key: bytes) -> None:
        self._hmac = hmac.new(_derive(search_key, _BLIND_INFO), digestmod=hashlib.sha256)
        self._cache: dict[str, tuple[str, list[str]]] = {}

    def _mac(self, domain: bytes, data: str) -> str:
        mac = self._hmac.copy()
        mac.update(domain + data.encode())
        return mac.digest()[:TOKEN_BYTES].hex()

    def word(self, token: str) -> str:
        return self._mac(_WORD, token)

    def prefix(self, prefix: str) -> str:
        """The token of ``prefix`` cut to `MAX_PREFIX` characters."""
        return self._mac(_PREFIX, prefix[:MAX_PREFIX])

    def pair(self, first: str, second: str) -> str:
        return self._mac(_PAIR, f"{first}\x00{second}")

    def document(self, tokens: Sequence[str], *, pairs: bool = True) -> BlindDocument:
        """The blind tokens of an utterance's ``tokens``; its word pairs only with
        ``pairs`` (PostgreSQL's phrase index; SQLite's FTS5 has positions)."""
        cache = self._cache
        if len(cache) >= _CACHE_WORDS:
            cache.clear()
        words: list[str] = []
        prefixes: list[list[str]] = []
        for token in tokens:
            known = cache.get(token)
            if known is None:
                known = (
                    self.word(token),
                    [
                        self._mac(_PREFIX, token[:n])
                        for n in range(1, min(len(token), MAX_PREFIX) + 1)
                    ],
                )
                cache[token] = known
            words.append(known[0])
            prefixes.append(known[1])
        found = [self.pair(a, b) for a, b in zip(tokens, tokens[1:], strict=False)] if pairs else []
        return BlindDocument(words, prefixes, found)


def _aad(kind: str, recording_id: str, utterance: int) -> bytes:
    return _SEAL_AAD.format(kind=kind, recording=recording_id, utterance=utterance).encode()


class CallKeys:
    """The per-call keys of ``search_keys``, wrapped under the search key."""

    def __init__(self, search_key: bytes) -> None:
        self._wrap = AESGCM(_derive(search_key, _WRAP_INFO))

    def load(
        self, conn: Connection, call_ids: Collection[str], *, create: bool = False
    ) -> dict[str, AESGCM]:
        """The ciphers of ``call_ids``; with ``create`` a call without a key gets one
        (in the caller's transaction). Calls without a key are left out otherwise."""
        wanted = sorted(set(call_ids))
        if not wanted:
            return {}
        found = self._select(conn, wanted)
        if create:
            missing = [c for c in wanted if c not in found]
            if missing:
                rows = []
                for call_id in missing:
                    nonce = os.urandom(_NONCE)
                    wrapped = nonce + self._wrap.encrypt(
                        nonce, AESGCM.generate_key(bit_length=256), _WRAP_AAD + call_id.encode()
                    )
                    rows.append({"c": call_id, "w": wrapped})
                # Two writers of one call: the first key stays, both use it.
                conn.execute(
                    text(
                        "INSERT INTO search_keys (call_id, wrapped) VALUES (:c, :w) "
                        "ON CONFLICT (call_id) DO NOTHING"
                    ),
                    rows,
                )
                found.update(self._select(conn, missing))
        return {
            call_id: AESGCM(self._unwrap(call_id, wrapped)) for call_id, wrapped in found.items()
        }

    @staticmethod
    def _select(conn: Connection, call_ids: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        statement = text(
            "SELECT call_id, wrapped FROM search_keys WHERE call_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True))
        for start in range(0, len(call_ids), 500):
            for call_id, wrapped in conn.execute(statement, {"ids": call_ids[start : start + 500]}):
                found[str(call_id)] = bytes(wrapped)
        return found

    def _unwrap(self, call_id: str, wrapped: bytes) -> bytes:
        try:
            return self._wrap.decrypt(
                wrapped[:_NONCE], wrapped[_NONCE:], _WRAP_AAD + call_id.encode()
            )
        except InvalidTag:
            raise IntegrityError(
                f"call {call_id}: its search index key does not authenticate under the key "
                "ring's search key; index the call again (callvault reindex)"
            ) from None

    @staticmethod
    def seal(cipher: AESGCM, kind: str, recording_id: str, utterance: int, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + cipher.encrypt(nonce, data, _aad(kind, recording_id, utterance))

    @staticmethod
    def open(cipher: AESGCM, kind: str, recording_id: str, utterance: int, sealed: bytes) -> bytes:
        try:
            return cipher.decrypt(
                sealed[:_NONCE], sealed[_NONCE:], _aad(kind, recording_id, utterance)
            )
        except InvalidTag:
            raise IntegrityError(
                f"utterance {utterance} of recording {recording_id}: its sealed search {kind} "
                "does not authenticate (the row was changed or moved)"
            ) from None
