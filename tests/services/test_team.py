"""The team dashboard (issue 22): persons' figures only within the viewer's reach,
groups of fewer than k agents suppressed, noise with a stated epsilon, restricted calls
left out, one audit event per dashboard."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from _context import as_context
from _teamdata import add_user, insights_doc, plain_utterances, store_analysed, store_call
from callvault.errors import InputError, NotAuthorized
from callvault.services import team_dashboard
from callvault.services.access import Principal
from callvault.vault import Vault

# Team east: alice, bob, dan (manager mona); team west: carol. Four agents in all.
AGENTS = {"alice": "east", "bob": "east", "dan": "east", "carol": "west"}
SHARE = {"alice": 0.4, "bob": 0.5, "dan": 0.6, "carol": 0.8}


@pytest.fixture
def world(vault: Vault) -> Vault:
    add_user(vault, "mona", "manager", "east")
    add_user(vault, "wes", "manager", "west")
    add_user(vault, "cora", "compliance", None)
    add_user(vault, "otto", "auditor", None)
    seed = 0
    for agent, team in AGENTS.items():
        add_user(vault, agent, "rep", team)
        for n in range(2):
            seed += 1
            call_id = store_call(
                vault, agent, seed, started_at=f"2026-03-0{2 + 7 * n % 9}T09:30:00Z"
            )
            doc = insights_doc(
                agent,
                agent_share=SHARE[agent],
                patience=1.0 + n,
                objections=2,
                answered=n == 0,  # one of the two calls answers its objections
                sentiment=-0.5 + n,
                trackers=("greeting",) if n == 0 else (),
            )
            store_analysed(vault, call_id, plain_utterances(agent), doc)
    return vault


def view(vault: Vault, who: str, role: str, home: str | None, **kw: object):  # type: ignore[no-untyped-def]
    ctx = as_context(vault).acting_as(Principal(who, role, home))
    return team_dashboard(ctx, **kw)  # type: ignore[arg-type]


def test_manager_sees_own_teams_persons_and_only_large_enough_groups(world: Vault) -> None:
    board = view(world, "mona", "manager", "east", k=5)
    assert [p.name for p in board.persons] == ["alice", "bob", "dan"]  # never carol
    alice = board.persons[0]
    assert alice.visible and alice.calls.value == 2 and alice.calls.mechanism == "exact"
    assert alice.talk_ratio.value == pytest.approx(0.4)
    assert alice.patience.value == pytest.approx(1.5)
    assert alice.objections.value == 4
    assert alice.objections_handled.value == pytest.approx(0.5)
    assert [t.tracker for t in alice.trackers] == ["greeting", "objection.price"]
    assert alice.trackers[0].rate.value == pytest.approx(0.5)
    assert [(p.week, p.sentiment.value) for p in alice.sentiment] == [
        ("2026-03-02", pytest.approx(-0.5)),
        ("2026-03-09", pytest.approx(0.5)),
    ]
    groups = {g.name: g for g in board.groups}
    # Her own team: every call within her reach, shown exact whatever k.
    assert groups["east"].visible and groups["east"].calls.value == 6
    assert groups["east"].talk_ratio.value == pytest.approx(0.5)
    # The organisation has 4 agents, one of them out of her reach: suppressed at k=5.
    org = groups["organisation"]
    assert org.suppressed == "fewer than 5 agents: suppressed (k-anonymity, k=5)"
    assert org.calls.value is None and org.talk_ratio.value is None
    assert groups["west"].suppressed is not None
    assert board.epsilon is None and board.epsilon_spent == 0.0


def test_organisation_of_four_agents_is_shown_at_k_three(world: Vault) -> None:
    board = view(world, "mona", "manager", "east", k=3)
    groups = {g.name: g for g in board.groups}
    org = groups["organisation"]
    assert org.suppressed is None and not org.visible
    assert org.calls.value == 8 and org.calls.mechanism == "exact"
    assert org.talk_ratio.value == pytest.approx((0.4 + 0.5 + 0.6 + 0.8) / 4)
    assert groups["west"].suppressed is not None  # one agent: still suppressed


def test_rep_sees_only_their_own_figures(world: Vault) -> None:
    board = view(world, "carol", "rep", "west", k=3)
    assert [p.name for p in board.persons] == ["carol"]
    groups = {g.name: g for g in board.groups}
    assert groups["west"].visible  # all of west's calls are hers
    assert groups["east"].suppressed is None and not groups["east"].visible  # 3 agents
    assert view(world, "carol", "rep", "west", k=5).groups[0].suppressed is not None


def test_admin_sees_everyone_exact(world: Vault) -> None:
    board = team_dashboard(as_context(world), k=50)  # the operator, admin by default
    assert [p.name for p in board.persons] == ["alice", "bob", "carol", "dan"]
    assert all(g.visible and g.suppressed is None for g in board.groups)
    assert board.calls == 8


def test_epsilon_is_stated_and_noise_is_applied(world: Vault) -> None:
    rng = np.random.default_rng(2026)
    boards = [view(world, "mona", "manager", "east", k=3, epsilon=0.5, rng=rng) for _ in range(20)]
    orgs = [next(g for g in b.groups if g.name == "organisation") for b in boards]
    assert all(o.calls.mechanism == "geometric" and o.calls.epsilon == 0.5 for o in orgs)
    assert orgs[0].talk_ratio.mechanism == "laplace" and orgs[0].talk_ratio.bounds == (0.0, 1.0)
    assert len({o.calls.value for o in orgs}) > 1  # the count moves from draw to draw
    # The exact count is 8; the noisy ones scatter around it.
    assert abs(np.mean([o.calls.value for o in orgs]) - 8) < 3
    # Per group: count, talk, patience, objections, handled, 2 weeks, 2 trackers = 9 x 0.5.
    assert orgs[0].epsilon == pytest.approx(9 * 0.5)
    board = boards[0]
    assert board.epsilon == 0.5
    # Only the organisation is noised: east is hers (exact), west is suppressed.
    assert board.epsilon_spent == pytest.approx(4.5)
    shown = board.to_json()
    assert shown["epsilon_spent"] == pytest.approx(4.5)
    assert shown["privacy_unit"] == "one call"
    # Her own people stay exact under an epsilon.
    assert board.persons[0].calls.mechanism == "exact"


def test_settings_give_k_and_epsilon(world: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    ctx = as_context(world)
    ctx = replace(ctx, config=replace(ctx.config, team_min_group=3, team_epsilon=2.0))
    board = team_dashboard(ctx.acting_as(Principal("mona", "manager", "east")))
    assert (board.k, board.epsilon) == (3, 2.0)
    assert {g.name: g.calls.mechanism for g in board.groups}["organisation"] == "geometric"


def test_restricted_calls_are_left_out_and_the_read_is_audited(world: Vault) -> None:
    extra = store_call(world, "alice", 99, caller="+14155550199")
    store_analysed(world, extra, plain_utterances("alice"), insights_doc("alice"))
    world.restrictions.restrict("+14155550199", "accuracy contested")
    board = team_dashboard(as_context(world), k=1)
    assert board.calls == 8 and board.skipped["restricted"] == 1
    entries = [e for e in world.audit_entries() if e.action == "team.dashboard"]
    assert len(entries) == 1
    details = entries[0].details
    assert details["calls"] == 8 and details["skipped"]["restricted"] == 1
    assert "alice" not in str(details)  # counts only, no names


def test_period_naive_times_taken_as_utc(world: Vault) -> None:
    board = team_dashboard(
        as_context(world), k=1, since=datetime(2026, 3, 1), until=datetime(2026, 3, 5, tzinfo=UTC)
    )
    assert board.calls == 4  # the first week's call of each agent
    with pytest.raises(InputError, match="is after --until"):
        team_dashboard(as_context(world), since=datetime(2026, 3, 9), until=datetime(2026, 3, 1))


def test_refusals(world: Vault) -> None:
    with pytest.raises(NotAuthorized, match="the auditor role may not team.read"):
        view(world, "otto", "auditor", None)
    with pytest.raises(InputError, match=r"epsilon=0.0 is not valid"):
        view(world, "mona", "manager", "east", epsilon=0.0)
    with pytest.raises(InputError, match=r"k=0 is not valid"):
        view(world, "mona", "manager", "east", k=0)
    with pytest.raises(InputError, match="team 'north' has no members"):
        view(world, "mona", "manager", "east", team="north")
