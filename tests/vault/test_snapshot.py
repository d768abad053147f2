"""Online database snapshots and their restore, on SQLite and PostgreSQL (issue 21)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, make_url, text

from _config import make_config
from _stored import agent_call, transcribe
from callvault.analysis import Utterance, Word
from callvault.config import Config, mask_url
from callvault.errors import ConfigError, IntegrityError, RestoreRefused
from callvault.vault import (
    DatabaseDump,
    Vault,
    database_is_empty,
    dump_database,
    load_database,
)
from callvault.vault._db import _alembic_config, create_db_engine, migrate, migrate_to
from callvault.vault._snapshot import _FrameWriter, _Table

# The newest migration, read from the migrations themselves (a new one moves it).
HEAD = ScriptDirectory.from_config(_alembic_config()).get_current_head()


def utterance(channel: int, start: float, text: str) -> Utterance:
    words = tuple(
        Word(start + 0.1 * n, start + 0.1 * n + 0.08, w, 0.9) for n, w in enumerate(text.split())
    )
    return Utterance(f"S{channel}", channel, start, words[-1].end, text, 0.9, words)


@pytest.fixture
def target_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database to restore into: a new SQLite path, or a new PostgreSQL database
    on the test server (dropped after)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'restored' / 'callvault.db'}"
    return str(request.getfixturevalue("fresh_database")())


@pytest.fixture
def dump_dir(tmp_path: Path) -> Path:
    path = tmp_path / "dump"
    path.mkdir(mode=0o700)
    return path


def target_config(config: Config, url: str, tmp_path: Path) -> Config:
    """The restored data directory: the source's keys, the restored database."""
    root = tmp_path / "restored"
    root.mkdir(mode=0o700, exist_ok=True)
    shutil.copytree(config.data_dir / "keys", root / "keys")
    return make_config(root, None if url.startswith("sqlite") else url)


def tables(conn: Connection) -> list[str]:
    names = inspect(conn).get_table_names()
    if conn.dialect.name == "sqlite":  # the search index's FTS5 table and not its shadows
        names = [n for n in names if not n.startswith("search_fts_")]
    return sorted(names)


