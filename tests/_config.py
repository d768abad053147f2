"""The configuration of a test's vault, and where the local PostgreSQL server is: shared by
tests/conftest.py and the tests that make a second vault or database themselves."""

from __future__ import annotations

import os
from pathlib import Path

from callvault.config import Config, load_config

POSTGRES_ADMIN_URL = os.environ.get(
    "CALLVAULT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def make_config(data_dir: Path, database_url: str | None = None, **overrides: object) -> Config:
    return load_config(
        env={}, data_dir=data_dir, database_url=database_url, actor="test:pytest", **overrides
    )
