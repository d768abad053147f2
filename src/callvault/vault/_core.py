"""What the account and contact mixins of `Vault` (`_users.py`, `_login.py`,
`_contacts.py`) use of it, while they are still mixed in.

`VaultCore` declares those members once, for the type checker only: at run time it is an
empty base class and `Vault` provides them. The storage core's own parts are repositories
(`_repo.Repository`), not mixins; this goes once accounts and contacts have moved out.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from callvault.config import Config
    from callvault.vault._models import CallRow

__all__ = ["VaultCore"]


class VaultCore:
    """The members of `Vault` its remaining mixins use (declarations only)."""

    if TYPE_CHECKING:
        config: Config

        def _write(self) -> AbstractContextManager[Session]: ...

        def _read(self) -> AbstractContextManager[Session]: ...

        def _call_row(self, session: Session, call_id: str) -> CallRow: ...

        def _record(
            self,
            session: Session,
            action: str,
            object_type: str,
            object_id: str | None,
            *,
            actor: str | None = None,
            purpose: str | None = None,
            details: dict[str, Any] | None = None,
        ) -> None: ...
