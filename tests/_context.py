"""Calling a service (a `Context` first) with the vault a test opened, as the operator."""

from __future__ import annotations

from callvault.services import Context
from callvault.vault import Vault


def as_context(vault: Vault) -> Context:
    return Context(vault.config, vault)
