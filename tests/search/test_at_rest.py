"""Issue 17, finding 2: no transcript word at rest in the clear, on SQLite and PostgreSQL.

A real recording (jfk.flac: "... ask not what your country can do for you ...") is
ingested and processed by the CLI; then every file under the data directory (SQLite
database, write-ahead log, blobs, keys) and every row of every PostgreSQL table is read
for its words. Search still finds the call, with a snippet from the decrypted text; the
rebuild command indexes it again; erasing the call removes its index rows and key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from callvault.cli import cli

EVAL = Path(
    os.environ.get("CALLVAULT_EVAL_DATA", Path(__file__).parents[3] / "shared" / "eval-data")
)
JFK = EVAL / "asr" / "en" / "jfk.flac"
PHRASE = "ask not what your country"
# Words of the recording rare enough not to occur otherwise in a database file ("country"
# does: the recording policy's notice says "no participant's country known").
WORDS = ("americans", "fellow")


@pytest.fixture
def run(tmp_path: Path, backend: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if not JFK.exists():
        pytest.fail(f"eval data missing: {JFK}")
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": url,
        "CALLVAULT_MODEL_CACHE": str(tmp_path / "models"),
    }

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    invoke.env = env  # type: ignore[attr-defined]
    return invoke


def files_holding(root: Path, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Which of ``needles`` (any case) each file under ``root`` holds in the clear."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            raw = path.read_bytes().lower()
            hits = [n for n in needles if n.encode() in raw]
            if hits:
                found[str(path.relative_to(root))] = hits
    return found


def tables_holding(url: str, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Which of ``needles`` (any case) each PostgreSQL table's rows hold, as text: every
    column of every row, as a dump would write them (bytea as its escaped bytes)."""
    engine = create_engine(url)
    found: dict[str, list[str]] = {}
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                rows = conn.execute(
                    text(f'SELECT lower(CAST(t AS text)) FROM "{table}" AS t')
                ).scalars()
                dump = "\n".join(rows)
                hits = [n for n in needles if n in dump]
                if hits:
                    found[table] = hits
    finally:
        engine.dispose()
    return found


def test_no_transcript_word_at_rest_and_erasure_leaves_no_index_row(run, backend: str) -> None:  # type: ignore[no-untyped-def]
    ingested = run(
        "ingest",
        "--consent",
        "pre-call-notice",
        str(JFK),
        "--agent",
        "alice",
        "--language",
        "en",
        "--wait",
        "--json",
    )
    assert ingested.exit_code == 0, ingested.output
    call_id = json.loads(ingested.stdout)["calls"][0]["call_id"]
    shown = json.loads(run("show", call_id, "--json").stdout)
    said = " ".join(u["text"] for u in shown["transcript"]["utterances"]).lower()
    # The test is about these words: they must be in the transcript to begin with.
    assert PHRASE in said and all(w in said for w in WORDS), said
    needles = (PHRASE, *WORDS)
    data = Path(run.env["CALLVAULT_DATA_DIR"])
    assert files_holding(data, needles) == {}
    if backend == "postgresql":
        assert tables_holding(run.env["CALLVAULT_DATABASE_URL"], needles) == {}

    # Still found: words, a phrase, a prefix; the snippet is the decrypted text.
    found = json.loads(run("search", f'"{PHRASE}"', "--json").stdout)["hits"]
    assert [h["call_id"] for h in found] == [call_id]
    assert "«country»" in found[0]["snippet"]
    assert json.loads(run("search", "americ*", "--json").stdout)["hits"][0]["call_id"] == call_id
    semantic = json.loads(run("search", "--semantic", "patriotism", "--json").stdout)["hits"]
    assert {h["call_id"] for h in semantic} == {call_id}

    # The rebuild indexes the call again, and writes no word either.
    rebuilt = run("reindex", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.stdout)["calls"] == 1
    assert json.loads(run("search", "country", "--json").stdout)["hits"][0]["call_id"] == call_id
    assert files_holding(data, needles) == {}
    if backend == "postgresql":
        assert tables_holding(run.env["CALLVAULT_DATABASE_URL"], needles) == {}

    assert run("delete", call_id, "--reason", "erasure request", "--yes").exit_code == 0
    assert json.loads(run("search", "country", "--json").stdout)["hits"] == []
    url = run.env["CALLVAULT_DATABASE_URL"] or f"sqlite:///{data / 'callvault.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            for table in ("search_utterances", "search_embeddings", "search_keys"):
                left = conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE call_id = :c"), {"c": call_id}
                )
                assert left.scalar_one() == 0, table
    finally:
        engine.dispose()
