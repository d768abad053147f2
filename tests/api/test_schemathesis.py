"""Property-based tests of the API from its own OpenAPI schema (schemathesis): requests
generated for every operation, sent as the admin, never answer 5xx. Deterministic
(`derandomize`) and bounded (25 examples per operation), on both databases.

The erasing operations are left out: generated input must not be able to destroy the
world the other operations run against (they have their own tests); so is the live
board's event stream, which answers for as long as it is asked to (up to 10 minutes) and
has its own tests (tests/api/test_live_api.py); and starting a live session of the
in-browser recorder, since each one holds a share of the engine and a process monitors
at most `MAX_SESSIONS` at once (the next is 503 by design; tests/api/test_browser_live_api.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from test_rbac_matrix import World, build_world, serving

from callvault.api import create_app
from callvault.config import Config, load_config
from callvault.vault import Vault

MAX_EXAMPLES = 25
BASE_URL = "http://127.0.0.1"
DESTRUCTIVE = {
    ("DELETE", "/api/v1/calls/{call_id}"),
    ("POST", "/api/v1/rights/erase"),
    ("POST", "/api/v1/retention/run"),
}
LONG_LIVED = {("GET", "/api/v1/live/stream"), ("POST", "/api/v1/live/browser")}
# The schema does not depend on the data directory: an app that is never started.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(load_config(env={}, data_dir=Path("unused"))).openapi()
)
# `ok()` raises for an operation the schema cannot describe: that fails the import.
ALL_OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]  # type: ignore[union-attr]
OPERATIONS = [
    o for o in ALL_OPERATIONS if (o.method.upper(), o.path) not in DESTRUCTIVE | LONG_LIVED
]


@pytest.fixture
def world(config: Config, vault: Vault) -> Iterator[World]:
    with serving(build_world(config, vault, process=("alice",)), BASE_URL) as built:
        yield built


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """schemathesis speaks `requests`; TestClient is httpx: move plain form fields of a
    multipart body to `data`, raw bodies to `content`."""
    kwargs = dict(kwargs)
    kwargs.pop("cookies", None)
    files = kwargs.pop("files", None)
    if files:
        form: dict[str, Any] = dict(kwargs.pop("data", None) or {})
        uploads = []
        for name, (filename, content, *rest) in files:
            if filename is None:
                form[name] = content
            else:
                uploads.append((name, (filename, content, *rest)))
        kwargs["data"], kwargs["files"] = form, uploads
    elif isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    return kwargs


def test_every_operation_answers_without_a_server_error(world: World) -> None:
    assert len(OPERATIONS) >= 30  # the schema was read: guard against a silent empty run
    admin = world.bearer("root")
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    for operation in OPERATIONS:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            kwargs = _httpx_kwargs(case.as_transport_kwargs(base_url=BASE_URL, headers=admin))
            response = world.client.request(**kwargs)
            statuses.setdefault(case.operation.path, set()).add(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
    # The admin's token was taken: every operation ran past authentication, and those
    # without required input succeeded at least once.
    refused = {p for p, found in statuses.items() if 401 in found}
    assert refused == {"/api/v1/auth/login"}, statuses  # wrong passwords, rightly
    for path in ("/api/v1/calls", "/api/v1/users", "/api/v1/audit", "/api/v1/holds"):
        assert any(200 <= s < 300 for s in statuses[path]), (path, statuses[path])


def test_the_erasing_operations_and_the_stream_are_the_only_ones_left_out() -> None:
    every = {(o.method.upper(), o.path) for o in ALL_OPERATIONS}
    assert DESTRUCTIVE | LONG_LIVED <= every
    assert len(every) - len(OPERATIONS) == len(DESTRUCTIVE | LONG_LIVED)
