"""A clock that stands in for `callvault.accounts._records._now` (the `clock` fixture of
tests/conftest.py), so expiry and sign-in back-off are tested without waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Starts at the real time: a session cookie's Expires is read by the HTTP client
    against the real clock, so a fixed start date would make the web sign-in tests pass
    only on the day it was written."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: float | timedelta) -> None:
        """Move on by `by` (seconds, or a timedelta)."""
        self.now += by if isinstance(by, timedelta) else timedelta(seconds=by)
