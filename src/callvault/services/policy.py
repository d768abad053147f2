"""Use case: ask the policy whether and how a call may be recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from callvault.config import Config
from callvault.errors import InputError
from callvault.policy import (
    Decision,
    NoticeOptions,
    RuleSet,
    decide,
    load_jurisdiction_table,
    load_rules,
    parse_rules,
)

__all__ = ["check_policy", "rules_of"]

# Without a rules file: record what no deny-list excludes (emergency numbers, and the
# categories hr, medical and personal); the jurisdictions' consent rules still apply.
_DEFAULT_RULES = {"default": "record"}


def rules_of(config: Config) -> RuleSet:
    """The recording rules of `config`: its file, or the built-in default."""
    if config.policy_rules is None:
        return parse_rules(_DEFAULT_RULES, source="built-in rules")
    return load_rules(config.policy_rules)


def check_policy(
    config: Config,
    participants: Sequence[str],
    *,
    direction: str | None = None,
    team: str | None = None,
    group: str | None = None,
    category: str | None = None,
    at: datetime | None = None,
    language: str | None = None,
    organisation: str | None = None,
) -> Decision:
    """The policy's decision for a call with `participants` (E.164 numbers).

    The one use case that takes the configuration, not a `Context`: it reads only the
    rules and the jurisdiction table, and a context would make `callvault policy check`
    open (on first use: create and migrate) the storage for a question that stores and
    audits nothing. The API passes its context's `config`."""
    name = organisation or config.organisation
    if not name:
        raise InputError(
            "the organisation is not set; set CALLVAULT_ORGANISATION or pass --organisation "
            "(notices name the data controller)"
        )
    return decide(
        participants,
        direction=direction,
        team=team,
        group=group,
        category=category,
        at=at or datetime.now(UTC),
        rules=rules_of(config),
        table=load_jurisdiction_table(config.policy_jurisdictions),
        language=language,
        organisation=name,
        notice_options=NoticeOptions(contact=config.privacy_contact),
    )
