"""An engine on the migrated schema, for each backend of the `config` fixture."""

from __future__ import annotations

import pytest
from _jobs_helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
