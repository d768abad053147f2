"""What the benchmarks share: child processes, peak memory, the machine line, tables.

Each bench runs as a script (``python bench/NAME.py``), so this folder is on ``sys.path``
and ``import _common`` finds this file.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
from collections.abc import Iterable
from importlib import metadata
from typing import Any


def rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def in_child(function: Any, *args: Any) -> Any:
    """Run `function(*args)` in a fresh spawned process (its own imports and peak memory)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(function, args)


def machine_line(packages: Iterable[str], how: str) -> str:
    """The machine, Python and the versions of `packages`, then how it was measured."""
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in packages)
    return (
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (nproc), "
        f"Python {platform.python_version()}, {versions}; {how}\n"
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def table(header: list[str], rows: list[list[str]]) -> None:
    """Print a Markdown table and a blank line."""
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
