"""A consistent online snapshot of the whole database, and its restore (issue 21).

`dump_database` copies every table of the schema (the vault's, and those of accounts,
contacts, jobs and search, which share the database, plus ``alembic_version``) while
`serve` and the workers keep writing; `load_database` puts it into an empty database.
What is written here is plaintext: the backup orchestrator (services) encrypts it.

SQLite: the online backup API copies the database in one step (one read transaction, so
one snapshot; in WAL mode the writers are not blocked). The dump is a SQLite file.

PostgreSQL: one REPEATABLE READ READ ONLY transaction copies each table with
``COPY ... TO STDOUT (FORMAT binary)`` into one file of frames (integers big-endian; a
*str* is a u16 byte length and UTF-8)::

    header    b"CVPGDUMP" | u16 format version (1) | str alembic revision
    table     b"T" | str table | u16 n | n x str column     (generated columns left out)
    data      b"D" | u32 length | COPY binary data           (the table's, in order)
    table end b"E" | u64 rows
    sequence  b"S" | str sequence | i64 last_value | u8 is_called
    end       b"Z" | 32-byte SHA-256 of every byte before it, "Z" included

Tables come parents first; sequences after the tables (sequences are not transactional:
read last, their values cover every row of the snapshot). A dump that is truncated,
altered or has anything after its end is refused with `IntegrityError` before the target
database is touched. COPY binary needs the same column types on both sides: the restore
makes the schema of the dump's own revision first (alembic), and the caller migrates on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import struct
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from callvault.config import mask_url
from callvault.errors import ConfigError, IntegrityError, RestoreRefused
from callvault.vault._db import create_db_engine, migrate_to
from callvault.vault._fs import create_private, fsync_dir, private_dir, process_tag

__all__ = ["DatabaseDump", "database_is_empty", "dump_database", "load_database"]

log = logging.getLogger("callvault.vault")

T = TypeVar("T")
Progress = Callable[[str, int], None]

MAGIC = b"CVPGDUMP"
VERSION = 1
_DIGEST = 32
# COPY data is framed in pieces of about this size; a frame claiming more than _MAX_FRAME
# is damage, not data (the reader never allocates what a length field asks for).
_CHUNK = 1 << 20
_MAX_FRAME = 16 << 20
_SQLITE_MAGIC = b"SQLite format 3\x00"
# Rows that the migrations themselves insert (the audit chain's genesis head, the live
# board's cursor, the erasure ledger's head): a database holding only these is as empty
# as a new one.
_SEEDED = {
    "audit_head": "seq <> 0",
    "live_cursor": "last_seq <> 0",
    "erasure_ledger_head": "seq <> 0",
}
_VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class DatabaseDump:
    """What `dump_database` wrote."""

    kind: str  # "sqlite" | "postgresql"
    revision: str  # the alembic revision of the schema in the dump
    tables: dict[str, int]  # rows per table in the dump
    size: int  # bytes of the dump file


def dump_database(
    engine: Engine,
    dest: Path,
    *,
    inspect: Callable[[Connection], T] | None = None,
    progress: Progress | None = None,
) -> tuple[DatabaseDump, T | None]:
    """Write a consistent snapshot of the whole database to `dest` (a new file, mode
    0600, in a private directory the caller gives). `inspect(conn)` runs against the same
    snapshot and its result is returned; `progress(table, rows)` follows each table."""
    kind = engine.dialect.name
    if kind not in ("sqlite", "postgresql"):
        raise ConfigError(f"cannot dump a {kind} database; callvault runs on SQLite or PostgreSQL")
    dump = _dump_sqlite if kind == "sqlite" else _dump_postgresql
    try:
        return dump(engine, dest, inspect, progress)
    except BaseException:
        dest.unlink(missing_ok=True)  # half a dump is no dump
        raise


def load_database(url: str, src: Path, kind: str) -> None:
    """Restore the dump `src` of a `kind` database into the empty database at `url`; its
    schema is then the dump's revision (the caller runs `migrate` to reach head)."""
    backend = _backend(url)
    if kind not in ("sqlite", "postgresql"):
        raise IntegrityError(f"the database dump {src.name} is of unknown kind {kind!r}")
    if backend != kind:
        raise RestoreRefused(
            f"the backup holds a {kind} database and {mask_url(url)} is {backend}; "
            f"restore into a {kind} database"
        )
    if kind == "sqlite":
        _load_sqlite(url, src)
    else:
        _load_postgresql(url, src)


