"""The API's bodies of the live board and the browser recorder's live sessions (issue 20),
declared as `schemas` declares the others (a body is byte for byte what the record's
`to_json()` writes)."""

from __future__ import annotations

from pydantic import Field

from callvault.api.schemas import _Out

__all__ = [
    "BrowserLiveOut",
    "BrowserPauseOut",
    "LiveAlertOut",
    "LiveCallList",
    "LiveCallOut",
    "LiveEventOut",
    "LiveEventPage",
    "LiveWordOut",
]


# -- the live board (issue 20) ------------------------------------------------------------


class LiveAlertOut(_Out):
    """An alert of a call in progress: `text` holds the triggering words (masked by the
    rules for card and identity data)."""

    id: str
    live_id: str
    seq: int
    rule: str
    kind: str
    severity: str
    channel: int | None
    call_time: float
    start: float
    confidence: float
    text: str
    acknowledged_by: str | None
    acknowledged_at: str | None


class LiveCallOut(_Out):
    """A call on the live board with its alerts; `roles` maps a channel to its role."""

    id: str
    source: str
    label: str | None
    roles: dict[str, str]
    agent: str | None
    team: str | None
    started_at: str
    ended_at: str | None
    call_id: str | None
    alerts: list[LiveAlertOut]


class LiveCallList(_Out):
    calls: list[LiveCallOut]


class LiveWordOut(_Out):
    start: float | None
    end: float | None
    text: str
    confidence: float | None


class LiveEventOut(_Out):
    """One event of the board, numbered board-wide (`seq`): kind open, partial, final,
    alert, ack or close; words events carry speaker, text and words; alert and ack
    events the alert as it is now."""

    seq: int
    live_id: str
    kind: str
    channel: int | None
    call_time: float | None
    speaker: str | None = None
    text: str | None = None
    words: list[LiveWordOut] | None = None
    alert: LiveAlertOut | None = None


class LiveEventPage(_Out):
    """Events numbered above `after`, oldest first; ask again with `after` = the last
    `seq` for more."""

    events: list[LiveEventOut]
    after: int


class BrowserPauseOut(_Out):
    """A span of card data being read (PCI pause): `to` None while it lasts."""

    from_: float = Field(alias="from")
    to: float | None


class BrowserLiveOut(_Out):
    """A live session of the in-browser recorder: `next_seq` is the number of the audio
    chunk expected next, `call_time` the seconds fed so far; `stop_at` (seconds) is set
    when a party refused the recording (stop recording now), `paused` lists card data
    spans."""

    session: str
    live_call_id: str | None
    next_seq: int
    call_time: float
    stop_at: float | None
    paused: list[BrowserPauseOut]
    gaps: int
    repeats: int
    ended: bool
