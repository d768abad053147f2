"""Every endpoint of the API × every role × (where the path names a call or a job) the
call of the rep herself, of her teammate, and of another team: the status class each
combination answers, on both databases.

The table below is written by hand from the access table of `services.access`; it is
not computed from the code it checks. An endpoint added to the app without a row here
fails `test_every_endpoint_is_in_the_table`, so none slips through unchecked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from _audio import tone, wav_bytes
from _outcome_model import store_synthetic_model
from _scripted_asr import CARD_CALL, EMAIL_CALL, ScriptedPipeline
from _stored import PASSWORD, add_people, agent_call
from callvault.accounts import Accounts
from callvault.analysis.live import Alert, LiveEvent
from callvault.api import create_app
from callvault.config import Config
from callvault.contacts import ContactInput, Contacts
from callvault.services import (
    PROCESS_TASK,
    Context,
    LiveBoard,
    browser_monitor,
    open_queue,
    process_call,
)
from callvault.services.access import Principal
from callvault.vault import Vault

PREFIX = "/api/v1"
ALL_SCOPES = [
    "calls:read",
    "calls:write",
    "audio:read",
    "search",
    "compliance",
    "admin",
    "outcomes:write",
]
# One user per role: the rep is alice (team east, with bob); carol is a rep of west.
ROLES = {
    "admin": "root",
    "compliance": "cora",
    "manager": "mona",
    "rep": "alice",
    "auditor": "otto",
}
AGENTS = ("alice", "bob", "carol")


@dataclasses.dataclass
class World:
    client: TestClient
    vault: Vault
    config: Config
    calls: dict[str, str]  # agent -> call id
    tokens: dict[str, str]  # username -> bearer secret
    jobs: dict[str, str] = dataclasses.field(default_factory=dict)  # agent -> job id
    originals: dict[str, str] = dataclasses.field(default_factory=dict)  # agent -> call id
    live: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)  # -> (call, alert)
    serial: Iterator[int] = dataclasses.field(default_factory=itertools.count)
    requester: str = "alice"  # who makes the request being prepared

    def bearer(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def new_call(self, agent: str) -> str:
        return agent_call(self.vault, agent, 100 + next(self.serial))


def build_world(config: Config, vault: Vault, *, process: tuple[str, ...] = AGENTS) -> World:
    """Users of every role with all-scope tokens, a call of alice, bob and carol (those
    in `process` transcribed by a scripted pipeline), no client yet."""
    config = dataclasses.replace(config, workers=1)
    tokens = add_people(vault, ALL_SCOPES)
    calls = {agent: agent_call(vault, agent, seed) for seed, agent in enumerate(AGENTS)}
    for agent in process:
        process_call(Context(config, vault), calls[agent], pipeline=ScriptedPipeline(CARD_CALL))
    return World(None, vault, config, calls, tokens)  # type: ignore[arg-type]


@contextlib.contextmanager
def serving(world: World, base_url: str = "http://127.0.0.1") -> Iterator[World]:
    """`world` with a test client of an app over its vault, for the block's duration."""
    with TestClient(create_app(world.config, vault=world.vault), base_url=base_url) as client:
        world.client = client
        yield world


@pytest.fixture
def world(config: Config, vault: Vault) -> Iterator[World]:
    built = build_world(config, vault)
    queue = open_queue(built.config, vault)
    for agent, call_id in built.calls.items():
        # A finished job of each call, so that its event stream ends at once.
        job = queue.enqueue(PROCESS_TASK, {"call_id": call_id})
        built.jobs[agent] = queue.cancel(job.id).id
    with serving(built):
        yield built


# -- the table ---------------------------------------------------------------------------

# Expected answer per role, in the order admin compliance manager rep auditor:
#   "yes": 2xx; "-": 403; for a call (or a call's job) "all": 2xx, "team": 2xx for the
#   calls of team east (alice, bob) and 404 for carol's, "own": 2xx for alice's only.
Request = dict[str, Any]
Prepare = Callable[[World, str], Request]


@dataclasses.dataclass(frozen=True)
class Row:
    expect: str
    prepare: Prepare
    on_object: bool = False  # the path names a call or a job: try alice's, bob's, carol's


