"""k-anonymity of group figures: a group of fewer than k distinct people is not shown.

A figure of a team of two is nearly the figure of each of its members; below k people
the group is suppressed and the reason says so (without its size, which would itself
tell how small the group is).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from callvault.errors import InputError

__all__ = ["Suppressed", "check_k", "suppress_small"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Suppressed:
    """A group left out, and why (never how many agents it has)."""

    group: str
    k: int

    @property
    def reason(self) -> str:
        return f"fewer than {self.k} agents: suppressed (k-anonymity, k={self.k})"

    def to_json(self) -> dict[str, object]:
        return {"group": self.group, "k": self.k, "reason": self.reason}


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k={k!r} is not valid: the minimum group size must be 1 or more")
    return k


def suppress_small(
    groups: Mapping[K, Collection[Hashable]], k: int
) -> tuple[dict[K, Collection[Hashable]], dict[K, Suppressed]]:
    """Split `groups` (group -> the people in it, each counted once) into those of at
    least `k` distinct people, kept, and the others, suppressed with a reason."""
    check_k(k)
    kept: dict[K, Collection[Hashable]] = {}
    suppressed: dict[K, Suppressed] = {}
    for name, members in groups.items():
        if len(set(members)) >= k:
            kept[name] = members
        else:
            suppressed[name] = Suppressed(str(name), k)
    return kept, suppressed
