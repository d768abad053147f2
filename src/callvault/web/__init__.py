"""The web application: server-rendered pages (Jinja2) over the same services as the API."""

from __future__ import annotations

from fastapi import FastAPI

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Add the web pages and their static files to `app` (none yet)."""
