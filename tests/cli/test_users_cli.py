"""`callvault users` through CliRunner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from callvault.accounts import Accounts
from callvault.cli import cli
from callvault.config import load_config
from callvault.errors import AccountLocked, NotAuthorized
from callvault.vault import Vault

PASSWORD = "a long enough password"


@pytest.fixture
def env(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    return {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": url,
        "CALLVAULT_ACTOR": "test:cli",
    }


def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def open_vault(env: dict[str, str]) -> Vault:
    return Vault.open(load_config(env=env))


def test_add_list_role_disable(env: dict[str, str]) -> None:
    added = run(
        env,
        "users",
        "add",
        "Root",
        "--role",
        "admin",
        "--display-name",
        "The Admin",
        "--json",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert ok(added)["username"] == "root"
    assert PASSWORD not in added.stdout
    scripted = {**env, "CALLVAULT_NEW_PASSWORD": PASSWORD}
    result = run(scripted, "users", "add", "alice", "--role", "rep", "--team", "emea")
    assert result.exit_code == 0, result.output
    assert result.stdout == "added alice (rep, team emea)\n"

    listed = ok(run(env, "users", "list", "--json"))
    assert [(u["username"], u["role"], u["team"]) for u in listed] == [
        ("alice", "rep", "emea"),
        ("root", "admin", None),
    ]
    assert "password_hash" not in listed[0]
    table = run(env, "users", "list")
    assert "alice" in table.stdout and "The Admin" in table.stdout

    role = ok(run(env, "users", "role", "alice", "--role", "manager", "--team", "apac", "--json"))
    assert (role["role"], role["team"]) == ("manager", "apac")
    assert ok(run(env, "users", "disable", "alice", "--json"))["disabled_at"] is not None

    with open_vault(env) as vault:
        assert Accounts(vault).authenticate("root", PASSWORD).role == "admin"
        [entry] = vault.audit_entries(action="user.role")
        assert entry.actor == "test:cli"
        assert PASSWORD not in json.dumps([e.to_dict() for e in vault.audit_entries()])


def test_errors(env: dict[str, str]) -> None:
    short = run(env, "users", "add", "alice", "--role", "rep", input="too short\ntoo short\n")
    assert short.exit_code == 2
    assert short.stderr.endswith("\nerror: the password is too short: use at least 12 characters\n")
    mismatch = run(env, "users", "add", "alice", "--role", "rep", input=f"{PASSWORD}\nother\n")
    assert mismatch.exit_code != 0
    missing = run(env, "users", "disable", "nobody")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: user nobody does not exist")
    manager = run(
        {**env, "CALLVAULT_NEW_PASSWORD": PASSWORD}, "users", "add", "bob", "--role", "manager"
    )
    assert manager.stderr == "error: a manager needs a team (--team)\n"
    # The password is never an argument.
    assert run(env, "users", "add", "carol", "--role", "rep", "--password", "x").exit_code == 2


def test_tokens(env: dict[str, str]) -> None:
    run({**env, "CALLVAULT_NEW_PASSWORD": PASSWORD}, "users", "add", "alice", "--role", "rep")
    created = run(
        env,
        "users",
        "token",
        "create",
        "alice",
        "--name",
        "laptop",
        "--scope",
        "calls:read",
        "--scope",
        "search",
        "--days",
        "30",
    )
    assert created.exit_code == 0, created.output
    header, secret = created.stdout.splitlines()
    assert header.startswith("token ") and " for alice, expires " in header
    assert secret.startswith("cvt_")
    assert "cannot be shown again" in created.stderr
    token_id = header.split()[1]

    [listed] = ok(run(env, "users", "token", "list", "alice", "--json"))
    assert listed["id"] == token_id and listed["scopes"] == ["calls:read", "search"]
    assert secret not in run(env, "users", "token", "list").stdout

    with open_vault(env) as vault:
        user, token = Accounts(vault).resolve_token(secret)
        assert (user.username, token.id) == ("alice", token_id)

    assert ok(run(env, "users", "token", "revoke", token_id, "--json"))["revoked_at"] is not None
    too_long = run(
        env,
        "users",
        "token",
        "create",
        "alice",
        "--name",
        "x",
        "--scope",
        "search",
        "--days",
        "400",
    )
    assert too_long.exit_code == 2
    bad_scope = run(
        env, "users", "token", "create", "alice", "--name", "x", "--scope", "root", "--days", "1"
    )
    assert bad_scope.exit_code == 2
    missing = run(env, "users", "token", "revoke", "nope")
    assert missing.stderr.startswith("error: token nope does not exist")


def test_unlock(env: dict[str, str]) -> None:
    """An account that failed sign-ins locked (issue 17) is unlocked from the command
    line, audited as this process's actor."""
    locking = {**env, "CALLVAULT_LOGIN_LOCK_AFTER": "2"}
    scripted = {**locking, "CALLVAULT_NEW_PASSWORD": PASSWORD}
    assert run(scripted, "users", "add", "alice", "--role", "rep").exit_code == 0
    with open_vault(locking) as vault:
        for _ in range(2):
            with pytest.raises(NotAuthorized):
                Accounts(vault).authenticate("alice", "not the password", address="192.0.2.1")
        with pytest.raises(AccountLocked):
            Accounts(vault).authenticate("alice", PASSWORD, address="192.0.2.1")
    listed = run(locking, "users", "list")
    assert "locked" in listed.stdout
    assert ok(run(locking, "users", "list", "--json"))[0]["locked_at"] is not None
    unlocked = run(locking, "users", "unlock", "ALICE")
    assert unlocked.exit_code == 0, unlocked.output
    assert unlocked.stdout == "unlocked alice\n"
    again = run(locking, "users", "unlock", "alice")
    assert again.stdout == "alice was not locked; their failed sign-ins are forgotten\n"
    missing = run(locking, "users", "unlock", "nobody")
    assert missing.exit_code == 2 and "user nobody does not exist" in missing.output
    with open_vault(locking) as vault:
        assert (
            Accounts(vault).authenticate("alice", PASSWORD, address="192.0.2.1").username == "alice"
        )
        [lift] = vault.audit_entries(action="user.unlock")
    assert lift.actor == "test:cli"
    assert lift.details == {"username": "alice", "locked": True, "failures": 2}