def _call_path(template: str, *, fresh: bool = False) -> Prepare:
    def prepare(world: World, agent: str) -> Request:
        call_id = world.new_call(agent) if fresh else world.calls[agent]
        return {"url": template.format(call_id=call_id)}

    return prepare


def _plain(**request: Any) -> Prepare:
    return lambda world, agent: dict(request)


def _with(make: Callable[[World, str], Request]) -> Prepare:
    return make


def _upload(world: World, agent: str) -> Request:
    data = wav_bytes(tone(3.0, 16000, 2, seed=7), 16000)
    form = {"caller": "+14155550100", "callee": "+442071838750", "consent": "pre-call-notice"}
    return {"data": form, "files": {"file": ("new.wav", data, "audio/wav")}}


def _correction(world: World, agent: str) -> Request:
    due = f"2026-04-{next(world.serial) % 28 + 1:02d}"  # a new value: a correction changes
    body = {"section": "actions", "index": 0, "field": "due", "value": due, "reason": "r"}
    return {"url": f"/calls/{world.calls[agent]}/corrections", "json": body}


def _override(world: World, agent: str) -> Request:
    score = next(world.serial) % 5 + 1  # a new value for each success on one call
    body = {"question": "acknowledged", "score": score, "reason": "r"}
    return {"url": f"/calls/{world.calls[agent]}/scorecard/overrides", "json": body}


def _action(world: World, agent: str) -> Request:
    body = {"utterance": 2, "owner": "alice", "text": "call back", "reason": "missed"}
    return {"url": f"/calls/{world.calls[agent]}/actions", "json": body}


def _erase(world: World, agent: str) -> Request:
    call_id = world.new_call(agent)
    return {"url": f"/calls/{call_id}", "params": {"confirm": "true", "reason": "test"}}


def _lift(world: World, agent: str) -> Request:
    restriction = world.vault.restrictions.restrict("+15550001111", "test")
    return {"json": {"restriction_id": restriction.id, "reason": "lifted"}}


def _release(world: World, agent: str) -> Request:
    hold = world.vault.holds.add_hold(world.calls["alice"], reason="test")
    return {"url": f"/holds/{hold.id}/release", "json": {"reason": "released"}}


def _new_user(world: World, agent: str) -> Request:
    name = f"user{next(world.serial)}"
    return {"json": {"username": name, "password": PASSWORD, "role": "rep", "team": "east"}}


def _patch_user(world: World, agent: str) -> Request:
    name = f"user{next(world.serial)}"
    Accounts(world.vault).add_user(name, PASSWORD, "rep", team="east")
    return {"url": f"/users/{name}", "json": {"team": "west"}}


def _revoke(world: World, agent: str) -> Request:
    token, _ = Accounts(world.vault).create_token(
        "bob", f"t{next(world.serial)}", ["calls:read"], 1
    )
    return {"url": f"/tokens/{token.id}"}


def _contact(world: World, agent: str) -> Request:
    Contacts(world.vault).import_rows([ContactInput(name="Jane Roe", phone="+14155550100")])
    (contact,) = Contacts(world.vault).find(query="Jane")
    return {"url": f"/contacts/{contact.id}"}


def _with_model(template: str, on_call: bool) -> Prepare:
    """A request that needs a trained outcome model (issue 22): one is stored first."""

    def prepare(world: World, agent: str) -> Request:
        if world.vault.outcomes.load_model() is None:
            store_synthetic_model(world.vault)
        return {"url": template.format(call_id=world.calls[agent]) if on_call else template}

    return prepare


def _original(world: World, agent: str) -> Request:
    """A call of `agent` redacted with its original kept (made once per agent)."""
    if agent not in world.originals:
        call_id = world.new_call(agent)
        keep = dataclasses.replace(world.config, redaction_keep_original="unless-payment")
        process_call(Context(keep, world.vault), call_id, pipeline=ScriptedPipeline(EMAIL_CALL))
        world.originals[agent] = call_id
    return {"url": f"/calls/{world.originals[agent]}/original", "params": {"reason": "dispute"}}


