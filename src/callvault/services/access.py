"""Who may do what: the role-based access decisions of the API, the web app and the CLI.

Pure functions, no I/O. A `Principal` is a user acting through a browser session
(`scopes` None: everything the role allows) or an API token (its scopes further restrict
the role). Call-scoped actions take a `CallScope`: the call's agent (a username) and the
agent's team, which the caller looks up (`Vault.team_of`).

Rules, failing closed (an unknown role or action is refused):

============================ =========== ===== ========== ======= ===== =======
action                       scope       admin compliance manager rep   auditor
============================ =========== ===== ========== ======= ===== =======
calls.list  (call-scoped)    calls:read  all   all        team    own   all
calls.read  (metadata)       calls:read  all   all        team    own   all
calls.transcript             calls:read  all   all        team    own   -
calls.insights               calls:read  all   all        team    own   -
calls.audio                  audio:read  all   all        team    own   -
calls.original               compliance  -     all        -       -     -
calls.correct                calls:write all   -          team    own   -
calls.upload (call-scoped)   calls:write all   -          team    own   -
calls.erase                  compliance  all   all        -       -     -
live.read   (call-scoped)    calls:read  all   all        team    own   -
live.ack    (call-scoped)    calls:write all   all        team    -     -
search                       search      yes   yes        team    own   -
consent.read / .write        compliance  yes   yes        -       -     -
rights.read / .write         compliance  yes   yes        -       -     -
retention.read / .write      compliance  yes   yes        -       -     -
holds.read / .write          compliance  yes   yes        -       -     -
audit.read                   compliance  yes   yes        -       -     yes
users.read / .write          admin       yes   -          -       -     -
policy.read                  admin       yes   yes        -       -     -
policy.write                 admin       yes   -          -       -     -
jobs.read                    admin       yes   -          -       -     -
contacts.write               admin       yes   -          -       -     -
team.read                    calls:read  yes   yes        team    own   -
training.export              compliance  yes   yes        -       -     -
outcomes.write               outcomes:w. all   -          team    -     -
predict                      calls:read  yes   -          yes     -     -
============================ =========== ===== ========== ======= ===== =======

"team.read" is the team dashboard (issue 22): persons' figures within the role's reach,
other figures only for groups of at least k agents (`services.team`); "training.export"
the de-identified training export.
"live.read" is the live board of calls in progress (words and alerts), scoped like the
stored calls; "live.ack" acknowledges one of its alerts (a rep never clears the alerts of
their own call).
"team": calls whose agent is in the manager's team; "own": calls whose agent is the rep
(an upload is in reach when the agent it names is).
A call outside the principal's reach looks absent: `require` raises NotFound (the same
message as for a call that does not exist) for an action the role may take on some
call, NotAuthorized for one the role, or the token's scopes, never allow. List and
search queries are narrowed with `call_filter`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from callvault.errors import NotAuthorized, NotFound

__all__ = [
    "ACTIONS",
    "ACTION_SCOPES",
    "OUTCOMES_WRITE",
    "PREDICT",
    "CALL_ACTIONS",
    "CallScope",
    "Principal",
    "call_filter",
    "can",
    "require",
]

CALLS_LIST = "calls.list"
CALLS_READ = "calls.read"
CALLS_TRANSCRIPT = "calls.transcript"
CALLS_INSIGHTS = "calls.insights"
CALLS_AUDIO = "calls.audio"
CALLS_ORIGINAL = "calls.original"
CALLS_CORRECT = "calls.correct"
CALLS_UPLOAD = "calls.upload"
CALLS_ERASE = "calls.erase"
SEARCH = "search"
CONSENT_READ = "consent.read"
CONSENT_WRITE = "consent.write"
RIGHTS_READ = "rights.read"
RIGHTS_WRITE = "rights.write"
RETENTION_READ = "retention.read"
RETENTION_WRITE = "retention.write"
HOLDS_READ = "holds.read"
HOLDS_WRITE = "holds.write"
AUDIT_READ = "audit.read"
USERS_READ = "users.read"
USERS_WRITE = "users.write"
POLICY_READ = "policy.read"
POLICY_WRITE = "policy.write"
JOBS_READ = "jobs.read"
CONTACTS_WRITE = "contacts.write"
REFUSALS_READ = "refusals.read"
REFUSALS_WRITE = "refusals.write"
LIVE_READ = "live.read"
LIVE_ACK = "live.ack"
TEAM_READ = "team.read"
TRAINING_EXPORT = "training.export"
OUTCOMES_WRITE = "outcomes.write"
PREDICT = "predict"

# The token scope each action needs (scopes: `callvault.accounts.SCOPES`).
ACTION_SCOPES: Mapping[str, str] = {
    CALLS_LIST: "calls:read",
    CALLS_READ: "calls:read",
    CALLS_TRANSCRIPT: "calls:read",
    CALLS_INSIGHTS: "calls:read",
    CALLS_AUDIO: "audio:read",
    CALLS_ORIGINAL: "compliance",
    CALLS_CORRECT: "calls:write",
    CALLS_UPLOAD: "calls:write",
    CALLS_ERASE: "compliance",
    SEARCH: "search",
    CONSENT_READ: "compliance",
    CONSENT_WRITE: "compliance",
    RIGHTS_READ: "compliance",
    RIGHTS_WRITE: "compliance",
    RETENTION_READ: "compliance",
    RETENTION_WRITE: "compliance",
    HOLDS_READ: "compliance",
    HOLDS_WRITE: "compliance",
    AUDIT_READ: "compliance",
    USERS_READ: "admin",
    USERS_WRITE: "admin",
    POLICY_READ: "admin",
    POLICY_WRITE: "admin",
    JOBS_READ: "admin",
    CONTACTS_WRITE: "admin",
    REFUSALS_READ: "compliance",
    REFUSALS_WRITE: "compliance",
    LIVE_READ: "calls:read",
    LIVE_ACK: "calls:write",
    TEAM_READ: "calls:read",
    TRAINING_EXPORT: "compliance",
    # Issue 22: a CRM's webhook token needs only "outcomes:write".
    OUTCOMES_WRITE: "outcomes:write",
    PREDICT: "calls:read",
}
ACTIONS = tuple(ACTION_SCOPES)

# Actions on one call: given a `CallScope`, the call must be within the principal's reach.
CALL_ACTIONS = frozenset(
    {
        CALLS_LIST,
        CALLS_READ,
        CALLS_TRANSCRIPT,
        CALLS_INSIGHTS,
        CALLS_AUDIO,
        CALLS_ORIGINAL,
        CALLS_CORRECT,
        CALLS_ERASE,
        CALLS_UPLOAD,  # the scope of the call being uploaded: its agent
        LIVE_READ,
        LIVE_ACK,
        OUTCOMES_WRITE,  # on a call: within reach; on a contact or a deal: any
    }
)

_GOVERNANCE = frozenset(
    {
        CONSENT_READ,
        CONSENT_WRITE,
        RIGHTS_READ,
        RIGHTS_WRITE,
        RETENTION_READ,
        RETENTION_WRITE,
        HOLDS_READ,
        HOLDS_WRITE,
        AUDIT_READ,
    }
)
_READ_CALLS = frozenset({CALLS_LIST, CALLS_READ, CALLS_TRANSCRIPT, CALLS_INSIGHTS, CALLS_AUDIO})

# What each role may do at all; how far over the calls is `_REACH`.
_ROLE_ACTIONS: Mapping[str, frozenset[str]] = {
    # Spoken refusals (issue 20): their words and their reversal are for compliance only.
    "admin": frozenset(ACTIONS) - {CALLS_ORIGINAL, REFUSALS_READ, REFUSALS_WRITE},
    "compliance": _READ_CALLS
    | _GOVERNANCE
    | {
        CALLS_ORIGINAL,
        CALLS_ERASE,
        SEARCH,
        POLICY_READ,
        REFUSALS_READ,
        REFUSALS_WRITE,
        LIVE_READ,
        LIVE_ACK,
        TEAM_READ,
        TRAINING_EXPORT,
    },
    "manager": _READ_CALLS
    | {
        CALLS_CORRECT,
        CALLS_UPLOAD,
        SEARCH,
        LIVE_READ,
        LIVE_ACK,
        TEAM_READ,
        OUTCOMES_WRITE,
        PREDICT,
    },
    "rep": _READ_CALLS | {CALLS_CORRECT, CALLS_UPLOAD, SEARCH, LIVE_READ, TEAM_READ},
    "auditor": frozenset({CALLS_LIST, CALLS_READ, AUDIT_READ}),
}
_REACH: Mapping[str, str] = {
    "admin": "all",
    "compliance": "all",
    "manager": "team",
    "rep": "own",
    "auditor": "all",
}


@dataclass(frozen=True)
class Principal:
    """Who is asking. `scopes` None: a browser session (the role's every permission);
    otherwise the scopes of the API token used."""

    username: str
    role: str
    team: str | None = None
    scopes: frozenset[str] | None = None


@dataclass(frozen=True)
class CallScope:
    """What access decisions need of a call: its agent (a username) and their team."""

    call_id: str
    agent: str | None
    agent_team: str | None


def _role_allows(principal: Principal, action: str) -> bool:
    return action in _ROLE_ACTIONS.get(principal.role, frozenset())


def _scope_allows(principal: Principal, action: str) -> bool:
    needed = ACTION_SCOPES.get(action)
    if needed is None:
        return False
    return principal.scopes is None or needed in principal.scopes


def _reaches(principal: Principal, call: CallScope) -> bool:
    reach = _REACH.get(principal.role)
    if reach == "all":
        return True
    if reach == "team":
        return principal.team is not None and call.agent_team == principal.team
    if reach == "own":
        return call.agent is not None and call.agent == principal.username
    return False


def can(principal: Principal, action: str, call: CallScope | None = None) -> bool:
    """Whether `principal` may take `action` (on `call`, for a call-scoped action; without
    a call: on some call)."""
    if not (_role_allows(principal, action) and _scope_allows(principal, action)):
        return False
    return call is None or action not in CALL_ACTIONS or _reaches(principal, call)


def require(principal: Principal, action: str, call: CallScope | None = None) -> None:
    """Return when `can(principal, action, call)`; raise NotAuthorized (HTTP 403) for an
    action the role or the token never allows, NotFound (404) for a call out of reach."""
    if action not in ACTION_SCOPES:
        raise NotAuthorized(f"unknown action {action!r}: refused")
    if principal.role not in _ROLE_ACTIONS:
        raise NotAuthorized(f"unknown role {principal.role!r}: refused")
    if not _role_allows(principal, action):
        raise NotAuthorized(f"the {principal.role} role may not {action}")
    if not _scope_allows(principal, action):
        raise NotAuthorized(
            f"the API token lacks the scope {ACTION_SCOPES[action]!r} that {action} needs"
        )
    if call is not None and action in CALL_ACTIONS and not _reaches(principal, call):
        # The message of a call that does not exist: out of reach must look the same.
        raise NotFound(f"call {call.call_id} does not exist; `callvault list` shows the calls")


def call_filter(principal: Principal) -> tuple[str | None, str | None]:
    """(agent, team) a list or search query must be restricted to: a rep's username, a
    manager's team, (None, None) for the roles that see every call. NotAuthorized for an
    unknown role or a manager without a team (they would otherwise see every call)."""
    reach = _REACH.get(principal.role)
    if reach == "all":
        return None, None
    if reach == "own":
        return principal.username, None
    if reach == "team":
        if principal.team is None:
            raise NotAuthorized(
                f"manager {principal.username} has no team and sees no calls; "
                "set one with `callvault users role`"
            )
        return None, principal.team
    raise NotAuthorized(f"unknown role {principal.role!r}: refused")
