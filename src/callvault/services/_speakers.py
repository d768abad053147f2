"""Who speaks on which channel, from the call's participants."""

from __future__ import annotations

from dataclasses import dataclass

from callvault.vault import CallRecord

__all__ = ["Speaker", "speakers_by_channel"]


@dataclass(frozen=True)
class Speaker:
    label: str  # what a transcript shows: the agent's name, "customer", a number, ...
    role: str  # what search filters on: agent, customer, caller, callee or speaker


def speakers_by_channel(call: CallRecord) -> dict[int, Speaker]:
    """One speaker per leg that carries a known participant; a mono leg maps to nobody.

    The agent is labelled by user name; when the call has an agent, the other parties
    are customers; otherwise a party is labelled by number, or by role when unknown.
    """
    parties = {p.id: p for p in call.participants}
    has_agent = any(p.is_agent for p in call.participants)
    speakers: dict[int, Speaker] = {}
    for leg in call.legs:
        party = parties.get(leg.participant_id or "")
        if party is None:
            continue
        if party.is_agent:
            speakers[leg.channel] = Speaker(party.name or "agent", "agent")
        elif has_agent:
            speakers[leg.channel] = Speaker("customer", "customer")
        else:
            speakers[leg.channel] = Speaker(party.phone or party.role, party.role)
    return speakers
