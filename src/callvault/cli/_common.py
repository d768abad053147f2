"""What every callvault command shares: error handling, settings, output."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console

from callvault.config import Config
from callvault.errors import CallvaultError

__all__ = ["Group", "config_of", "console", "echo_json"]


class Group(click.Group):
    """Turns callvault's errors into one line on stderr and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CallvaultError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def config_of(ctx: click.Context) -> Config:
    config = ctx.find_object(Config)
    assert config is not None
    return config


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def console() -> Console:
    return Console(highlight=False, soft_wrap=True)