def _refusal(action: str) -> Prepare:
    """A flagged spoken refusal on a new call of `agent` (issue 20), and `action` on it."""

    def prepare(world: World, agent: str) -> Request:
        detection = world.vault.refusals.record_detection(
            world.new_call(agent),
            channel=1,
            position=1,
            start=2.0,
            end=3.0,
            confidence=0.9,
            phrase="en-not-want-recorded",
            language="en",
            words="I do not want to be recorded",
            decision="flag",
            status="flagged",
        )
        url = f"/refusals/{detection.id}" + (f"/{action}" if action else "")
        return {"url": url, **({"json": {"reason": "review"}} if action else {})}

    return prepare


def _live(world: World, agent: str) -> tuple[str, str]:
    """A call of `agent` on the live board with one alert (made once per agent)."""
    if agent not in world.live:
        board = LiveBoard(Context(world.config, world.vault))
        live_id = board.open_call(source="test", roles={0: "agent"}, agent=agent)
        fired = Alert("competitor", "phrase", 1, 2.0, 1.0, "acme", 0.9)
        board.publish(live_id, [LiveEvent("alert", 2.0, 1, None, "acme", alert=fired)])
        world.live[agent] = (live_id, world.vault.live.alerts(live_id)[0].id)
    return world.live[agent]


def _live_path(template: str) -> Prepare:
    return lambda world, agent: {"url": template.format(live_id=_live(world, agent)[0])}


def _ack(world: World, agent: str) -> Request:
    return {"url": f"/live/alerts/{_live(world, agent)[1]}/ack"}


def _browser(action: str) -> Prepare:
    """POST /live/browser (action ""), or `action` ("audio", "stop") on a live session of
    the in-browser recorder started by the requester (by alice for a role that never
    records: it is refused before the session is looked up)."""

    def prepare(world: World, agent: str) -> Request:
        monitor = browser_monitor.monitor_for(Context(world.config, world.vault))
        monitor.max_sessions = 100  # the table's sessions are many, and short
        if not action:
            return {}
        role = next(r for r, name in ROLES.items() if name == world.requester)
        owner = world.requester if role in ("admin", "manager", "rep") else "alice"
        user = Accounts(world.vault).get_user(owner)
        session = monitor.start(Principal(user.username, user.role, user.team)).session_id
        url = f"/live/browser/{session}/{action}"
        if action == "audio":
            return {
                "url": url,
                "params": {"seq": 0},
                "content": b"\x00\x01" * 4000,
                "headers_extra": {"Content-Type": "application/octet-stream"},
            }
        return {"url": url}

    return prepare


def _job(template: str) -> Prepare:
    return lambda world, agent: {"url": template.format(job_id=world.jobs[agent])}


GOVERNANCE = "yes yes - - -"
COMPLIANCE = "- yes - - -"
ADMIN = "yes - - - -"
SUBJECT = {"subject": "+15550002222"}