def database_is_empty(url: str) -> bool:
    """True when the database has no tables, or none with rows beyond those the
    migrations insert; a SQLite file that does not exist or has 0 bytes is empty."""
    if _backend(url) == "sqlite":
        return not _sqlite_nonempty(_sqlite_path(url))
    with _pg_engine(url) as engine, engine.connect() as conn:
        return not _pg_tables_with_rows(conn)


# -- SQLite ------------------------------------------------------------------------------


def _dump_sqlite(
    engine: Engine,
    dest: Path,
    inspect: Callable[[Connection], T] | None,
    progress: Progress | None,
) -> tuple[DatabaseDump, T | None]:
    create_private(dest).close()
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        copy = sqlite3.connect(dest, isolation_level=None)
        try:
            # pages=-1: the whole database in one step, under one read transaction.
            source.backup(copy, pages=-1)
            # The copy is one self-contained file: no write-ahead log beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
    finally:
        raw.close()
    with open(dest, "rb+") as handle:
        os.fsync(handle.fileno())
    with closing(_sqlite_open(dest, read_only=True)) as db:
        revision = _sqlite_revision(db)
        tables = {}
        for table in _sqlite_tables(db):
            tables[table] = db.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0]
            if progress is not None:
                progress(table, tables[table])
    result = None
    if inspect is not None:
        uri = f"file:{quote(str(dest.resolve()))}?mode=ro"
        copy_engine = create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
            poolclass=NullPool,
        )
        try:
            with copy_engine.connect() as conn:
                result = inspect(conn)
        finally:
            copy_engine.dispose()
    dump = DatabaseDump("sqlite", revision, tables, dest.stat().st_size)
    return dump, result


