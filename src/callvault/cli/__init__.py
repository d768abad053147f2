"""The `callvault` command."""

from callvault.cli._main import cli, main

__all__ = ["cli", "main"]
