"""Retention classes: how long a recording is kept (`data/retention.toml`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from types import MappingProxyType

from callvault.errors import ConfigError
from callvault.policy._files import read_data

__all__ = ["DEFAULT_RETENTION", "RetentionClass", "retention_classes", "retention_period"]

DEFAULT_RETENTION = "standard"


@dataclass(frozen=True)
class RetentionClass:
    """A named retention period, such as "mifid-5y"."""

    name: str
    period: timedelta
    description: str


@cache
def retention_classes() -> Mapping[str, RetentionClass]:
    """Every retention class by name, as shipped."""
    return MappingProxyType(
        {
            name: RetentionClass(name, timedelta(days=int(e["days"])), str(e["description"]))
            for name, e in read_data("retention.toml").items()
        }
    )


def check_retention(name: str, *, where: str) -> str:
    """`name` if it is a retention class; otherwise a `ConfigError` naming `where`."""
    if name not in retention_classes():
        raise ConfigError(
            f"{where}: unknown retention class {name!r}; allowed values are "
            f"{', '.join(retention_classes())}"
        )
    return name


def retention_period(name: str) -> timedelta:
    """How long recordings of retention class `name` are kept."""
    return retention_classes()[check_retention(name, where="retention")].period
