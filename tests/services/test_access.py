"""The RBAC decisions: the full matrix of roles, actions and calls, and token scopes."""

from __future__ import annotations

import pytest

from callvault.accounts import SCOPES
from callvault.config import ROLES
from callvault.errors import NotAuthorized, NotFound
from callvault.services.access import (
    ACTION_SCOPES,
    ACTIONS,
    CallScope,
    Principal,
    call_filter,
    can,
    require,
)

# Per action, per role (admin, compliance, manager, rep, auditor), what the role may do:
# A everywhere; T its own and its team's calls (others 404); O its own calls (team's and
# others' 404); X never (403). Written out by hand: it is the specification.
MATRIX: dict[str, tuple[str, str, str, str, str]] = {
    "calls.list": ("A", "A", "T", "O", "A"),
    "calls.read": ("A", "A", "T", "O", "A"),
    "calls.transcript": ("A", "A", "T", "O", "X"),
    "calls.insights": ("A", "A", "T", "O", "X"),
    "calls.audio": ("A", "A", "T", "O", "X"),
    "calls.original": ("X", "A", "X", "X", "X"),
    "calls.correct": ("A", "X", "T", "O", "X"),
    "calls.upload": ("A", "X", "T", "O", "X"),
    "calls.erase": ("A", "A", "X", "X", "X"),
    # Not call-scoped: a manager's and a rep's searches are narrowed by call_filter.
    "search": ("A", "A", "A", "A", "X"),
    "consent.read": ("A", "A", "X", "X", "X"),
    "consent.write": ("A", "A", "X", "X", "X"),
    "rights.read": ("A", "A", "X", "X", "X"),
    "rights.write": ("A", "A", "X", "X", "X"),
    "retention.read": ("A", "A", "X", "X", "X"),
    "retention.write": ("A", "A", "X", "X", "X"),
    "holds.read": ("A", "A", "X", "X", "X"),
    "holds.write": ("A", "A", "X", "X", "X"),
    "refusals.read": ("X", "A", "X", "X", "X"),
    "refusals.write": ("X", "A", "X", "X", "X"),
    "audit.read": ("A", "A", "X", "X", "A"),
    "users.read": ("A", "X", "X", "X", "X"),
    "users.write": ("A", "X", "X", "X", "X"),
    "policy.read": ("A", "A", "X", "X", "X"),
    "policy.write": ("A", "X", "X", "X", "X"),
    "jobs.read": ("A", "X", "X", "X", "X"),
    "contacts.write": ("A", "X", "X", "X", "X"),
    # The live board (issue 20): read like a call's transcript; a rep does not clear
    # the alerts of their own call.
    "live.read": ("A", "A", "T", "O", "X"),
    "live.ack": ("A", "A", "T", "X", "X"),
    # Team views (issue 22): not call-scoped; services.team narrows persons by reach.
    "team.read": ("A", "A", "A", "A", "X"),
    "training.export": ("A", "A", "X", "X", "X"),
    # Outcomes and their prediction (issue 22): a manager's are narrowed to their team.
    "outcomes.write": ("A", "X", "T", "X", "X"),
    "predict": ("A", "X", "A", "X", "X"),
}
CALLS = ("own", "team", "other")
EXPECTED = {
    "A": {"own": "allow", "team": "allow", "other": "allow"},
    "T": {"own": "allow", "team": "allow", "other": "404"},
    "O": {"own": "allow", "team": "404", "other": "404"},
    "X": {"own": "403", "team": "403", "other": "403"},
}
CASES = [
    (role, action, where, EXPECTED[MATRIX[action][ROLES.index(role)]][where])
    for action in MATRIX
    for role in ROLES
    for where in CALLS
]


def principal(role: str, scopes: frozenset[str] | None = None) -> Principal:
    return Principal(f"{role}1", role, "emea", scopes)


def call_of(who: Principal, where: str) -> CallScope:
    if where == "own":
        return CallScope("c-own", who.username, who.team)
    if where == "team":
        return CallScope("c-team", "teammate", who.team)
    return CallScope("c-other", "stranger", "apac")


def outcome(who: Principal, action: str, call: CallScope | None) -> str:
    try:
        require(who, action, call)
    except NotFound as exc:
        assert (
            str(exc)
            == f"call {call and call.call_id} does not exist; `callvault list` shows the calls"
        )
        return "404"
    except NotAuthorized:
        return "403"
    return "allow"


def test_matrix_covers_every_action_and_role() -> None:
    assert set(MATRIX) == set(ACTIONS)
    assert set(ACTION_SCOPES.values()) <= set(SCOPES)
    assert ROLES == ("admin", "compliance", "manager", "rep", "auditor")


@pytest.mark.parametrize(("role", "action", "where", "expected"), CASES)
def test_matrix(role: str, action: str, where: str, expected: str) -> None:
    who = principal(role)
    call = call_of(who, where)
    assert outcome(who, action, call) == expected
    assert can(who, action, call) is (expected == "allow")
    # Without a call: whether the role may take the action on some call.
    assert can(who, action) is (MATRIX[action][ROLES.index(role)] != "X")


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_token_scopes(role: str, action: str) -> None:
    needed = ACTION_SCOPES[action]
    session = principal(role)
    only = principal(role, frozenset({needed}))
    lacking = principal(role, frozenset(SCOPES) - {needed})
    for where in CALLS:
        call = call_of(session, where)
        assert outcome(only, action, call) == outcome(session, action, call)
        assert not can(lacking, action, call)
        assert outcome(lacking, action, call) == "403"  # before the call is looked at
    if can(session, action):
        with pytest.raises(NotAuthorized) as err:
            require(lacking, action)
        assert str(err.value) == f"the API token lacks the scope {needed!r} that {action} needs"


def test_scope_of_each_action() -> None:
    assert ACTION_SCOPES["calls.audio"] == "audio:read"
    assert ACTION_SCOPES["calls.original"] == "compliance"
    assert ACTION_SCOPES["calls.correct"] == "calls:write"
    assert ACTION_SCOPES["search"] == "search"
    assert ACTION_SCOPES["users.write"] == "admin"


def test_fails_closed() -> None:
    root = principal("admin")
    assert not can(root, "calls.delete_everything")
    with pytest.raises(NotAuthorized, match="^unknown action 'calls.nope': refused$"):
        require(root, "calls.nope")
    ghost = Principal("ghost", "superuser")
    for action in ACTIONS:
        assert not can(ghost, action)
    with pytest.raises(NotAuthorized, match="^unknown role 'superuser': refused$"):
        require(ghost, "calls.read")
    with pytest.raises(NotAuthorized, match="^unknown role 'superuser': refused$"):
        call_filter(ghost)
    with pytest.raises(NotAuthorized, match="^the rep role may not calls.original$"):
        require(principal("rep"), "calls.original")
    assert not can(principal("admin", frozenset()), "calls.read")


def test_call_without_agent_is_nobodys() -> None:
    call = CallScope("c1", None, None)
    rep = Principal("alice", "rep", None)
    manager_without_team = Principal("bob", "manager", None)
    assert not can(rep, "calls.read", call)
    assert not can(manager_without_team, "calls.read", call)
    assert can(principal("auditor"), "calls.read", call)


def test_call_filter() -> None:
    assert call_filter(Principal("alice", "rep", "emea")) == ("alice", None)
    assert call_filter(Principal("bob", "manager", "emea")) == (None, "emea")
    for role in ("admin", "compliance", "auditor"):
        assert call_filter(principal(role)) == (None, None)
    with pytest.raises(NotAuthorized, match="^manager bob has no team and sees no calls"):
        call_filter(Principal("bob", "manager", None))