def _load_sqlite(url: str, src: Path) -> None:
    with open(src, "rb") as handle:
        if handle.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
            raise IntegrityError(f"the database dump {src.name} is not a SQLite database")
    target = _sqlite_path(url)
    busy = _sqlite_nonempty(target)
    if busy:
        raise _refused(url, busy)
    private_dir(target.parent)
    tmp = target.with_name(f".{target.name}.{process_tag()}.restore")
    try:
        with open(src, "rb") as source, create_private(tmp) as out:
            shutil.copyfileobj(source, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        # A stale log beside the old (empty) file would be replayed into the new one.
        for suffix in ("-wal", "-shm", "-journal"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ConfigError(
            f"{mask_url(url)} is an in-memory database; a backup needs a database file"
        )
    return Path(database)


def _sqlite_open(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    return sqlite3.connect(path)


def _sqlite_tables(db: sqlite3.Connection) -> list[str]:
    """The tables, virtual ones (the search index) included, their shadow tables not."""
    rows = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    virtual = [name for name, ddl in rows if (ddl or "").upper().startswith("CREATE VIRTUAL")]
    return sorted(name for name, _ in rows if not any(name.startswith(f"{v}_") for v in virtual))


def _sqlite_tables_with_rows(db: sqlite3.Connection) -> list[str]:
    found = []
    for table in _sqlite_tables(db):
        if table == _VERSION_TABLE:
            continue
        where = f" WHERE {_SEEDED[table]}" if table in _SEEDED else ""
        if db.execute(f"SELECT 1 FROM {_quote(table)}{where} LIMIT 1").fetchone():
            found.append(table)
    return found


def _sqlite_nonempty(path: Path) -> list[str]:
    """The tables of the SQLite file `path` that hold rows; none for a missing file, or an
    empty one without a write-ahead log (what `Vault.init` leaves before its first open)."""
    wal = path.with_name(path.name + "-wal")
    if not path.exists():
        return []
    if path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size > 0):
        return []
    with closing(_sqlite_open(path)) as db:
        return _sqlite_tables_with_rows(db)


def _sqlite_revision(db: sqlite3.Connection) -> str:
    try:
        rows = db.execute(f"SELECT version_num FROM {_VERSION_TABLE}").fetchall()
    except sqlite3.OperationalError:
        rows = []
    return _one_revision([row[0] for row in rows])


def _one_revision(rows: list[Any]) -> str:
    if len(rows) != 1:
        raise IntegrityError(
            f"the database has {len(rows)} schema revisions (alembic_version), not one: "
            "open it with callvault once to migrate it, then back it up"
        )
    return str(rows[0])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- PostgreSQL: dump --------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]


def _dump_postgresql(
    engine: Engine,
    dest: Path,
    inspect: Callable[[Connection], T] | None,
    progress: Progress | None,
) -> tuple[DatabaseDump, T | None]:
    with engine.connect() as conn:
        # One snapshot for the catalog, every COPY and `inspect`; read only, so it never
        # holds back a writer beyond what any long read does.
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        tables = _pg_tables(conn)
        revision = _pg_revision(conn, tables)
        result = inspect(conn) if inspect is not None else None
        pg = _psycopg(conn)
        counts: dict[str, int] = {}
        with create_private(dest) as out:
            writer = _FrameWriter(out)
            writer.header(revision)
            for table in _parents_first(tables, _pg_references(conn)):
                writer.table(table)
                cursor = pg.cursor()
                with cursor.copy(_copy_sql(table, "TO STDOUT")) as copy:
                    for data in copy:
                        writer.data(data)
                counts[table.name] = cursor.rowcount
                writer.table_end(cursor.rowcount)
                cursor.close()
                if progress is not None:
                    progress(table.name, counts[table.name])
            for name, last_value, is_called in _pg_sequences(conn):
                writer.sequence(name, last_value, is_called)
            writer.end()
            out.flush()
            os.fsync(out.fileno())
        conn.rollback()
    return DatabaseDump("postgresql", revision, counts, dest.stat().st_size), result


class _FrameWriter:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self._pending = bytearray()

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        self._out.write(data)

    def header(self, revision: str) -> None:
        self._write(MAGIC + struct.pack(">H", VERSION) + _str(revision))

    def table(self, table: _Table) -> None:
        names = b"".join(_str(c) for c in table.columns)
        self._write(b"T" + _str(table.name) + struct.pack(">H", len(table.columns)) + names)

    def data(self, data: bytes | bytearray | memoryview) -> None:
        # psycopg hands over one CopyData message (about a row) at a time: framed in
        # pieces of about _CHUNK rather than a frame per row.
        self._pending += data
        if len(self._pending) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._write(b"D" + struct.pack(">I", len(self._pending)))
            self._write(self._pending)
            self._pending = bytearray()

    def table_end(self, rows: int) -> None:
        self._flush()
        self._write(b"E" + struct.pack(">Q", rows))

    def sequence(self, name: str, last_value: int, is_called: bool) -> None:
        self._write(b"S" + _str(name) + struct.pack(">qB", last_value, is_called))

    def end(self) -> None:
        self._write(b"Z")
        self._out.write(self._hash.digest())


def _copy_sql(table: _Table, direction: str) -> sql.Composed:
    return sql.SQL("COPY {} ({}) {} (FORMAT binary)").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(map(sql.Identifier, table.columns)),
        sql.SQL(direction),
    )


def _str(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">H", len(data)) + data


def _psycopg(conn: Connection) -> psycopg.Connection[Any]:
    """The driver's connection under `conn`, in the same transaction: COPY streams there."""
    pg = conn.connection.driver_connection
    assert isinstance(pg, psycopg.Connection)
    return pg


def _pg_tables(conn: Connection) -> list[_Table]:
    """Every ordinary table of the current schema with its stored (not generated) columns."""
    rows = conn.execute(
        text(
            "SELECT c.relname, a.attname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
            "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
            "ORDER BY c.relname, a.attnum"
        )
    ).all()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return [_Table(name, tuple(cols)) for name, cols in columns.items()]


def _pg_references(conn: Connection) -> set[tuple[str, str]]:
    """(child, parent) for every foreign key between tables of the current schema."""
    rows = conn.execute(
        text(
            "SELECT c.relname, p.relname FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE k.contype = 'f' AND n.nspname = current_schema()"
        )
    ).all()
    return {(str(child), str(parent)) for child, parent in rows}


