"""The web application: server-rendered pages (Jinja2) over the same services as the API.

Every page checks access on the server with `services.access` (the API's rules); a call
out of reach is a 404 page. No front-end build step: templates, one stylesheet and two
small scripts (`static/player.js`, `static/record.js`, `static/live.js`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Add the web pages and their static files (under /static) to `app`."""
    from callvault.web._ask import router as ask
    from callvault.web._calls import router as calls
    from callvault.web._governance import router as governance
    from callvault.web._live import router as live
    from callvault.web._scorecards import router as scorecards
    from callvault.web._team import router as team

    app.include_router(calls)
    app.include_router(ask)
    app.include_router(governance)
    app.include_router(live)
    app.include_router(team)
    app.include_router(scorecards)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
