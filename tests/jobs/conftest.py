"""An engine on the migrated schema, for each backend of the `config` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _jobs_helpers import FakeClock
from sqlalchemy import Engine

from callvault.config import Config
from callvault.vault._db import create_db_engine, migrate


@pytest.fixture
def engine(config: Config) -> Iterator[Engine]:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(config.effective_database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
