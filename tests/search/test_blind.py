"""callvault.search._blind: the search key in the key ring, keyed tokens, sealed rows."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from callvault.config import Config
from callvault.errors import ConfigError, IntegrityError
from callvault.search import IndexRow, SearchIndex
from callvault.search._blind import TOKEN_BYTES, Blinder
from callvault.vault import Vault
from callvault.vault._crypto import KeyRing


def test_the_search_key_is_made_once_in_the_key_ring(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys" / "kek")
    keys: list[bytes] = []
    # Several processes (threads here) asking at once all get the one key written.
    threads = [threading.Thread(target=lambda: keys.append(ring.search_key())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    path = tmp_path / "keys" / "kek" / "search.key"
    assert path.read_bytes() == keys[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["search.key"]
    assert KeyRing(path.parent).search_key() == keys[0]
    # It is no key-encryption key: rotation and key listings leave it alone.
    assert ring.key_ids() == []
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="search key file .* is damaged"):
        ring.search_key()


def test_init_makes_it_and_the_database_never_holds_it(vault: Vault) -> None:
    key = vault.search_key
    assert (vault.config.data_dir / "keys" / "kek" / "search.key").read_bytes() == key
    if vault.engine.dialect.name == "sqlite":
        vault.engine.dispose()
        for path in vault.config.data_dir.glob("callvault.db*"):
            assert key not in path.read_bytes()


def test_tokens_are_keyed_fixed_length_and_kept_apart_by_kind() -> None:
    blind = Blinder(b"\x01" * 32)
    other = Blinder(b"\x02" * 32)
    word = blind.word("refund")
    assert len(word) == 2 * TOKEN_BYTES and word.isalnum() and "refund" not in word
    assert word == blind.word("refund") != other.word("refund")
    assert len({blind.word("ab"), blind.prefix("ab"), blind.pair("a", "b")}) == 3
    assert blind.pair("ab", "c") != blind.pair("a", "bc")
    document = blind.document(["refund", "my"], pairs=True)
    assert document.words == [blind.word("refund"), blind.word("my")]
    assert document.prefixes[1] == [blind.prefix("m"), blind.prefix("my")]
    assert document.pairs == [blind.pair("refund", "my")]
    with pytest.raises(ConfigError, match="search key must be 32 bytes"):
        Blinder(b"short")


def row(call: str, utterance: int, body: str) -> IndexRow:
    return IndexRow(
        call, f"rec-{call}", utterance, "S0", "agent", "anna", "en", None, 0.0, 1.0, body
    )


def test_a_sealed_text_moved_to_another_row_does_not_open(engine: Engine, config: Config) -> None:
    index = SearchIndex(engine, KeyRing(config.data_dir / "keys").search_key())
    with engine.execution_options(callvault_write=True).begin() as conn:
        index.index_utterances(conn, [row("a", 0, "refund please"), row("a", 1, "thank you")])
    with engine.execution_options(callvault_write=True).begin() as conn:
        conn.execute(
            text(
                "UPDATE search_utterances SET sealed = (SELECT sealed FROM search_utterances "
                "WHERE utterance = 1) WHERE utterance = 0"
            )
        )
    with pytest.raises(IntegrityError, match="^utterance 0 of recording rec-a: its sealed"):
        index.search("refund")
    # A key ring with another search key finds nothing: the tokens differ.
    assert SearchIndex(engine, b"\x09" * 32).search("thank") == []


def test_a_call_without_its_key_is_an_integrity_error(engine: Engine, config: Config) -> None:
    index = SearchIndex(engine, KeyRing(config.data_dir / "keys").search_key())
    with engine.execution_options(callvault_write=True).begin() as conn:
        index.index_utterances(conn, [row("b", 0, "refund please")])
        conn.execute(text("DELETE FROM search_keys"))
    with pytest.raises(IntegrityError, match="^call b has search rows but no search index key"):
        index.search("refund")