TABLE: dict[tuple[str, str], Row] = {
    ("POST", "/auth/login"): Row(
        "yes yes yes yes yes", _plain(json={"username": "bob", "password": PASSWORD})
    ),
    ("POST", "/auth/logout"): Row("yes yes yes yes yes", _plain()),
    ("GET", "/auth/me"): Row("yes yes yes yes yes", _plain()),
    ("GET", "/calls"): Row("yes yes yes yes yes", _plain()),
    ("POST", "/calls"): Row("yes - yes yes -", _upload),
    ("GET", "/calls/{call_id}"): Row("all all team own all", _call_path("/calls/{call_id}"), True),
    ("GET", "/calls/{call_id}/audio"): Row(
        "all all team own -", _call_path("/calls/{call_id}/audio"), True
    ),
    ("GET", "/calls/{call_id}/original"): Row("- all - - -", _original, True),
    ("POST", "/calls/{call_id}/corrections"): Row("all - team own -", _correction, True),
    ("GET", "/calls/{call_id}/corrections"): Row(
        "all all team own -", _call_path("/calls/{call_id}/corrections"), True
    ),
    ("POST", "/calls/{call_id}/actions"): Row("all - team own -", _action, True),
    ("GET", "/calls/{call_id}/scorecard"): Row(
        "all all team own -", _call_path("/calls/{call_id}/scorecard"), True
    ),
    ("POST", "/calls/{call_id}/scorecard/overrides"): Row("all - team own -", _override, True),
    ("DELETE", "/calls/{call_id}"): Row("all all - - -", _erase, True),
    ("GET", "/calls/{call_id}/consents"): Row(
        GOVERNANCE, _call_path("/calls/{call_id}/consents"), True
    ),
    ("POST", "/consents"): Row(
        GOVERNANCE,
        _plain(json={"participant": "+14155550100", "method": "verbal", "scopes": ["record"]}),
    ),
    ("POST", "/rights/find"): Row(GOVERNANCE, _plain(json=SUBJECT)),
    ("POST", "/rights/export"): Row(GOVERNANCE, _plain(json=SUBJECT)),
    ("POST", "/rights/erase"): Row(
        GOVERNANCE, _plain(json={**SUBJECT, "reason": "art. 17 request", "confirm": True})
    ),
    ("POST", "/rights/restrict"): Row(GOVERNANCE, _plain(json={**SUBJECT, "reason": "art. 18"})),
    ("POST", "/rights/lift"): Row(GOVERNANCE, _lift),
    ("GET", "/rights/restrictions"): Row(GOVERNANCE, _plain()),
    ("GET", "/retention/due"): Row(GOVERNANCE, _plain()),
    ("POST", "/retention/run"): Row(GOVERNANCE, _plain()),
    ("PUT", "/calls/{call_id}/retention"): Row(
        GOVERNANCE,
        lambda w, a: {
            "url": f"/calls/{w.calls[a]}/retention",
            "json": {"retention_class": "standard", "retain_until": None},
        },
        True,
    ),
    ("GET", "/holds"): Row(GOVERNANCE, _plain()),
    ("GET", "/refusals"): Row(COMPLIANCE, _plain()),
    ("GET", "/refusals/{detection_id}"): Row(COMPLIANCE, _refusal("")),
    ("POST", "/refusals/{detection_id}/reverse"): Row(COMPLIANCE, _refusal("reverse")),
    ("POST", "/refusals/{detection_id}/apply"): Row(COMPLIANCE, _refusal("apply")),
    ("POST", "/holds"): Row(
        GOVERNANCE, lambda w, a: {"json": {"call_id": w.calls["bob"], "reason": "litigation"}}
    ),
    ("POST", "/holds/{hold_id}/release"): Row(GOVERNANCE, _release),
    ("GET", "/audit"): Row("yes yes - - yes", _plain()),
    ("GET", "/audit/verify"): Row("yes yes - - yes", _plain()),
    ("GET", "/search"): Row("yes yes yes yes -", _plain(params={"q": "receipt"})),
    ("POST", "/ask"): Row("yes yes yes yes -", _plain(json={"question": "what receipt"})),
    ("GET", "/team"): Row("yes yes yes yes -", _plain()),
    ("GET", "/contacts"): Row("yes yes yes yes yes", _plain(params={"q": "Jane"})),
    ("GET", "/contacts/{contact_id}"): Row("yes yes yes yes yes", _contact),
    ("POST", "/contacts/import"): Row(
        ADMIN,
        _plain(files={"file": ("c.csv", b"name,phone\nJane Roe,+14155550100\n", "text/csv")}),
    ),
    ("POST", "/outcomes"): Row(
        "yes - yes - -", _plain(json={"deal": "D-1", "outcome": "open", "source": "crm"})
    ),
    ("GET", "/calls/{call_id}/prediction"): Row(
        "all - team - -", _with_model("/calls/{call_id}/prediction", True), True
    ),
    ("GET", "/predict/warnings"): Row("yes - yes - -", _with_model("/predict/warnings", False)),
    ("GET", "/jobs"): Row(ADMIN, _plain()),
    ("GET", "/jobs/{job_id}"): Row("all all team own all", _job("/jobs/{job_id}"), True),
    ("GET", "/jobs/{job_id}/events"): Row(
        "all all team own all", _job("/jobs/{job_id}/events"), True
    ),
    ("GET", "/live/calls"): Row("yes yes yes yes -", _plain()),
    ("GET", "/live/calls/{live_id}"): Row(
        "all all team own -", _live_path("/live/calls/{live_id}"), True
    ),
    ("GET", "/live/calls/{live_id}/events"): Row(
        "all all team own -", _live_path("/live/calls/{live_id}/events"), True
    ),
    ("POST", "/live/alerts/{alert_id}/ack"): Row("all all team - -", _ack, True),
    ("GET", "/live/stream"): Row("yes yes yes yes -", _plain(params={"max_s": 0.01})),
    ("POST", "/live/browser"): Row("yes - yes yes -", _browser("")),
    ("POST", "/live/browser/{session_id}/audio"): Row("yes - yes yes -", _browser("audio")),
    ("POST", "/live/browser/{session_id}/stop"): Row("yes - yes yes -", _browser("stop")),
    ("GET", "/users"): Row(ADMIN, _plain()),
    ("POST", "/users"): Row(ADMIN, _new_user),
    ("PATCH", "/users/{username}"): Row(ADMIN, _patch_user),
    ("POST", "/users/{username}/unlock"): Row(ADMIN, _plain(url="/users/bob/unlock")),
    ("POST", "/users/{username}/tokens"): Row(
        ADMIN, _plain(url="/users/bob/tokens", json={"name": "ci", "scopes": ["calls:read"]})
    ),
    ("DELETE", "/tokens/{token_id}"): Row(ADMIN, _revoke),
    ("POST", "/policy/check"): Row(
        GOVERNANCE,
        _plain(json={"participants": ["+14155550100"], "organisation": "Example Ltd"}),
    ),
}