def contents(url: str) -> dict[str, tuple[int, str]]:
    """Rows and a hash of the rows (in a fixed order) of every table."""
    engine = create_engine(url)
    found = {}
    try:
        with engine.connect() as conn:
            for table in tables(conn):
                rows = sorted(
                    repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{table}"'))
                )
                found[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    finally:
        engine.dispose()
    return found


def fill(vault: Vault, calls: int = 3) -> list[str]:
    ids = [agent_call(vault, "alice", seed, seconds=1.0) for seed in range(calls)]
    transcribe(vault, ids[0], utterance(0, 0.0, "my account number"), utterance(1, 0.5, "thanks"))
    vault.record_event("call.search", "call", None, purpose="test")
    return ids


def test_dump_and_load_give_the_same_rows(
    vault: Vault, config: Config, target_url: str, dump_dir: Path, tmp_path: Path
) -> None:
    fill(vault)
    source = contents(config.effective_database_url)
    seen: list[tuple[str, int]] = []
    dest = dump_dir / "db.dump"

    dump, calls = dump_database(
        vault.engine,
        dest,
        inspect=lambda conn: conn.execute(text("SELECT count(*) FROM calls")).scalar(),
        progress=lambda table, rows: seen.append((table, rows)),
    )
    # The dump's connection went back to the pool writable (READ ONLY was its own), and
    # what is written after the dump is not in it.
    vault.record_event("call.search", "call", None, purpose="not in the dump")

    assert calls == 3
    assert dump == DatabaseDump(vault.database_kind(), HEAD, dump.tables, dest.stat().st_size)
    assert dest.stat().st_mode & 0o777 == 0o600
    assert (dump.tables["calls"], dump.tables["recordings"], dump.tables["data_keys"]) == (3, 3, 3)
    assert {"alembic_version", "users", "contacts", "jobs", "search_keys"} <= set(dump.tables)
    assert dict(seen) == dump.tables
    assert dump.tables == {t: n for t, (n, _) in source.items() if t in dump.tables}

    assert database_is_empty(target_url)
    load_database(target_url, dest, dump.kind)

    assert contents(target_url) == source
    with Vault.open(target_config(config, target_url, tmp_path)) as restored:
        assert restored.verify_audit().ok
        assert len(restored.calls.list_calls()) == 3
        # The restored chain goes on where the dump's ended.
        restored.record_event("call.search", "call", None, purpose="restored")
        assert restored.verify_audit().ok
        entries = restored.audit_entries()
    # (listing the calls wrote one entry too)
    assert [e.seq for e in entries] == list(range(1, dump.tables["audit_log"] + 3))
    assert entries[-1].purpose == "restored"
    if vault.database_kind() == "postgresql":
        engine = create_engine(target_url)
        with engine.connect() as conn:
            last = conn.execute(text("SELECT last_value FROM search_utterances_id_seq")).scalar()
            ids = conn.execute(text("SELECT max(id) FROM search_utterances")).scalar()
        engine.dispose()
        assert last == ids == 2


def test_inspect_sees_the_snapshot_not_later_writes(vault: Vault, dump_dir: Path) -> None:
    fill(vault, calls=1)

    def audit_rows(conn: Connection) -> tuple[int, int]:
        if conn.dialect.name == "postgresql":
            assert conn.execute(text("SHOW transaction_read_only")).scalar() == "on"
            isolation = conn.execute(text("SHOW transaction_isolation")).scalar()
            assert isolation == "repeatable read"
        count = "SELECT count(*) FROM audit_log"
        before = conn.execute(text(count)).scalar_one()
        # Another connection commits while the snapshot is open.
        vault.record_event("call.search", "call", None, purpose="during the dump")
        return before, conn.execute(text(count)).scalar_one()

    dump, seen = dump_database(vault.engine, dump_dir / "db.dump", inspect=audit_rows)

    assert seen is not None
    assert seen[0] == seen[1] == dump.tables["audit_log"]
    assert len(vault.audit_entries()) == seen[0] + 1


def test_dump_is_consistent_under_concurrent_writes(
    vault: Vault, config: Config, target_url: str, dump_dir: Path, tmp_path: Path
) -> None:
    fill(vault, calls=1)
    stop = threading.Event()
    errors: list[BaseException] = []
    written = threading.Semaphore(0)

    def writer() -> None:
        seed = 100
        try:
            while not stop.is_set():
                agent_call(vault, "bob", seed, seconds=0.5)
                vault.record_event("call.search", "call", None, purpose="load")
                seed += 1
                written.release()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def snapshot(conn: Connection) -> tuple[int, int, int]:
        q = conn.execute
        return (
            q(text("SELECT count(*) FROM audit_log")).scalar_one(),
            q(text("SELECT seq FROM audit_head")).scalar_one(),
            q(text("SELECT count(*) FROM recordings")).scalar_one(),
        )

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3):
            assert written.acquire(timeout=60)
        dump, seen = dump_database(vault.engine, dump_dir / "db.dump", inspect=snapshot)
        for _ in range(2):  # the writer went on after the snapshot
            assert written.acquire(timeout=60)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert seen == (dump.tables["audit_log"], dump.tables["audit_log"], dump.tables["recordings"])
    assert dump.tables["recordings"] == dump.tables["calls"] == dump.tables["data_keys"]
    with vault.engine.connect() as conn:
        now = conn.execute(text("SELECT count(*) FROM recordings")).scalar_one()
    assert dump.tables["recordings"] < now

    load_database(target_url, dump_dir / "db.dump", dump.kind)
    with Vault.open(target_config(config, target_url, tmp_path)) as restored:
        report = restored.verify_audit()
        assert report.ok, report
        assert len(restored.calls.list_calls()) == dump.tables["calls"]
        engine = restored.engine
        with engine.connect() as conn:
            orphans = conn.execute(
                text(
                    "SELECT count(*) FROM recordings r LEFT JOIN data_keys k "
                    "ON k.recording_id = r.id WHERE k.recording_id IS NULL"
                )
            ).scalar_one()
        assert orphans == 0


def test_load_refuses_a_database_with_rows(
    vault: Vault, config: Config, target_url: str, dump_dir: Path, tmp_path: Path
) -> None:
    fill(vault, calls=1)
    dump, _ = dump_database(vault.engine, dump_dir / "db.dump")
    other = target_config(config, target_url, tmp_path)
    with Vault.open(other) as busy:
        busy.record_event("call.search", "call", None, purpose="already here")
    before = contents(target_url)

    with pytest.raises(RestoreRefused) as refused:
        load_database(target_url, dump_dir / "db.dump", dump.kind)

    assert str(refused.value) == (
        f"the database {mask_url(target_url)} is not empty (rows in audit_head, audit_log); "
        "restore only writes into an empty database: give a new one"
    )
    assert contents(target_url) == before


