"""The one calling convention of the services: a `Context` first.

A context holds what every use case may need: the configuration, the storage core, the
job queue (when the caller has one) and who is acting. The CLI opens one for the
operator; the API and the web app derive one per request for the signed-in principal;
queued tasks run with the queue's worker identity. Services take it as their first
argument and the edges never reach past it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from callvault.services.access import Principal
from callvault.vault import Vault

if TYPE_CHECKING:
    from callvault.config import Config
    from callvault.jobs import Queue

__all__ = ["Context", "Storage", "open_context"]

# The storage core a context holds, by the name the edges may use in annotations (the
# test seam of `create_app`): the edges never import callvault.vault.
Storage = Vault


@dataclass(frozen=True)
class Context:
    """Config, storage, queue and the acting principal of one use case."""

    config: Config
    vault: Vault
    queue: Queue | None = None
    principal: Principal | None = None

    @property
    def actor(self) -> str:
        """The audit actor: the signed-in user, else the configured operator."""
        if self.principal is not None:
            return f"user:{self.principal.username}"
        return self.config.actor

    @property
    def who(self) -> Principal:
        """The signed-in user, else the command line's operator in `Config.role`."""
        if self.principal is not None:
            return self.principal
        return Principal(username=self.config.actor, role=self.config.role)

    def acting_as(self, principal: Principal | None) -> Context:
        """The same context for another principal (one per request)."""
        return replace(self, principal=principal)

    def with_queue(self, queue: Queue | None) -> Context:
        return replace(self, queue=queue)


@contextmanager
def open_context(config: Config) -> Iterator[Context]:
    """Open the storage for `config` (initialising it on first use) as the operator."""
    with Vault.open(config) as vault:
        yield Context(config=config, vault=vault)
