"""The accounts' use cases (`services.accounts`): a Context first, changes audited as
its actor (the signed-in user, else the configured operator), on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from callvault.errors import NotAuthorized
from callvault.services import Context, accounts
from callvault.services.access import Principal
from callvault.vault import Vault

PASSWORD = "correct horse battery"
ACCOUNTS_SRC = Path(__file__).parents[2] / "src" / "callvault" / "accounts"


def test_changes_are_audited_as_the_contexts_actor(vault: Vault) -> None:
    operator = Context(config=vault.config, vault=vault)
    admin = operator.acting_as(Principal("root", "admin", None, None))
    assert not accounts.has_users(operator)
    accounts.add_user(operator, "root", PASSWORD, "admin")
    accounts.add_user(admin, "alice", PASSWORD, "rep", team="east")
    accounts.set_role(admin, "alice", "manager", "west")
    token, secret = accounts.create_token(admin, "alice", "ci", ["calls:read"], 1)
    assert accounts.resolve_token(operator, secret)[1].id == token.id
    accounts.revoke_token(admin, token.id)
    assert [u.username for u in accounts.list_users(operator)] == ["alice", "root"]
    assert accounts.team_of(operator, "alice") == "west"
    assert accounts.agents_of_team(operator, "west") == ["alice"]
    changes = [
        (e.action, e.actor, e.details.get("username"))
        for e in vault.audit_entries()
        if e.action.startswith(("user.", "token."))
    ]
    assert changes == [
        ("user.add", "test:pytest", "root"),
        ("user.add", "user:root", "alice"),
        ("user.role", "user:root", "alice"),
        ("token.create", "user:root", "alice"),
        ("token.revoke", "user:root", "alice"),
    ]


def test_sign_in_session_and_csrf(vault: Vault) -> None:
    ctx = Context(config=vault.config, vault=vault)
    accounts.add_user(ctx, "alice", PASSWORD, "rep")
    user = accounts.authenticate(ctx, "alice", PASSWORD, address="192.0.2.1")
    secret, csrf, _ = accounts.create_session(ctx, user)
    found, session = accounts.resolve_session(ctx, secret)
    assert found.username == "alice"
    assert accounts.check_csrf(session, csrf) and not accounts.check_csrf(session, csrf + "x")
    assert accounts.end_session(ctx, secret) and not accounts.end_session(ctx, secret)
    with pytest.raises(NotAuthorized):
        accounts.resolve_session(ctx, secret)


def test_accounts_import_nothing_of_recordings_nor_vault_internals() -> None:
    """`callvault.accounts` builds on the vault's public API only, and knows nothing
    about recordings or the use cases above it (issue 18)."""
    banned = ("callvault.capture", "callvault.media", "callvault.analysis", "callvault.search")
    banned += ("callvault.jobs", "callvault.services", "callvault.api", "callvault.web")
    for path in ACCOUNTS_SRC.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(banned), f"{path.name} imports {name}"
                assert not name.startswith("callvault.vault._"), f"{path.name} imports {name}"