def _parents_first(tables: Iterable[_Table], references: set[tuple[str, str]]) -> list[_Table]:
    """`tables` with every table after the tables its foreign keys point to."""
    pending = {t.name: t for t in tables}
    ordered: list[_Table] = []
    while pending:
        ready = [
            name
            for name in sorted(pending)
            if not any(c == name and p in pending and p != name for c, p in references)
        ]
        if not ready:  # a cycle: no schema of callvault has one; COPY reports the failure
            ready = sorted(pending)
        ordered.extend(pending.pop(name) for name in ready)
    return ordered


def _pg_revision(conn: Connection, tables: list[_Table]) -> str:
    if not any(t.name == _VERSION_TABLE for t in tables):
        return _one_revision([])
    version = conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}"))
    return _one_revision(list(version.scalars()))


def _pg_sequences(conn: Connection) -> list[tuple[str, int, bool]]:
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'S' AND n.nspname = current_schema() ORDER BY c.relname"
        )
    ).scalars()
    found = []
    for name in list(names):
        row = conn.execute(text(f"SELECT last_value, is_called FROM {_quote(name)}")).one()
        found.append((str(name), int(row[0]), bool(row[1])))
    return found


def _pg_tables_with_rows(conn: Connection) -> list[str]:
    found = []
    for table in _pg_tables(conn):
        if table.name == _VERSION_TABLE:
            continue
        where = f" WHERE {_SEEDED[table.name]}" if table.name in _SEEDED else ""
        if conn.execute(text(f"SELECT 1 FROM {_quote(table.name)}{where} LIMIT 1")).first():
            found.append(table.name)
    return found


# -- PostgreSQL: load --------------------------------------------------------------------


@dataclass(frozen=True)
class _Section:
    """A table of a dump, and where its data frames start in the file."""

    table: _Table
    rows: int
    offset: int


@dataclass(frozen=True)
class _Contents:
    revision: str
    sections: tuple[_Section, ...]
    sequences: tuple[tuple[str, int, bool], ...]


class _FrameReader:
    def __init__(self, handle: BinaryIO, name: str) -> None:
        self._in = handle
        self._name = name
        self.hash = hashlib.sha256()

    def damaged(self, what: str) -> IntegrityError:
        return IntegrityError(f"the database dump {self._name} is damaged: {what}")

    def exact(self, size: int) -> bytes:
        data = self._in.read(size)
        if len(data) != size:
            raise self.damaged("it ends early (truncated)")
        self.hash.update(data)
        return data

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack(fmt, self.exact(struct.calcsize(fmt)))

    def str(self) -> str:
        (size,) = self.unpack(">H")
        try:
            return self.exact(size).decode()
        except UnicodeDecodeError:
            raise self.damaged("a name is not UTF-8") from None

    def frame_size(self) -> int:
        (size,) = self.unpack(">I")
        if size > _MAX_FRAME:
            raise self.damaged(f"a data frame claims {size} bytes")
        return int(size)

    def skip(self, size: int) -> None:
        while size:
            size -= len(self.exact(min(size, _CHUNK)))

    def tell(self) -> int:
        return self._in.tell()


def _read_contents(src: Path) -> _Contents:
    """Walk the whole dump once: its frames and its digest, before anything is written."""
    with open(src, "rb") as handle:
        reader = _FrameReader(handle, src.name)
        if reader.exact(len(MAGIC)) != MAGIC:
            raise IntegrityError(f"{src.name} is not a callvault PostgreSQL database dump")
        (version,) = reader.unpack(">H")
        if version != VERSION:
            raise IntegrityError(
                f"the database dump {src.name} has format version {version}; this callvault "
                f"reads version {VERSION}"
            )
        revision = reader.str()
        sections: list[_Section] = []
        sequences: list[tuple[str, int, bool]] = []
        while True:
            tag = reader.exact(1)
            if tag == b"T":
                name = reader.str()
                (count,) = reader.unpack(">H")
                table = _Table(name, tuple(reader.str() for _ in range(count)))
                offset = reader.tell()
                while (tag := reader.exact(1)) == b"D":
                    reader.skip(reader.frame_size())
                if tag != b"E":
                    raise reader.damaged(f"table {name} has no end")
                (rows,) = reader.unpack(">Q")
                sections.append(_Section(table, rows, offset))
            elif tag == b"S":
                name = reader.str()
                last_value, is_called = reader.unpack(">qB")
                sequences.append((name, last_value, bool(is_called)))
            elif tag == b"Z":
                digest = handle.read(_DIGEST + 1)
                if len(digest) < _DIGEST:
                    raise reader.damaged("it ends early (truncated)")
                if len(digest) > _DIGEST:
                    raise reader.damaged("there are bytes after its end")
                if digest != reader.hash.digest():
                    raise reader.damaged("its SHA-256 does not match its contents (altered)")
                break
            else:
                raise reader.damaged(f"unknown frame {tag!r} at byte {reader.tell() - 1}")
    return _Contents(revision, tuple(sections), tuple(sequences))


