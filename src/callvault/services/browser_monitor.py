"""Use case: monitor the in-browser recorder while it records (issue 20).

The recording page records with MediaRecorder and uploads the whole recording when it
stops, as before. Besides, while it records, it sends the microphone's audio to the
`serve` process it came from in short plain HTTP POSTs (no WebSocket package is
installed, and none is needed at this rate): `start` opens a live session, each `feed`
carries about a quarter to half a second of int16 little-endian mono samples at 16 kHz,
numbered in order, and `stop` ends it. The audio goes through the process's
`services.monitor.MonitorHub` (one `StreamEngine`: one Whisper model, loaded when the
first session starts and shared by every session of the process), so the call shows on
the live board (source "browser", agent the signed-in user, one leg: `{0: "speaker"}`)
with its words and alerts as a captured call's do.

What the monitor asks of the recorder comes back in the answer to each `feed` (this
registry is the hub's `RecorderControl`):

* `stop_at`: the call time of a spoken refusal ("I don't want to be recorded"); the page
  stops recording at once, says why, and uploads what it recorded; nothing fed after it
  is transcribed. The stored recording then goes through processing, which finds the
  same refusal and cuts or erases the recording at it through the withdrawal path
  (`services.refusals`, `spoken_refusal` = honour, the default), so the seconds between
  the refusal and the page's stop are not kept either; with `flag` they are listed for
  review instead. The live detection is audited here (`live.withdrawal`: ids, time and
  confidence only).
* `paused`: the spans in which card data was being read (PCI pause and resume). On one
  mixed leg there is no agent leg to end a pause, so a pause stays open until the
  session ends; the page shows a note, and the stored call's card data is redacted by
  processing as for any call.

Order: chunks carry a sequence number from 0. A chunk numbered below the next one
expected is a repeat (a retried POST) and is ignored; one numbered above is fed after
silence as long as the chunks missing (counted as the same length as it, at most
`MAX_GAP_S`), so that the call clock stays in step with the recording. Only the user who
started a session may feed or stop it. A session that receives no audio for
`Config.live_browser_idle` seconds ends by itself (a closed tab, a lost connection).

Several `serve` processes: a session lives in the memory of the process that started it
(the engine's rolling audio buffers cannot move). The load balancer must send all the
requests of one recording to one process (sticky sessions, e.g. on the session cookie);
a chunk that reaches a process without the session is answered 404 with a message that
says so, and the page carries on recording without live monitoring.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from callvault.errors import AnalysisError, CallvaultError, InputError, NotFound, Overloaded
from callvault.services._context import Context
from callvault.services.access import CALLS_UPLOAD, Principal, require
from callvault.services.monitor import MonitoredCall, MonitorHub

__all__ = [
    "BROWSER_RATE",
    "MAX_CHUNK_BYTES",
    "MAX_SESSIONS",
    "BrowserMonitor",
    "BrowserSessionState",
    "feed",
    "monitor_for",
    "shutdown",
    "start",
    "stop",
]

log = logging.getLogger("callvault.services")

#: the browser sends 16 kHz mono int16 little-endian samples
BROWSER_RATE = 16000
#: one POST carries at most about a second of audio (1.024 s)
MAX_CHUNK_BYTES = 32768
#: live sessions one process monitors at once (the model is shared; CPU is not)
MAX_SESSIONS = 8
#: the most silence a gap in the sequence numbers is filled with
MAX_GAP_S = 5.0
SOURCE = "browser"
ROLES = {0: "speaker"}


@dataclass(frozen=True)
class BrowserSessionState:
    """What a `feed` (or `stop`) answers: where the session stands and what the recorder
    must do. `stop_at`: call time (seconds) of a spoken refusal, None while there is
    none; `paused`: (start, end or None) spans of card data being read."""

    session_id: str
    live_id: str | None
    next_seq: int
    call_time: float
    stop_at: float | None
    paused: tuple[tuple[float, float | None], ...]
    gaps: int
    repeats: int
    ended: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "live_call_id": self.live_id,
            "next_seq": self.next_seq,
            "call_time": round(self.call_time, 3),
            "stop_at": None if self.stop_at is None else round(self.stop_at, 3),
            "paused": [
                {"from": round(start, 3), "to": None if end is None else round(end, 3)}
                for start, end in self.paused
            ],
            "gaps": self.gaps,
            "repeats": self.repeats,
            "ended": self.ended,
        }


class _Session:
    """One browser recording being monitored (guarded by its own lock)."""

    def __init__(self, session_id: str, owner: str, call: MonitoredCall, now: float) -> None:
        self.id = session_id
        self.owner = owner
        self.call = call
        # Re-entrant: feeding may run the monitor's timers, whose actions come back
        # here (`withdraw_spoken`) on the same thread.
        self.lock = threading.RLock()
        self.next_seq = 0
        self.samples = 0
        self.last_seen = now
        self.stop_at: float | None = None
        self.paused: list[list[float | None]] = []
        self.gaps = 0
        self.repeats = 0
        self.ended = False

    def state(self) -> BrowserSessionState:
        return BrowserSessionState(
            session_id=self.id,
            live_id=self.call.live_id,
            next_seq=self.next_seq,
            call_time=self.samples / BROWSER_RATE,
            stop_at=self.stop_at,
            paused=tuple((float(s or 0.0), e) for s, e in self.paused),
            gaps=self.gaps,
            repeats=self.repeats,
            ended=self.ended,
        )


HubFactory = Callable[[Context], MonitorHub]


def _default_hub(ctx: Context) -> MonitorHub:
    from callvault.services.live import LiveBoard

    return MonitorHub.from_config(ctx.config, board=LiveBoard(ctx))


class BrowserMonitor:
    """The live sessions of the in-browser recorder in one process, over one storage.
    It is also the hub's `RecorderControl` (`pause_leg`, `resume_leg`,
    `withdraw_spoken`, `speech_started`, keyed by session id).

    `hub_factory` makes the hub when the first session starts (default: the model of
    the batch pipeline and the live board over `ctx`); `clock` is the monotonic clock
    idle expiry is measured on; `sweep_every` how often (seconds) a background thread
    ends idle sessions (0: only when `start`, `feed` or `stop` is called)."""

    def __init__(
        self,
        ctx: Context,
        *,
        hub_factory: HubFactory = _default_hub,
        idle_s: float | None = None,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
        sweep_every: float | None = None,
    ) -> None:
        self.ctx = ctx.acting_as(None)
        self.idle_s = float(ctx.config.live_browser_idle if idle_s is None else idle_s)
        self.max_sessions = max_sessions
        self._hub_factory = hub_factory
        self._clock = clock
        self._hub: MonitorHub | None = None
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._hub_lock = threading.Lock()
        # Ending a session waits for its last words, and audit writes wait for the
        # database: neither on a request's thread nor on the engine's.
        self._closer = ThreadPoolExecutor(1, thread_name_prefix="callvault-browser-live")
        self._closed = False
        self._stop_sweeping = threading.Event()
        every = min(5.0, self.idle_s / 4) if sweep_every is None else sweep_every
        self._sweeper: threading.Thread | None = None
        if every > 0:
            self._sweeper = threading.Thread(
                target=self._sweep_loop, args=(every,), name="callvault-browser-sweep", daemon=True
            )
            self._sweeper.start()

    # -- the recorder's requests ----------------------------------------------------------

    @property
    def hub(self) -> MonitorHub:
        """The hub, made (the model loaded) on first use; AnalysisError if it cannot be."""
        with self._hub_lock:
            if self._hub is None:
                try:
                    hub = self._hub_factory(self.ctx)
                except CallvaultError as error:
                    raise AnalysisError(
                        f"live transcription is not available on this server ({error}); "
                        "the recording goes on without it"
                    ) from None
                except Exception as error:  # noqa: BLE001 - a model that will not load
                    raise AnalysisError(
                        "live transcription is not available on this server (its model "
                        f"could not be loaded: {type(error).__name__}); the recording goes "
                        "on without it"
                    ) from None
                hub.control = self
                self._hub = hub
            return self._hub

    def start(self, principal: Principal) -> BrowserSessionState:
        """Open a live session for `principal` recording in the browser: its call goes on
        the live board with them as the agent."""
        require(principal, CALLS_UPLOAD)
        self.sweep()
        if self._closed:
            raise AnalysisError("live monitoring is shutting down on this server")
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise Overloaded(
                    f"this server already monitors {self.max_sessions} browser recordings; "
                    "the recording goes on without live monitoring",
                    retry_after=30,
                )
            session_id = "bl_" + secrets.token_urlsafe(16)
        hub = self.hub
        call = hub.open_call(
            session_id,
            roles=ROLES,
            sample_rates={0: BROWSER_RATE},
            source=SOURCE,
            agent=principal.username,
        )
        session = _Session(session_id, principal.username, call, self._clock())
        with self._lock:
            self._sessions[session_id] = session
        log.info("browser live session started (%d open)", len(self._sessions))
        return session.state()

    def feed(
        self, session_id: str, principal: Principal, seq: int, pcm: bytes
    ) -> BrowserSessionState:
        """Chunk `seq` of the session's audio (int16 LE mono at 16 kHz, at most
        `MAX_CHUNK_BYTES`); the session's state, `stop_at` and `paused` included."""
        if seq < 0:
            raise InputError("seq must be 0 or more: the number of the audio chunk")
        if len(pcm) > MAX_CHUNK_BYTES:
            raise InputError(
                f"an audio chunk holds at most {MAX_CHUNK_BYTES} bytes (about a second); "
                "send shorter chunks"
            )
        if len(pcm) % 2:
            raise InputError("an audio chunk is 16-bit samples: its length must be even")
        self.sweep()
        session = self._owned(session_id, principal)
        with session.lock:
            if session.ended:
                raise NotFound(f"live session {session_id} has ended")
            session.last_seen = self._clock()
            if seq < session.next_seq:
                session.repeats += 1
                return session.state()
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
            if seq > session.next_seq:
                missing = min(
                    (seq - session.next_seq) * samples.shape[0], int(MAX_GAP_S * BROWSER_RATE)
                )
                session.gaps += 1
                if missing and session.stop_at is None:
                    self._push(session, np.zeros(missing, dtype=np.int16))
                else:
                    session.samples += missing
            session.next_seq = seq + 1
            if session.stop_at is None:
                self._push(session, samples)
            else:
                session.samples += samples.shape[0]  # not transcribed: refused
            return session.state()

    def stop(self, session_id: str, principal: Principal) -> BrowserSessionState:
        """End the session (its last words are decoded in the background; the call then
        leaves the live board). Stopping it again answers the same state."""
        session = self._owned(session_id, principal, ended_ok=True)
        self._end(session)
        return session.state()

    def state(self, session_id: str, principal: Principal) -> BrowserSessionState:
        return self._owned(session_id, principal, ended_ok=True).state()

    # -- RecorderControl (called by the hub, from the engine's thread) -------------------

    def pause_leg(self, call_key: str, channel: int, at: float) -> None:
        session = self._sessions.get(call_key)
        if session is None:
            return
        with session.lock:
            if not session.paused or session.paused[-1][1] is not None:
                session.paused.append([at, None])

    def resume_leg(self, call_key: str, channel: int, at: float) -> None:
        session = self._sessions.get(call_key)
        if session is None:
            return
        with session.lock:
            if session.paused and session.paused[-1][1] is None:
                session.paused[-1][1] = max(at, float(session.paused[-1][0] or 0.0))

    def withdraw_spoken(self, call_key: str, channel: int, at: float, confidence: float) -> None:
        session = self._sessions.get(call_key)
        if session is None:
            return
        with session.lock:
            if session.stop_at is not None:
                return
            session.stop_at = max(0.0, at)
            live_id = session.call.live_id
        log.info("browser live session: a spoken refusal; the recorder is told to stop")
        details = {
            "session": call_key,
            "channel": channel,
            "at_seconds": round(at, 3),
            "confidence": round(confidence, 3),
            "by": "speech",
        }
        self._submit(self._audit_withdrawal, live_id, details)

    def speech_started(self, call_key: str, channel: int, at: float) -> None:
        return None  # no key-press opt-out window in the browser

    # -- ending --------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> list[str]:
        """End the sessions idle for `idle_s` or longer; their ids."""
        moment = self._clock() if now is None else now
        with self._lock:
            idle = [
                s
                for s in self._sessions.values()
                if not s.ended and moment - s.last_seen >= self.idle_s
            ]
        for session in idle:
            log.info("browser live session ended after %.0f s without audio", self.idle_s)
            self._end(session)
        return [s.id for s in idle]

    @property
    def open_sessions(self) -> int:
        with self._lock:
            return sum(1 for s in self._sessions.values() if not s.ended)

    def close(self) -> None:
        """End every session (their last words decoded) and the engine."""
        self._closed = True
        self._stop_sweeping.set()
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            self._end(session)
        self._closer.shutdown(wait=True)
        if self._sweeper is not None:
            self._sweeper.join()
        with self._hub_lock:
            if self._hub is not None:
                self._hub.close()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until the sessions ended so far are finished (tests)."""
        self._closer.submit(lambda: None).result(timeout)

    # -- inside --------------------------------------------------------------------------

    def _owned(self, session_id: str, principal: Principal, *, ended_ok: bool = False) -> _Session:
        require(principal, CALLS_UPLOAD)  # a role that never records: 403, not 404
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None or session.owner != principal.username:
            # Another user's session looks absent, as a session of another process does.
            raise NotFound(
                f"live session {session_id} is not open on this server process: it ended, "
                "or it was started on another one (the load balancer must keep a "
                "recording's requests on one process)"
            )
        if session.ended and not ended_ok:
            raise NotFound(f"live session {session_id} has ended")
        return session

    def _push(self, session: _Session, samples: np.ndarray) -> None:
        session.call.feed(0, samples)
        session.samples += samples.shape[0]
        session.call.fed_until(session.samples / BROWSER_RATE)

    def _end(self, session: _Session) -> None:
        with session.lock:
            if session.ended:
                return
            session.ended = True
        self._submit(self._finish, session)

    def _finish(self, session: _Session) -> None:
        hub = self._hub
        if hub is not None:
            if hub.calls.get(session.id) is session.call:
                hub.calls.pop(session.id, None)
            hub.end_call(session.call)
        with self._lock:
            self._sessions.pop(session.id, None)

    def _submit(self, work: Callable[..., None], *args: Any) -> None:
        try:
            self._closer.submit(self._guarded, work, *args)
        except RuntimeError:  # shut down: do it here
            self._guarded(work, *args)

    @staticmethod
    def _guarded(work: Callable[..., None], *args: Any) -> None:
        try:
            work(*args)
        except Exception as error:  # noqa: BLE001 - one session's trouble stops no other
            log.error("browser live session: %s failed (%s)", work.__name__, type(error).__name__)

    def _audit_withdrawal(self, live_id: str | None, details: dict[str, Any]) -> None:
        self.ctx.vault.record_event("live.withdrawal", "live_call", live_id, details=details)

    def _sweep_loop(self, every: float) -> None:
        while not self._stop_sweeping.wait(every):
            try:
                self.sweep()
            except Exception as error:  # noqa: BLE001 - keep sweeping
                log.error("browser live sweep failed (%s)", type(error).__name__)


# -- the process's registry ------------------------------------------------------------

_registry: weakref.WeakKeyDictionary[Any, BrowserMonitor] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def monitor_for(ctx: Context) -> BrowserMonitor:
    """The process's browser monitor over `ctx`'s storage (made on first use)."""
    with _registry_lock:
        found = _registry.get(ctx.vault)
        if found is None or found._closed:
            found = BrowserMonitor(ctx)
            _registry[ctx.vault] = found
        return found


def start(ctx: Context, principal: Principal) -> BrowserSessionState:
    """Open a live session for the in-browser recorder of `principal`."""
    return monitor_for(ctx).start(principal)


def feed(
    ctx: Context, session_id: str, principal: Principal, seq: int, pcm: bytes
) -> BrowserSessionState:
    """Chunk `seq` of a session's audio; its state (`stop_at`, `paused`)."""
    return monitor_for(ctx).feed(session_id, principal, seq, pcm)


def stop(ctx: Context, session_id: str, principal: Principal) -> BrowserSessionState:
    """End a session."""
    return monitor_for(ctx).stop(session_id, principal)


def shutdown(ctx: Context) -> None:
    """End the browser sessions of `ctx`'s storage, if any (the server stops)."""
    with _registry_lock:
        found = _registry.pop(ctx.vault, None)
    if found is not None:
        found.close()
