"""Which calls a principal reaches: the access facts of one call and the agents whose
calls a rep or a manager may see (`access.call_filter`), read from the storage."""

from __future__ import annotations

from callvault.services._context import Context
from callvault.services.access import CallScope, Principal, call_filter, require
from callvault.services.accounts import agents_of_team, team_of

__all__ = ["agent_team", "call_scope", "reach_agents", "require_call"]


def agent_team(ctx: Context, agent: str | None) -> str | None:
    """The team of the user named `agent` (None: no agent, no such user, or no team)."""
    return team_of(ctx, agent) if agent else None


def reach_agents(ctx: Context, who: Principal, only: str | None = None) -> list[str] | None:
    """The agents whose calls `who` may see (a rep: themself; a manager: their team);
    None: every call. `only`: narrowed to that one agent (none when out of reach)."""
    agent, team = call_filter(who)
    if agent is not None:
        agents: list[str] | None = [agent]
    elif team is not None:
        agents = agents_of_team(ctx, team)
    else:
        agents = None
    if only is not None:
        return [only] if agents is None or only in agents else []
    return agents


def call_scope(ctx: Context, call_id: str) -> CallScope:
    """The access facts of a call (not audited: ids only). NotFound when it does not
    exist, with the message a call out of reach gets."""
    agent = ctx.vault.calls.call_agent(call_id)
    return CallScope(call_id, agent, agent_team(ctx, agent))


def require_call(ctx: Context, who: Principal, action: str, call_id: str) -> None:
    """Raise NotFound (out of reach: the call looks absent) or NotAuthorized."""
    require(who, action, call_scope(ctx, call_id))