def _load_postgresql(url: str, src: Path) -> None:
    contents = _read_contents(src)
    with _pg_engine(url) as engine, engine.begin() as conn:
        busy = _pg_tables_with_rows(conn)
        if busy:
            raise _refused(url, busy)
        # The dump's own schema, in this transaction: a failure below leaves no table.
        migrate_to(conn, contents.revision)
        present = {t.name: t for t in _pg_tables(conn)}
        dumped = {s.table.name: s for s in contents.sections}
        missing = sorted(set(dumped) - set(present))
        if missing:
            raise IntegrityError(
                f"the database dump {src.name} holds tables that revision "
                f"{contents.revision} does not have: {', '.join(missing)}"
            )
        version = conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalars()
        if list(version) != [contents.revision]:
            raise IntegrityError(f"the schema did not reach revision {contents.revision}")
        loaded = [n for n in dumped if n != _VERSION_TABLE]
        if loaded:  # the rows the migrations seeded make way for the dump's
            conn.execute(text(f"TRUNCATE {', '.join(_quote(n) for n in loaded)}"))
        pg = _psycopg(conn)
        tables = [present[n] for n in dumped if n != _VERSION_TABLE]
        with open(src, "rb") as handle:
            for table in _parents_first(tables, _pg_references(conn)):
                _copy_in(pg, handle, src.name, dumped[table.name])
        for name, last_value, is_called in contents.sequences:
            conn.execute(
                text("SELECT setval(CAST(:name AS regclass), :value, :called)"),
                {"name": _quote(name), "value": last_value, "called": is_called},
            )
    log.info("restored %d table(s) at revision %s", len(loaded), contents.revision)


def _copy_in(pg: psycopg.Connection[Any], handle: BinaryIO, name: str, section: _Section) -> None:
    handle.seek(section.offset)
    reader = _FrameReader(handle, name)
    table = section.table
    with pg.cursor() as cursor:
        with cursor.copy(_copy_sql(table, "FROM STDIN")) as copy:
            while reader.exact(1) == b"D":
                copy.write(reader.exact(reader.frame_size()))
        if cursor.rowcount != section.rows:
            raise reader.damaged(
                f"table {table.name} has {cursor.rowcount} rows, its end says {section.rows}"
            )


# -- both --------------------------------------------------------------------------------


def _backend(url: str) -> str:
    try:
        return make_url(url).get_backend_name()
    except Exception:  # noqa: BLE001 - any unparsable URL
        raise ConfigError(f"{mask_url(url)} is not a database URL") from None


@contextmanager
def _pg_engine(url: str) -> Iterator[Engine]:
    """An engine on `url` for one restore or check, disposed after; a server or database
    that cannot be reached is named by its URL (the password masked)."""
    engine = create_db_engine(url)
    try:
        try:
            with engine.connect():
                pass
        except OperationalError as exc:
            raise ConfigError(
                f"cannot open the database {mask_url(url)} ({type(exc.orig).__name__}); "
                "check that it exists and the server is running"
            ) from None
        yield engine
    finally:
        engine.dispose()


def _refused(url: str, tables: list[str]) -> RestoreRefused:
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    return RestoreRefused(
        f"the database {mask_url(url)} is not empty (rows in {shown}); restore only writes "
        "into an empty database: give a new one"
    )