def test_load_refuses_a_dump_of_the_other_kind(
    vault: Vault, config: Config, target_url: str, dump_dir: Path
) -> None:
    dump, _ = dump_database(vault.engine, dump_dir / "db.dump")
    other = "postgresql" if dump.kind == "sqlite" else "sqlite"
    with pytest.raises(RestoreRefused) as refused:
        load_database(target_url, dump_dir / "db.dump", other)
    assert str(refused.value) == (
        f"the backup holds a {other} database and {mask_url(target_url)} is {dump.kind}; "
        f"restore into a {other} database"
    )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "it ends early (truncated)"),
        ("flip", "its SHA-256 does not match its contents (altered)"),
        ("append", "there are bytes after its end"),
    ],
    ids=["truncated", "altered", "appended"],
)
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_damaged_postgresql_dump_writes_nothing(
    vault: Vault, target_url: str, dump_dir: Path, damage: str, message: str
) -> None:
    fill(vault, calls=2)
    dest = dump_dir / "db.dump"
    dump, _ = dump_database(vault.engine, dest)
    data = bytearray(dest.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data += b"\x00"
    dest.write_bytes(bytes(data))

    with pytest.raises(IntegrityError) as damaged:
        load_database(target_url, dest, dump.kind)

    assert str(damaged.value) == f"the database dump db.dump is damaged: {message}"
    assert database_is_empty(target_url)
    assert contents(target_url) == {}


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_failed_load_rolls_back_the_schema_too(target_url: str, dump_dir: Path) -> None:
    """A dump with a sound digest that the schema of its revision cannot take (a table
    the revision lacks) is refused inside the load's transaction: no table is left."""
    dest = dump_dir / "db.dump"
    with dest.open("wb") as out:
        writer = _FrameWriter(out)
        writer.header(HEAD)
        writer.table(_Table("no_such_table", ("id",)))
        writer.table_end(0)
        writer.end()

    with pytest.raises(IntegrityError) as refused:
        load_database(target_url, dest, "postgresql")

    assert str(refused.value) == (
        f"the database dump db.dump holds tables that revision {HEAD} does not have: no_such_table"
    )
    assert contents(target_url) == {}


def test_database_is_empty(backend: str, config: Config, tmp_path: Path) -> None:
    if backend == "sqlite":
        path = tmp_path / "empty" / "callvault.db"
        url = f"sqlite:///{path}"
        assert database_is_empty(url)  # no file
        path.parent.mkdir()
        path.touch()
        assert database_is_empty(url)  # 0 bytes
    else:
        url = config.effective_database_url
        assert database_is_empty(url)  # no tables
    engine = create_db_engine(url)
    migrate(engine)
    assert database_is_empty(url)  # a schema and only the rows migrations seed
    with engine.begin() as conn:
        conn.execute(text("UPDATE live_cursor SET last_seq = 7"))
    assert not database_is_empty(url)
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_restore_is_one_private_file(vault: Vault, target_url: str, dump_dir: Path) -> None:
    fill(vault, calls=1)
    dump, _ = dump_database(vault.engine, dump_dir / "db.dump")
    target = Path(make_url(target_url).database or "")
    target.parent.mkdir(mode=0o700)
    # A leftover log of an earlier, emptied database would be replayed into the restore.
    (target.parent / "callvault.db-wal").write_bytes(b"stale")
    load_database(target_url, dump_dir / "db.dump", dump.kind)
    assert sorted(p.name for p in target.parent.iterdir()) == ["callvault.db"]
    assert target.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(target) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert db.execute("SELECT count(*) FROM calls").fetchone() == (1,)


def test_a_sqlite_dump_must_be_a_database(tmp_path: Path, dump_dir: Path) -> None:
    bogus = dump_dir / "db.dump"
    bogus.write_bytes(b"not a database")
    with pytest.raises(IntegrityError) as refused:
        load_database(f"sqlite:///{tmp_path / 'x.db'}", bogus, "sqlite")
    assert str(refused.value) == "the database dump db.dump is not a SQLite database"


def test_an_unreachable_postgresql_database_is_named_without_its_password() -> None:
    url = "postgresql+psycopg://postgres:hunter2@127.0.0.1:5432/callvault_no_such_db"
    with pytest.raises(ConfigError) as failed:
        database_is_empty(url)
    assert str(failed.value) == (
        "cannot open the database postgresql+psycopg://postgres:****@127.0.0.1:5432/"
        "callvault_no_such_db (OperationalError); check that it exists and the server is "
        "running"
    )


def test_load_into_a_database_a_vault_opened_but_never_wrote(
    vault: Vault, config: Config, target_url: str, dump_dir: Path, tmp_path: Path
) -> None:
    fill(vault, calls=1)
    source = contents(config.effective_database_url)
    dump, _ = dump_database(vault.engine, dump_dir / "db.dump")
    restored_config = target_config(config, target_url, tmp_path)
    Vault.open(restored_config).close()  # a schema at head, only the seeded rows
    assert database_is_empty(target_url)

    load_database(target_url, dump_dir / "db.dump", dump.kind)

    assert contents(target_url) == source
    with Vault.open(restored_config) as restored:
        assert restored.verify_audit().ok


@pytest.mark.parametrize("backend", ["postgresql"])
def test_migrate_to_goes_down_and_up(config: Config) -> None:
    engine = create_db_engine(config.effective_database_url)
    migrate(engine)
    with engine.begin() as conn:
        migrate_to(conn, "0017")
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0017"
        assert "live_calls" not in inspect(conn).get_table_names()
        migrate_to(conn, HEAD)
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    engine.dispose()


def test_a_database_never_migrated_is_not_dumped(config: Config, dump_dir: Path) -> None:
    config.data_dir.mkdir(parents=True)
    engine = create_db_engine(config.effective_database_url)
    with pytest.raises(IntegrityError) as refused:
        dump_database(engine, dump_dir / "db.dump")
    engine.dispose()
    assert str(refused.value) == (
        "the database has 0 schema revisions (alembic_version), not one: open it with "
        "callvault once to migrate it, then back it up"
    )
    assert list(dump_dir.iterdir()) == []