def api_endpoints(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route under /api/v1. FastAPI 0.16x keeps included routers
    as branches of `app.routes`; `iter_route_contexts` walks them with their prefixes."""
    found = {
        (method, (context.path or "").removeprefix(PREFIX))
        for context in iter_route_contexts(app.routes)
        if (context.path or "").startswith(PREFIX + "/")
        for method in (context.methods or {"*"}) - {"HEAD"}
    }
    # The schema lists the same operations: a second view, so a change in how routes
    # are kept cannot empty the first one unnoticed.
    documented = {
        (method.upper(), path.removeprefix(PREFIX))
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(PREFIX + "/")
        for method in operations
    }
    assert documented <= found
    return found


def expected(token: str, agent: str | None) -> int:
    """The status class (2, 4xx exactly) of one cell."""
    if token == "-":
        return 403
    if token in ("yes", "all"):
        return 2
    if token == "team":
        return 2 if agent in ("alice", "bob") else 404
    if token == "own":
        return 2 if agent == "alice" else 404
    raise AssertionError(f"unknown cell {token!r}")


def test_every_endpoint_is_in_the_table(config: Config, vault: Vault) -> None:
    found = api_endpoints(create_app(config, vault=vault))
    assert found - set(TABLE) == set(), "endpoints without a row in the RBAC table"
    assert set(TABLE) - found == set(), "rows of endpoints the app does not have"


def test_each_role_gets_what_the_access_table_says(world: World) -> None:
    failures = []
    cells = 0
    for (method, template), row in TABLE.items():
        tokens = row.expect.split()
        assert len(tokens) == len(ROLES), template
        for (role, username), token in zip(ROLES.items(), tokens, strict=True):
            for agent in AGENTS if row.on_object else (None,):
                world.requester = username
                request = row.prepare(world, agent or "alice")
                url = PREFIX + request.pop("url", template)
                headers = {**world.bearer(username), **request.pop("headers_extra", {})}
                got = world.client.request(method, url, headers=headers, **request)
                want = expected(token, agent)
                status = got.status_code // 100 if want == 2 else got.status_code
                cells += 1
                if status != want:
                    failures.append(
                        f"{method} {template} as {role} on {agent}: {got.status_code} "
                        f"(want {want if want != 2 else '2xx'}) {got.text[:160]}"
                    )
    assert not failures, "\n".join(failures)
    assert cells == sum(
        len(ROLES) * (len(AGENTS) if row.on_object else 1) for row in TABLE.values()
    )
