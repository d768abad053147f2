"""What every insight stage shares: the facts of the call it reads, and the stamp of the
stage that produced a result.

Every stage takes a `Transcript` and `CallFacts` and returns its own frozen records. Each
result carries a `confidence` (0..1) and `utterances`: the indices, in
`Transcript.utterances`, of the utterances it came from, so a reader can always go back
to what was said. `to_json()` gives the documented `show --json` shape (docs/json.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AGENT", "CUSTOMER", "CallFacts", "StageStamp"]

AGENT = "agent"
CUSTOMER = "customer"


@dataclass(frozen=True)
class CallFacts:
    """What an insight stage may know of the call besides its transcript.

    `roles` maps a transcript speaker label to a role: "agent", "customer", or a
    network role ("caller", "callee") or "speaker" when nothing more is known. A stage
    that needs an agent or a customer and finds none says so with a lower confidence; it
    never guesses a role from the text.
    `duration` is the recording's length in seconds; `started_at` is aware (UTC) or None.
    """

    duration: float
    language: str | None = None
    started_at: datetime | None = None
    roles: Mapping[str, str] = field(default_factory=dict)

    def role_of(self, speaker: str) -> str:
        return self.roles.get(speaker, "speaker")


@dataclass(frozen=True)
class StageStamp:
    """Which stage made a result: its name, version and the parameters it ran with.

    Bump `version` when a change alters results on the same input, so a stored result
    says which rules produced it.
    """

    name: str
    version: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "params": dict(self.params)}
