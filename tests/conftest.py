"""Shared fixtures: a fresh data directory per test, on SQLite and on the local PostgreSQL.

Each test session creates its own PostgreSQL database with a unique name and drops it
afterwards. When the server cannot be reached the PostgreSQL cases fail under CI=true
(they must not vanish silently) and are skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from callvault.config import Config
from callvault.vault import Vault
from callvault.vault._db import create_db_engine, migrate

sys.path.insert(0, str(Path(__file__).parent))

from _config import POSTGRES_ADMIN_URL, make_config  # noqa: E402 - after the path is set
from _moto import moto, set_aws_env  # noqa: E402

if TYPE_CHECKING:
    from _clock import Clock
    from _receiver import Receiver

# Property tests draw the same examples on every run (`derandomize`), so the test command
# passes or fails on the code and not on the draw; examples that ever failed are kept as
# explicit `@example`s next to their test. `pytest --hypothesis-profile=explore` draws
# new examples (and keeps what it finds in the local example database).
settings.register_profile(
    "deterministic",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", max_examples=500, deadline=None)
settings.load_profile("deterministic")

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a database created for this test session, dropped at the end."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"callvault_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """The session database, emptied before each test that uses it."""
    engine = create_engine(postgres_server)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield postgres_server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto server (an S3 emulator, tests/_moto.py) for the whole session: its URL."""
    # Parts of 1 KiB keep the vault's multipart tests small; real stores want 5 MiB.
    with moto({"S3_UPLOAD_PART_MIN_SIZE": "1024"}) as url:
        yield url


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials for the emulator; no profile or real account is reachable."""
    set_aws_env(monkeypatch)


@pytest.fixture
def fresh_database(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Makes new, empty PostgreSQL databases (a restore's target, say) on the server of
    the session's database; drops them after the test."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"callvault_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(postgres_server).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def config(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Config:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    return make_config(tmp_path / "data", url)


@pytest.fixture
def vault(config: Config) -> Iterator[Vault]:
    with Vault.open(config) as opened:
        yield opened


@pytest.fixture
def engine(config: Config) -> Iterator[Engine]:
    """A migrated database engine of the test's backend, without the rest of the vault."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(config.effective_database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook subscriber on 127.0.0.1 (`_receiver.Receiver`)."""
    from _receiver import Receiver

    found = Receiver()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()
    found.thread.join()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The users' and sign-ins' clock, moved on by hand (tests/jobs has its own `clock`)."""
    import callvault.accounts._records as users_module
    from _clock import Clock

    fake = Clock()
    monkeypatch.setattr(users_module, "_now", fake)
    return fake
