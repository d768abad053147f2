"""Password sign-in with throttling and account locks (issue 17, finding 4), on SQLite and
PostgreSQL: 200 wrong passwords in a row are not followed by a working right one, the
back-off doubles up to its cap, a lock holds until an admin lifts it, the state outlives
the process's vault, and audit rows name the address and never an unknown username."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from typing import Literal

import pytest
from alembic import command
from argon2 import PasswordHasher
from sqlalchemy import Engine, inspect, select, text

from _clock import Clock
from callvault.accounts import Accounts, ThrottlePolicy
from callvault.accounts import _records as users_module
from callvault.accounts._models import ThrottleRow
from callvault.config import Config
from callvault.errors import AccountLocked, NotAuthorized, Overloaded, TooManyAttempts
from callvault.vault import Vault
from callvault.vault._db import _alembic_config

PASSWORD = "correct horse battery"
WRONG = "wrong horse battery"
HOME = "198.51.100.7"
AWAY = "203.0.113.9"


def throttle_keys(vault: Vault) -> list[str]:
    with vault.reading() as session:
        return sorted(session.scalars(select(ThrottleRow.key)))


def refused_for(vault: Vault, username: str, password: str, address: str | None = HOME) -> int:
    with pytest.raises(TooManyAttempts) as err:
        Accounts(vault).authenticate(username, password, address=address)
    wait = err.value.retry_after
    assert str(err.value) == f"too many failed sign-ins; try again in {wait} seconds"
    return wait


def wrong(vault: Vault, username: str = "alice", address: str | None = HOME) -> None:
    with pytest.raises(NotAuthorized) as err:
        Accounts(vault).authenticate(username, WRONG, address=address)
    assert type(err.value) is NotAuthorized


def test_200_wrong_passwords_then_the_right_one_is_refused(vault: Vault, clock: Clock) -> None:
    Accounts(vault).add_user("alice", PASSWORD, "rep")
    refusals = 0
    for _ in range(200):
        try:
            Accounts(vault).authenticate("alice", WRONG, address=HOME)
        except TooManyAttempts:
            refusals += 1
        except NotAuthorized:
            pass
    # The first five were checked, every later one refused before any hash was computed.
    assert refusals == 195
    refused_for(vault, "alice", PASSWORD)
    failed = vault.audit_entries(action="auth.failed")
    assert len(failed) == 5  # a throttled attempt writes nothing
    assert [e.details["failures"] for e in failed] == [1, 2, 3, 4, 5]
    assert failed[-1].details["blocked_for"] == 1


def test_backoff_doubles_up_to_its_cap_and_locks(vault: Vault, clock: Clock) -> None:
    Accounts(vault).add_user("root", PASSWORD, "admin")
    alice = Accounts(vault).add_user("alice", PASSWORD, "rep")
    waits = []
    for attempt in range(1, 21):
        wrong(vault, address=f"192.0.2.{attempt}")  # one address each: only the account counts
        if attempt >= 5 and attempt < 20:
            waits.append(refused_for(vault, "alice", PASSWORD, f"192.0.2.{attempt}"))
            clock.advance(waits[-1])
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900]
    [lock] = vault.audit_entries(action="user.lock")
    assert lock.details == {"username": "alice", "failures": 20}
    assert lock.actor == "remote:192.0.2.20"
    assert Accounts(vault).get_user("alice").locked
    # Locked: after the back-off the right password is still refused, saying why, while a
    # wrong one gets the same answer as ever (only the password's owner learns of the lock).
    clock.advance(900)
    with pytest.raises(AccountLocked, match="^this account is locked after too many"):
        Accounts(vault).authenticate("alice", PASSWORD, address=HOME)
    assert vault.audit_entries(action="auth.failed")[-1].details["reason"] == "locked"
    clock.advance(3600)
    wrong(vault, address=HOME)
    clock.advance(3600)
    unlocked = Accounts(vault).unlock_user("alice", actor="user:root")
    assert not unlocked.locked
    [lift] = vault.audit_entries(action="user.unlock")
    assert lift.actor == "user:root"
    assert lift.details == {"username": "alice", "locked": True, "failures": 1}
    assert Accounts(vault).authenticate("alice", PASSWORD, address=HOME) == dataclasses.replace(
        alice, locked_at=None
    )
    # Unlocking again changes nothing and is not audited again.
    Accounts(vault).unlock_user("alice", actor="user:root")
    assert len(vault.audit_entries(action="user.unlock")) == 1


def test_success_resets_the_account_not_the_address(vault: Vault, clock: Clock) -> None:
    Accounts(vault).add_user("alice", PASSWORD, "rep")
    Accounts(vault).add_user("bob", PASSWORD, "rep")
    for _ in range(4):
        wrong(vault, "alice", address=HOME)
    Accounts(vault).authenticate("alice", PASSWORD, address=HOME)
    for _ in range(4):
        wrong(vault, "alice", address=AWAY)  # four again, not eight: no 429
    # The address: 20 failures with any names, then it waits, whoever it names.
    for n in range(16):
        wrong(vault, f"nobody{n}", address=HOME)
    refused_for(vault, "bob", PASSWORD, HOME)
    assert Accounts(vault).authenticate("bob", PASSWORD, address=AWAY).username == "bob"


def test_unknown_names_are_never_stored(vault: Vault, clock: Clock) -> None:
    Accounts(vault).add_user("alice", PASSWORD, "rep")
    typed = ["hunter2-is-my-password", "Summer 2026!", "alicee"]
    for name in typed:
        with pytest.raises(NotAuthorized):
            Accounts(vault).authenticate(name, PASSWORD, address=HOME)
    wrong(vault, "alice", address=HOME)
    failed = vault.audit_entries(action="auth.failed")
    assert [e.details for e in failed[:3]] == [
        {"reason": "unknown-user", "method": "password", "address": HOME}
    ] * 3
    assert all(e.actor == f"remote:{HOME}" for e in failed)
    assert failed[3].details["username"] == "alice"
    dump = json.dumps([e.to_dict() for e in vault.audit_entries()])
    assert not any(name.lower() in dump.lower() for name in typed)
    user_id = Accounts(vault).get_user("alice").id
    assert throttle_keys(vault) == [f"addr:{HOME}", f"user:{user_id}"]


def test_throttling_outlives_the_vault(config: Config, clock: Clock) -> None:
    with Vault.open(config) as first:
        Accounts(first).add_user("alice", PASSWORD, "rep")
        for _ in range(5):
            wrong(first, address=AWAY)
    # Another process, or the same one restarted, meets the same counts.
    with Vault.open(config) as second:
        assert refused_for(second, "alice", PASSWORD, HOME) == 1


def test_policy_from_config(config: Config) -> None:
    policy = ThrottlePolicy.of(config)
    assert (policy.account_after, policy.address_after, policy.lock_after) == (5, 20, 20)
    assert policy.backoff(4, 5) == 0 and policy.backoff(5, 5) == 1.0
    assert policy.backoff(10_000, 5) == 900.0  # no overflow, capped


def test_lock_can_be_switched_off(config: Config, clock: Clock) -> None:
    unlockable = dataclasses.replace(config, login_lock_after=0)
    with Vault.open(unlockable) as vault:
        Accounts(vault).add_user("alice", PASSWORD, "rep")
        for _ in range(40):
            wrong(vault, address=None)  # this process's own user: counted per account
            clock.advance(900)
        assert not Accounts(vault).get_user("alice").locked
        assert Accounts(vault).authenticate("alice", PASSWORD).username == "alice"


@dataclasses.dataclass
class Gate:
    """Password checks that wait for `release`; `inside` counts those that began."""

    release: threading.Event = dataclasses.field(default_factory=threading.Event)
    inside: list[int] = dataclasses.field(default_factory=list)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.inside) < count:
            assert time.monotonic() < deadline, f"{len(self.inside)} of {count} checks began"
            time.sleep(0.005)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    found = Gate()

    class Held(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            found.inside.append(1)
            found.release.wait(30)
            return super().verify(hash, password)

    monkeypatch.setattr(users_module, "_hasher", Held())
    yield found
    found.release.set()


def test_password_checks_beyond_the_limit_are_refused_at_once(vault: Vault, gate: Gate) -> None:
    Accounts(vault).add_user("alice", PASSWORD, "rep")
    limit = vault.config.login_concurrency
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        try:
            Accounts(vault).authenticate(f"nobody{n}", WRONG, address=f"192.0.2.{n}")
        except NotAuthorized:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(limit)]
    for thread in threads:
        thread.start()
    gate.wait_for(limit)
    # The limit's checks are running (held): one more is answered without waiting, and
    # without a hash of its own.
    started = time.monotonic()
    with pytest.raises(Overloaded) as err:
        Accounts(vault).authenticate("alice", PASSWORD, address=AWAY)
    assert time.monotonic() - started < 5  # a hash here would wait for the release (30 s)
    assert err.value.retry_after == 1
    assert len(gate.inside) == limit
    gate.release.set()
    for thread in threads:
        thread.join(30)
    assert outcomes == ["refused"] * limit
    assert Accounts(vault).authenticate("alice", PASSWORD, address=AWAY).username == "alice"


def test_migration_0015_down_and_up_keeps_users(vault: Vault, engine: Engine) -> None:
    Accounts(vault).add_user("alice", PASSWORD, "rep")
    wrong(vault, address=HOME)
    vault.close()
    cfg = _alembic_config()
    with engine.execution_options(callvault_write=True).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0014")
    with engine.connect() as conn:
        assert "login_throttle" not in inspect(conn).get_table_names()
        assert "locked_at" not in {c["name"] for c in inspect(conn).get_columns("users")}
        assert conn.execute(text("SELECT username FROM users")).scalars().all() == ["alice"]
    with engine.execution_options(callvault_write=True).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with Vault.open(vault.config) as reopened:
        assert Accounts(reopened).authenticate("alice", PASSWORD, address=HOME).locked_at is None
