"""What every callvault command shares: error handling, settings, output."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console

from callvault.config import Config
from callvault.errors import CallvaultError
from callvault.services.webhooks import ANNOUNCE_TIMEOUT_S, announce

__all__ = ["Group", "announce_erased", "config_of", "console", "echo_json"]


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


def announce_erased(config: Config, call_ids: list[str]) -> None:
    """Send `call.erased` for each call to the configured webhook URLs (none set: nothing
    happens), as the API does for its erasures; say on stderr what could not be sent."""
    left = announce(config, "call.erased", call_ids)
    if left:
        click.echo(
            f"webhooks: {left} call.erased deliveries not made (refused, unreachable or "
            f"past {ANNOUNCE_TIMEOUT_S:.0f} s; see 'webhook.deliver' in the audit log); "
            "the erasures themselves are done",
            err=True,
        )


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def console() -> Console:
    return Console(highlight=False, soft_wrap=True)
