"""Reading the policy's own TOML files: the shipped data and the user's overrides.

Reading these files is the only I/O of `callvault.policy` besides `speak_notice`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from callvault.errors import ConfigError

__all__ = ["check_keys", "read_data", "read_toml"]


def read_toml(path: Path) -> dict[str, Any]:
    """A user's TOML file; a missing, unreadable or malformed file is a `ConfigError`."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; check the path") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); check the file") from None
    except tomllib.TOMLDecodeError as exc:  # the message names the line and column
        raise ConfigError(f"{path}: is not valid TOML: {exc}") from None


def read_data(*parts: str) -> dict[str, Any]:
    """One of the TOML files shipped in `callvault/policy/data/`."""
    text = resources.files("callvault.policy").joinpath("data", *parts).read_text("utf-8")
    return tomllib.loads(text)


def check_keys(source: str, where: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse a key that is not in `allowed`, naming it and the allowed ones."""
    names = tuple(allowed)
    for key in table:
        if key not in names:
            raise ConfigError(
                f"{source}: {where}: unknown key {key!r}; allowed keys are {', '.join(names)}"
            )
