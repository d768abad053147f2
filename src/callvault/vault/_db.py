"""Engines and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.exc import NoSuchModuleError as NoDriver

from callvault.errors import ConfigError

__all__ = ["create_db_engine", "migrate", "migrate_to"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so that `_begin` below decides
    # how a transaction starts (the SQLAlchemy recipe for SERIALIZABLE SQLite).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Crypto-shredding: deleted rows (wrapped data keys) are overwritten, not left in
    # free pages of the database file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_WRITER_LOCK = "callvault_writer_lock"


def _sqlite_begin(lock: threading.RLock, conn: Any) -> None:
    # Writers take the lock at BEGIN, so two writers wait for each other instead of
    # failing with "database is locked" when a read lock is upgraded.
    immediate = conn.get_execution_options().get("callvault_write", False)
    if not immediate:
        conn.exec_driver_sql("BEGIN")
        return
    # The writers of this process queue on a lock of their own first. Left to SQLite's
    # busy handler, which sleeps longer after each try (up to 100 ms), forty threads of
    # a server wanting to write leave the database idle most of the time (bench/api.py).
    # Other processes still meet at BEGIN IMMEDIATE.
    lock.acquire()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        lock.release()
        raise
    conn.info.setdefault(_WRITER_LOCK, []).append(lock)


def _sqlite_end(conn: Any) -> None:
    held = conn.info.get(_WRITER_LOCK)
    if held:
        held.pop().release()


def create_db_engine(url: str) -> Engine:
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ConfigError(
            "CALLVAULT_DATABASE_URL is not a database URL; for example "
            "postgresql+psycopg://user:password@localhost/callvault"
        ) from None
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"CALLVAULT_DATABASE_URL: database {backend!r} is not supported; use SQLite or "
            "PostgreSQL"
        )
    try:
        # A server runs up to 40 request threads and its workers. Connections beyond
        # `pool_size` are closed when given back, and a SQLite connection opened again
        # runs its pragmas again: under load that churn cost more than the queries
        # (bench/api.py), so the pool keeps enough of them.
        sqlite = backend == "sqlite"
        in_memory = sqlite and make_url(url).database in (None, "", ":memory:")
        pool: dict[str, int] = {}
        if not in_memory:  # one shared connection there, no pool to size
            pool = (
                {"pool_size": 20, "max_overflow": 40}
                if sqlite
                else {"pool_size": 10, "max_overflow": 30}
            )
        engine = create_engine(url, pool_pre_ping=not sqlite, **pool)
    except (ArgumentError, NoDriver, ImportError) as exc:
        raise ConfigError(f"CALLVAULT_DATABASE_URL cannot be used: {exc}") from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", functools.partial(_sqlite_begin, threading.RLock()))
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
    return engine


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    cfg = _alembic_config()
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
            conn.rollback()
        if current == heads:
            return
        with engine.execution_options(callvault_write=True).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise ConfigError(
            f"cannot open the database ({type(exc.orig).__name__}); check "
            "CALLVAULT_DATABASE_URL and that the server is running"
        ) from None


def migrate_to(conn: Connection, revision: str) -> None:
    """Bring the schema on `conn` to `revision`, up or down, inside the caller's
    transaction: a restore makes the dump's schema before it copies the rows in (issue 21)."""
    cfg = _alembic_config()
    current = set(MigrationContext.configure(conn).get_current_heads())
    if current == {revision}:
        return
    cfg.attributes["connection"] = conn
    script = ScriptDirectory.from_config(cfg)
    below = {rev.revision for head in current for rev in script.iterate_revisions(head, "base")}
    if revision in below:
        command.downgrade(cfg, revision)
    else:
        command.upgrade(cfg, revision)
