"""`callvault backup` and `callvault restore` (issue 21)."""

from __future__ import annotations

import click

from callvault.cli._common import Group

__all__ = ["backup", "restore"]


@click.group(cls=Group)
def backup() -> None:
    """Backups that keep keys sealed and erasures erased."""


@click.command()
def restore() -> None:
    """Restore a backup into an empty data directory and database."""
