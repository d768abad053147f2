"""Users, API tokens and sessions (`callvault.accounts`), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from _clock import Clock
from callvault.accounts import SESSION_ABSOLUTE, SESSION_IDLE, Accounts
from callvault.accounts._models import SessionRow, TokenRow, UserRow
from callvault.errors import InputError, NotAuthorized, NotFound
from callvault.vault import Vault

PASSWORD = "correct horse battery"
AUTH_FAILED = "authentication failed: wrong username or password, or the account is disabled"


def audit_dump(vault: Vault) -> str:
    return json.dumps([e.to_dict() for e in vault.audit_entries()])


def test_add_get_list(vault: Vault) -> None:
    user = Accounts(vault).add_user(
        " Alice.Smith ", PASSWORD, "rep", team="emea", display_name="Alice Smith"
    )
    assert user.username == "alice.smith"
    assert (user.role, user.team, user.display_name) == ("rep", "emea", "Alice Smith")
    assert not user.disabled
    assert Accounts(vault).get_user("ALICE.SMITH") == user
    Accounts(vault).add_user("bob", PASSWORD, "manager", team="emea")
    assert [u.username for u in Accounts(vault).list_users()] == ["alice.smith", "bob"]
    assert set(user.to_json()) == {
        "id",
        "username",
        "display_name",
        "role",
        "team",
        "created_at",
        "disabled_at",
        "locked_at",
    }
    [entry] = vault.audit_entries(action="user.add", object_id=user.id)
    assert entry.details == {"username": "alice.smith", "role": "rep", "team": "emea"}
    with vault.reading() as session:
        stored = session.scalars(select(UserRow.password_hash)).first()
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in audit_dump(vault)


@pytest.mark.parametrize(
    ("username", "password", "role", "team", "message"),
    [
        ("al", PASSWORD, "rep", None, "a username is 3 to 64 characters"),
        ("al ice", PASSWORD, "rep", None, "a username is 3 to 64 characters"),
        ("a" * 65, PASSWORD, "rep", None, "a username is 3 to 64 characters"),
        ("alice", "short pw 11", "rep", None, "the password is too short: use at least 12"),
        ("alice", PASSWORD, "boss", None, "unknown role 'boss'; use one of admin, compliance"),
        ("alice", PASSWORD, "manager", None, "a manager needs a team (--team)"),
        ("alice", PASSWORD, "rep", "t" * 65, "a team name is at most 64 characters"),
    ],
)
def test_add_user_refuses(
    vault: Vault, username: str, password: str, role: str, team: str | None, message: str
) -> None:
    with pytest.raises(InputError) as err:
        Accounts(vault).add_user(username, password, role, team=team)
    assert str(err.value).startswith(message)
    assert password not in str(err.value)
    assert Accounts(vault).list_users() == []


def test_username_taken(vault: Vault) -> None:
    Accounts(vault).add_user("alice", PASSWORD, "rep")
    with pytest.raises(InputError, match="^user alice exists already; choose another username$"):
        Accounts(vault).add_user("ALICE", PASSWORD, "admin")


def test_authenticate(vault: Vault) -> None:
    alice = Accounts(vault).add_user("alice", PASSWORD, "rep")
    assert Accounts(vault).authenticate("Alice", PASSWORD) == alice
    [login] = vault.audit_entries(action="auth.login")
    assert login.actor == "user:alice"
    assert login.details == {
        "username": "alice",
        "method": "password",
        "rehashed": False,
        "address": None,
    }
    with pytest.raises(NotAuthorized) as err:
        Accounts(vault).authenticate("alice", "wrong password!")
    assert str(err.value) == AUTH_FAILED
    assert vault.audit_entries(action="auth.failed")[-1].details == {
        "username": "alice",
        "reason": "wrong-password",
        "method": "password",
        "address": None,
        "failures": 1,
    }
    # A name that is no user's may be a password typed in the wrong field, well-formed
    # or not (issue 17): it is never logged.
    for typed in ("mallory", "My Secret Pa$$word"):
        with pytest.raises(NotAuthorized) as err:
            Accounts(vault).authenticate(typed, PASSWORD)
        assert str(err.value) == AUTH_FAILED
        failed = vault.audit_entries(action="auth.failed")[-1]
        assert failed.details == {"reason": "unknown-user", "method": "password", "address": None}
        assert failed.object_id is None
    dump = audit_dump(vault)
    assert PASSWORD not in dump and "wrong password!" not in dump and "Pa$$word" not in dump
    assert "mallory" not in dump


def test_disabled_user_refused(vault: Vault) -> None:
    Accounts(vault).add_user("root", PASSWORD, "admin")
    Accounts(vault).add_user("alice", PASSWORD, "rep")
    user = Accounts(vault).authenticate("alice", PASSWORD)
    secret, _, _ = Accounts(vault).create_session(user)
    _, token_secret = Accounts(vault).create_token("alice", "ci", ["calls:read"], 30)
    disabled = Accounts(vault).disable_user("alice")
    assert disabled.disabled
    with pytest.raises(NotAuthorized, match=f"^{AUTH_FAILED}$"):
        Accounts(vault).authenticate("alice", PASSWORD)
    assert vault.audit_entries(action="auth.failed")[-1].details["reason"] == "disabled"
    with pytest.raises(NotAuthorized, match="^the session has ended; log in again$"):
        Accounts(vault).resolve_session(secret)
    with pytest.raises(NotAuthorized, match="^the API token is unknown, expired or revoked$"):
        Accounts(vault).resolve_token(token_secret)
    with pytest.raises(NotAuthorized):
        Accounts(vault).create_session(user)
    with pytest.raises(InputError, match="^user alice is disabled; a token would be refused$"):
        Accounts(vault).create_token("alice", "ci", ["calls:read"], 30)
    # Disabling twice changes nothing and is audited once.
    assert Accounts(vault).disable_user("alice") == disabled
    assert len(vault.audit_entries(action="user.disable")) == 1


def test_last_admin_is_kept(vault: Vault) -> None:
    Accounts(vault).add_user("root", PASSWORD, "admin")
    message = "^root is the last active admin; make another user admin first$"
    with pytest.raises(InputError, match=message):
        Accounts(vault).disable_user("root")
    with pytest.raises(InputError, match=message):
        Accounts(vault).set_role("root", "rep")
    Accounts(vault).add_user("second", PASSWORD, "admin")
    assert Accounts(vault).set_role("root", "rep").role == "rep"


def test_set_role_and_teams(vault: Vault) -> None:
    Accounts(vault).add_user("alice", PASSWORD, "rep", team="emea")
    Accounts(vault).add_user("bob", PASSWORD, "rep", team="emea")
    Accounts(vault).add_user("carol", PASSWORD, "rep", team="apac")
    updated = Accounts(vault).set_role("alice", "manager", "apac")
    assert (updated.role, updated.team) == ("manager", "apac")
    [entry] = vault.audit_entries(action="user.role")
    assert entry.details == {
        "username": "alice",
        "old": {"role": "rep", "team": "emea"},
        "new": {"role": "manager", "team": "apac"},
    }
    assert Accounts(vault).team_of("alice") == "apac"
    assert Accounts(vault).team_of("nobody") is None
    assert Accounts(vault).agents_of_team("apac") == ["alice", "carol"]
    assert Accounts(vault).agents_of_team("emea") == ["bob"]
    assert Accounts(vault).set_role("bob", "auditor").team is None
    with pytest.raises(NotFound, match="^user zed does not exist; `callvault users list`"):
        Accounts(vault).set_role("zed", "rep")


def test_set_password_ends_sessions(vault: Vault) -> None:
    user = Accounts(vault).add_user("alice", PASSWORD, "rep")
    secret, _, _ = Accounts(vault).create_session(user)
    with pytest.raises(InputError, match="^the password is too short"):
        Accounts(vault).set_password("alice", "tiny")
    Accounts(vault).set_password("alice", "another long password")
    with pytest.raises(NotAuthorized):
        Accounts(vault).authenticate("alice", PASSWORD)
    assert Accounts(vault).authenticate("alice", "another long password") == user
    with pytest.raises(NotAuthorized):
        Accounts(vault).resolve_session(secret)
    [entry] = vault.audit_entries(action="user.password")
    assert entry.details == {"username": "alice", "sessions_ended": 1}


def test_rehash_on_login(vault: Vault) -> None:
    user = Accounts(vault).add_user("alice", PASSWORD, "rep")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with vault.transaction() as tx:
        session = tx.session
        row = session.get(UserRow, user.id)
        assert row is not None
        row.password_hash = weak
    Accounts(vault).authenticate("alice", PASSWORD)
    assert vault.audit_entries(action="auth.login")[-1].details["rehashed"] is True
    with vault.reading() as session:
        stored = session.get(UserRow, user.id)
        assert stored is not None
    assert stored.password_hash != weak
    assert not PasswordHasher().check_needs_rehash(stored.password_hash)
    assert Accounts(vault).authenticate("alice", PASSWORD) == user


def test_tokens(vault: Vault, clock: Clock) -> None:
    alice = Accounts(vault).add_user("alice", PASSWORD, "rep")
    record, secret = Accounts(vault).create_token("alice", "laptop", ["search", "calls:read"], 30)
    assert secret.startswith("cvt_") and len(secret) > 40
    assert record.scopes == frozenset({"search", "calls:read"})
    assert record.expires_at == clock.now + timedelta(days=30)
    assert "secret" not in record.to_json() and "token_hash" not in record.to_json()
    with vault.reading() as session:
        row = session.get(TokenRow, record.id)
        assert row is not None
    assert row.scopes == "calls:read search"
    assert secret not in row.token_hash and len(row.token_hash) == 64
    assert secret not in audit_dump(vault) and row.token_hash not in audit_dump(vault)

    user, resolved = Accounts(vault).resolve_token(secret)
    assert user == alice and resolved.last_used_at == clock.now
    first_use = clock.now
    clock.advance(timedelta(seconds=30))
    assert Accounts(vault).resolve_token(secret)[1].last_used_at == first_use  # not written again
    clock.advance(timedelta(seconds=31))
    assert Accounts(vault).resolve_token(secret)[1].last_used_at == clock.now
    assert [t.id for t in Accounts(vault).list_tokens("alice")] == [record.id]

    refused = "^the API token is unknown, expired or revoked$"
    for bad in ("cvt_nope", "nope", secret + "x"):
        with pytest.raises(NotAuthorized, match=refused):
            Accounts(vault).resolve_token(bad)
    clock.advance(timedelta(days=30))
    with pytest.raises(NotAuthorized, match=refused):
        Accounts(vault).resolve_token(secret)
    assert vault.audit_entries(action="auth.failed")[-1].details["reason"] == "token-expired"

    other, other_secret = Accounts(vault).create_token("alice", "ci", ["calls:read"], 1)
    revoked = Accounts(vault).revoke_token(other.id)
    assert revoked.revoked_at == clock.now
    assert Accounts(vault).revoke_token(other.id) == revoked
    assert len(vault.audit_entries(action="token.revoke")) == 1
    with pytest.raises(NotAuthorized, match=refused):
        Accounts(vault).resolve_token(other_secret)
    assert vault.audit_entries(action="auth.failed")[-1].details["reason"] == "token-revoked"
    with pytest.raises(NotFound, match="^token nope does not exist"):
        Accounts(vault).revoke_token("nope")
    [created, _] = vault.audit_entries(action="token.create")
    assert created.details == {
        "username": "alice",
        "name": "laptop",
        "scopes": ["calls:read", "search"],
        "expires_at": record.expires_at.isoformat(),
    }


@pytest.mark.parametrize(
    ("name", "scopes", "days", "message"),
    [
        ("x", ["calls:read"], 366, "a token lasts 1 to 365 days (--days)"),
        ("x", ["calls:read"], 0, "a token lasts 1 to 365 days (--days)"),
        ("x", [], 30, "a token needs at least one scope: calls:read"),
        ("x", ["everything"], 30, "unknown scope 'everything'; use one of calls:read"),
        (" ", ["calls:read"], 30, "a token needs a name (--name)"),
    ],
)
def test_create_token_refuses(
    vault: Vault, name: str, scopes: list[str], days: int, message: str
) -> None:
    Accounts(vault).add_user("alice", PASSWORD, "rep")
    with pytest.raises(InputError) as err:
        Accounts(vault).create_token("alice", name, scopes, days)
    assert str(err.value).startswith(message)
    assert Accounts(vault).list_tokens() == []


def test_sessions(vault: Vault, clock: Clock) -> None:
    alice = Accounts(vault).add_user("alice", PASSWORD, "rep")
    secret, csrf, expires_at = Accounts(vault).create_session(alice)
    assert expires_at == clock.now + SESSION_ABSOLUTE
    assert secret != csrf
    with vault.reading() as session:
        [row] = session.scalars(select(SessionRow))
    assert secret not in (row.id, row.csrf_hash) and csrf not in (row.id, row.csrf_hash)
    user, record = Accounts(vault).resolve_session(secret)
    assert user == alice
    assert Accounts(vault).check_csrf(record, csrf)
    assert not Accounts(vault).check_csrf(record, csrf[:-1])
    assert not Accounts(vault).check_csrf(record, "")
    assert set(record.to_json()) == {"username", "created_at", "expires_at", "last_seen_at"}
    assert row.id not in repr(record) and row.csrf_hash not in repr(record)
    [entry] = vault.audit_entries(action="auth.session")
    assert secret not in audit_dump(vault) and row.id not in audit_dump(vault)
    assert entry.details["username"] == "alice"

    # Requests keep it alive past the idle limit, up to the absolute limit.
    for _ in range(3):
        clock.advance(SESSION_IDLE - timedelta(minutes=1))
        assert Accounts(vault).resolve_session(secret)[1].last_seen_at == clock.now
    clock.advance(timedelta(minutes=3))
    with pytest.raises(NotAuthorized, match="^the session has ended; log in again$"):
        Accounts(vault).resolve_session(secret)  # 24 h since login
    with vault.reading() as session:
        assert session.scalars(select(SessionRow)).all() == []

    idle, _, _ = Accounts(vault).create_session(alice)
    clock.advance(SESSION_IDLE)
    with pytest.raises(NotAuthorized):
        Accounts(vault).resolve_session(idle)
    with pytest.raises(NotAuthorized):
        Accounts(vault).resolve_session("never issued")


def test_end_session(vault: Vault) -> None:
    alice = Accounts(vault).add_user("alice", PASSWORD, "rep")
    secret, _, _ = Accounts(vault).create_session(alice)
    assert Accounts(vault).end_session(secret) is True
    assert Accounts(vault).end_session(secret) is False
    with pytest.raises(NotAuthorized):
        Accounts(vault).resolve_session(secret)
    [entry] = vault.audit_entries(action="auth.logout")
    assert (entry.actor, entry.object_id) == ("user:alice", alice.id)


def test_create_session_sweeps_expired(vault: Vault, clock: Clock) -> None:
    alice = Accounts(vault).add_user("alice", PASSWORD, "rep")
    Accounts(vault).create_session(alice)
    clock.advance(SESSION_IDLE + timedelta(seconds=1))
    Accounts(vault).create_session(alice)
    with vault.reading() as session:
        assert len(session.scalars(select(SessionRow)).all()) == 1


def test_audit_chain_holds(vault: Vault) -> None:
    Accounts(vault).add_user("root", PASSWORD, "admin")
    user = Accounts(vault).authenticate("root", PASSWORD)
    Accounts(vault).create_session(user)
    token, _ = Accounts(vault).create_token("root", "ops", ["admin"], 7)
    Accounts(vault).revoke_token(token.id)
    with pytest.raises(NotAuthorized):
        Accounts(vault).authenticate("root", "not the password")
    assert vault.verify_audit().faults == ()
