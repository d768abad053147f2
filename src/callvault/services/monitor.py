"""Use case: watch calls while they are going on (issue 20).

`MonitorHub` holds what every monitored call of a process shares: one streaming engine
(one Whisper model, batched across legs), the alert rules, and where events go (a sink
callback, the live board in the database, the recorder that pauses or stops keeping
audio). `hub.open_call(...)` gives a `MonitoredCall`; the capture loops (or a replay) feed
it each leg's audio as it arrives, and it turns the engine's words and speech spans into
`LiveEvent`s through the call's `CallMonitor`.

Acting on an alert while the call goes on:

* `card-data`: the recorder stops keeping that leg's audio from the start of the digits
  until the agent speaks again (PCI pause and resume), besides the redaction after the
  call;
* `consent-refused`: the recorder keeps nothing of the call from the refusal on, as when
  the withdrawal key is pressed.

Both go through `RecorderControl`, which the live capture and the SIPREC server
implement; a replay has none.

`replay(...)` is `callvault monitor replay`: a WAV (or any audio) file or a pcap is fed
through the same hub at the pace of the wall clock (`realtime`) or as fast as the engine
keeps up (it catches up after every `CATCH_UP_S` of audio, so that the timer rules never
run ahead of what it has heard), and every event is handed to the sink as it happens,
with `delay_s` the wall time from the moment the event refers to having been fed to the
event being emitted.
Several files replay at once, as concurrent calls sharing the engine.

Threads: the engine calls back from its own thread; each call's monitor is guarded by a
lock, and the sink is called with no lock held but never concurrently (one lock for it).
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from callvault.analysis import SAMPLE_RATE, decode_legs, detect_refusals, resolve_model
from callvault.analysis.live import (
    CallMonitor,
    LegStream,
    LiveEvent,
    RecorderAction,
    RuleSet,
    SpeechSpan,
    StreamEngine,
    StreamParams,
    WordsUpdate,
)
from callvault.config import Config
from callvault.errors import InputError, UnsupportedMedia

__all__ = [
    "FRAME_S",
    "CaptureMonitor",
    "MonitorHub",
    "MonitoredCall",
    "RecorderControl",
    "ReplayCall",
    "ReplaySummary",
    "load_replay",
    "replay",
]

log = logging.getLogger("callvault.services")

#: the replay feeds audio in frames of this length, as RTP carries it
FRAME_S = 0.02
#: timer rules (silence, a missing disclosure) are checked this often, in call time
TICK_S = 0.1
#: a replay not on the wall clock lets the engine catch up after this much audio
CATCH_UP_S = 2.0
#: the most a replayed file may last
MAX_REPLAY_S = 4 * 3600.0

#: ended calls remembered for a stored call id that comes after the end
_ENDED_KEEP = 1000
#: moments of call time remembered for `delay_s` (20 ms apart: about 6 minutes)
_CLOCK_KEEP = 18000

Sink = Callable[[str, LiveEvent], None]


class RecorderControl(Protocol):
    """What a live recorder lets the monitor do to a call it is recording."""

    def pause_leg(self, call_key: str, channel: int, at: float) -> None: ...

    def resume_leg(self, call_key: str, channel: int, at: float) -> None: ...

    def withdraw_spoken(
        self, call_key: str, channel: int, at: float, confidence: float
    ) -> None: ...

    def speech_started(self, call_key: str, channel: int, at: float) -> None: ...


class _FeedClock:
    """When (wall clock) each moment of call time was fed: for `delay_s`."""

    def __init__(self) -> None:
        self._times: list[float] = []
        self._walls: list[float] = []

    def mark(self, call_time: float, wall: float) -> None:
        if self._times and call_time <= self._times[-1]:
            return
        self._times.append(call_time)
        self._walls.append(wall)
        if len(self._times) > _CLOCK_KEEP:  # an event refers to the last minutes at most
            del self._times[: _CLOCK_KEEP // 2], self._walls[: _CLOCK_KEEP // 2]

    def delay(self, call_time: float, now: float) -> float | None:
        at = bisect.bisect_left(self._times, call_time)
        if at >= len(self._times):
            return None if not self._walls else max(0.0, now - self._walls[-1])
        return max(0.0, now - self._walls[at])


class MonitoredCall:
    """One call being monitored: feed each leg's audio, get events through the hub."""

    def __init__(
        self,
        hub: MonitorHub,
        key: str,
        *,
        roles: Mapping[int, str],
        sample_rates: Mapping[int, int] | None,
        language: str | None,
        answered_at: float,
        live_id: str | None,
    ) -> None:
        self.hub = hub
        self.key = key
        self.roles = dict(roles)
        self.live_id = live_id
        self.events: list[LiveEvent] = []
        self._lock = threading.Lock()
        self._clock = _FeedClock()
        self._actions: list[RecorderAction] = []
        self._monitor = CallMonitor(
            hub.rules,
            roles=self.roles,
            language=language,
            answered_at=answered_at,
            refusal=detect_refusals,
            on_action=self._actions.append,
        )
        self._language = language
        self._legs: dict[int, LegStream] = {}
        for channel, rate in sorted((sample_rates or {}).items()):
            self._open_leg(channel, rate, 0.0)
        self._fed = 0.0
        self._ticked = 0.0
        self._closed = False

    # -- audio in ------------------------------------------------------------------------

    def _open_leg(self, channel: int, sample_rate: int, start_time: float) -> LegStream:
        leg = self.hub.engine.open_leg(
            channel,
            sample_rate=sample_rate,
            language=self._language,
            on_update=self._on_update,
            on_speech=self._on_speech,
            start_time=start_time,
        )
        self._legs[channel] = leg
        return leg

    def feed(
        self,
        channel: int,
        pcm: np.ndarray,
        *,
        sample_rate: int | None = None,
        call_time: float | None = None,
    ) -> None:
        """Audio of one leg as it arrives (int16 or float32 at the leg's rate). A leg
        not opened with the call opens at its first audio, which needs `sample_rate`
        and starts at `call_time` (default 0)."""
        if self._closed:
            return
        leg = self._legs.get(channel)
        if leg is None:
            if sample_rate is None:
                return  # a leg the call was not opened with, and no rate to open it
            leg = self._open_leg(channel, sample_rate, call_time or 0.0)
        leg.feed(pcm)

    def fed_until(self, call_time: float, wall: float | None = None) -> None:
        """Every leg has been fed up to `call_time`: timers run, delays count from now."""
        self._clock.mark(call_time, time.monotonic() if wall is None else wall)
        self._fed = max(self._fed, call_time)
        # Timers (silence, a missing disclosure) run on what the engine has heard, not on
        # what was fed: a backlog must not read as silence.
        heard = min((leg.heard_time for leg in self._legs.values()), default=self._fed)
        now = min(self._fed, heard)
        if now - self._ticked >= TICK_S:
            self._ticked = now
            with self._lock:
                events = self._monitor.tick(now)
            self._emit(events)

    def finish(self) -> list[LiveEvent]:
        """The call ended: the last words are decoded and final, the rules close."""
        if self._closed:
            return self.events
        for leg in self._legs.values():
            leg.finish()
        with self._lock:
            events = self._monitor.finish(self._fed)
        self._emit(events)
        self._closed = True
        return self.events

    # -- engine out ----------------------------------------------------------------------

    def _on_update(self, update: WordsUpdate) -> None:
        with self._lock:
            events = self._monitor.on_words(update)
        self._emit(events)

    def _on_speech(self, span: SpeechSpan) -> None:
        control = self.hub.control
        if control is not None and span.end is None:
            try:
                control.speech_started(self.key, span.channel, span.start)
            except Exception as error:  # noqa: BLE001 - the recorder's trouble is its own
                log.error("monitor: speech_started raised %s", type(error).__name__)
        with self._lock:
            events = self._monitor.on_speech(span)
        self._emit(events)

    def _emit(self, events: Sequence[LiveEvent]) -> None:
        with self._lock:
            actions, self._actions[:] = list(self._actions), []
        for action in actions:
            self.hub.act(self, action)
        if not events:
            return
        now = time.monotonic()
        stamped = [replace(e, delay_s=self._clock.delay(e.call_time, now)) for e in events]
        self.events.extend(stamped)
        self.hub.deliver(self, stamped)

    @property
    def alerts(self) -> tuple[Any, ...]:
        with self._lock:
            return self._monitor.alerts


@dataclass(frozen=True)
class _Post:
    """Events of a live call for the board, and whether the call ended with them."""

    live_id: str
    events: list[LiveEvent]
    ended: bool = False
    call_id: str | None = None


@dataclass
class MonitorHub:
    """The engine, rules and outlets shared by every call a process monitors."""

    engine: StreamEngine
    rules: RuleSet
    sink: Sink | None = None
    board: Any | None = None  # services.live.LiveBoard, when events go to the live page
    control: RecorderControl | None = None
    calls: dict[str, MonitoredCall] = field(default_factory=dict)
    _sink_lock: threading.Lock = field(default_factory=threading.Lock)
    _queue: queue.Queue[_Post | None] = field(default_factory=queue.Queue)
    _publisher: threading.Thread | None = None

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        language: str | None = None,
        rules_path: Path | None = None,
        sink: Sink | None = None,
        board: Any | None = None,
        control: RecorderControl | None = None,
    ) -> MonitorHub:
        """A hub with the model the batch pipeline would use for `language` and the rules
        of `rules_path` (else CALLVAULT_ALERT_RULES, else the built-in set)."""
        model = resolve_model(language, cache_dir=config.model_cache, overrides=config.asr_models)
        path = rules_path if rules_path is not None else config.alert_rules
        rules = RuleSet.load(path, competitors=config.competitors)
        if path is None:  # the built-in disclosure window is the batch check's
            rules = rules.with_disclosure_within(config.disclosure_within)
        return cls(StreamEngine(model, params=StreamParams()), rules, sink, board, control)

    def open_call(
        self,
        key: str,
        *,
        roles: Mapping[int, str],
        sample_rates: Mapping[int, int] | None = None,
        language: str | None = None,
        answered_at: float = 0.0,
        source: str = "replay",
        agent: str | None = None,
        label: str | None = None,
    ) -> MonitoredCall:
        live_id = None
        if self.board is not None:
            live_id = self.board.open_call(
                source=source, roles=roles, agent=agent, label=key if label is None else label
            )
        call = MonitoredCall(
            self,
            key,
            roles=roles,
            sample_rates=sample_rates,
            language=language,
            answered_at=answered_at,
            live_id=live_id,
        )
        self.calls[key] = call
        return call

    def close_call(self, key: str, *, call_id: str | None = None) -> list[LiveEvent]:
        """End the call `key`: its last words are decoded (this waits for them)."""
        call = self.calls.pop(key, None)
        if call is None:
            return []
        return self.end_call(call, call_id)

    def end_call(self, call: MonitoredCall, call_id: str | None = None) -> list[LiveEvent]:
        """End `call`, already taken out of `calls`."""
        try:
            events = call.finish()
        except Exception as error:  # noqa: BLE001 - one call's trouble never stops the rest
            log.error("monitor: a call could not be finished (%s)", type(error).__name__)
            events = call.events
        if self.board is not None and call.live_id is not None:
            self._outbox().put(_Post(call.live_id, [], ended=True, call_id=call_id))
        return events

    def link_stored(self, live_id: str, call_id: str) -> None:
        """The live call `live_id`, already ended, was stored as `call_id`."""
        if self.board is not None:
            self._outbox().put(_Post(live_id, [], ended=True, call_id=call_id))

    def deliver(self, call: MonitoredCall, events: Sequence[LiveEvent]) -> None:
        """Events of `call`: to the board (by the publisher thread, so that a database
        write never holds up recognition) and to the sink (at once)."""
        if self.board is not None and call.live_id is not None:
            self._outbox().put(_Post(call.live_id, list(events)))
        if self.sink is not None:
            with self._sink_lock:
                for event in events:
                    self.sink(call.key, event)

    def act(self, call: MonitoredCall, action: RecorderAction) -> None:
        """Tell the recorder what an alert means for the audio it keeps."""
        control = self.control
        if control is None:
            return
        try:
            if action.action == "pci-pause":
                control.pause_leg(call.key, action.channel, action.call_time)
            elif action.action == "pci-resume":
                control.resume_leg(call.key, action.channel, action.call_time)
            elif action.action == "stop-recording":
                confidence = max(
                    (
                        a.confidence
                        for a in call.alerts
                        if a.rule == action.rule and a.channel == action.channel
                    ),
                    default=1.0,
                )
                control.withdraw_spoken(call.key, action.channel, action.call_time, confidence)
        except Exception as error:  # noqa: BLE001 - the recorder's trouble is its own
            log.error("monitor: the recorder refused an action (%s)", type(error).__name__)

    def _outbox(self) -> queue.Queue[_Post | None]:
        with self._sink_lock:
            if self._publisher is None:
                self._publisher = threading.Thread(
                    target=self._publish, name="callvault-live-board", daemon=True
                )
                self._publisher.start()
        return self._queue

    def _publish(self) -> None:
        """Drain the outbox into the board: the events of each live call in one publish
        per round, then the calls that ended (after their last events)."""
        assert self.board is not None
        while True:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            merged: dict[str, list[LiveEvent]] = {}
            ended: list[_Post] = []
            for post in batch:
                if post is None:
                    continue
                merged.setdefault(post.live_id, []).extend(post.events)
                if post.ended:
                    ended.append(post)
            for live_id, events in merged.items():
                if not events:
                    continue
                try:
                    self.board.publish(live_id, events)
                except Exception as error:  # noqa: BLE001 - the board never stops a call
                    log.error("monitor: the live board refused events (%s)", type(error).__name__)
            for post in ended:
                try:
                    self.board.close_call(post.live_id, call_id=post.call_id)
                except Exception as error:  # noqa: BLE001
                    log.error("monitor: a live call could not be closed (%s)", type(error).__name__)
            if None in batch:
                return

    def flush(self) -> None:
        """Wait until every event handed to the board is published."""
        if self._publisher is not None:
            self._queue.put(None)
            self._publisher.join()
            self._publisher = None

    def close(self) -> None:
        for key in list(self.calls):
            self.close_call(key)
        self.flush()
        self.engine.close()


def _digest(call_key: str) -> str:
    """A SIP Call-ID as the live board names it (as the audit chain does, 16 hex)."""
    return hashlib.sha256(call_key.encode()).hexdigest()[:16]


# -- live capture and SIPREC ----------------------------------------------------------------


class CaptureMonitor:
    """Monitors the calls a live capture or the SIPREC server records.

    Give `media` as the capture's `on_media`, `call_ended` as its `on_call_end`, and
    `attach` the capture itself (its `pause_leg`, `resume_leg`, `withdraw_spoken` and
    `speech_started` are the `RecorderControl`). A call is monitored from its first
    audio, which also counts as its answer (the disclosure clock starts there); its
    events go to the live page. `call_ended(call_key, call_id)` also links the live
    call to the call stored when it ended, whether it comes before the capture's own
    end of the call (the live capture stores the call first) or after it (the SIPREC
    server stores it in a task of its own).
    """

    def __init__(
        self,
        config: Config,
        *,
        source: str,
        agent_channel: int = 1,
        language: str | None = None,
        rules_path: Path | None = None,
        board: Any | None = None,
    ) -> None:
        if board is None:
            from callvault.services.live import LiveBoard

            board = LiveBoard.open(config)
        self._own_board = board
        self.source = source
        self.language = language
        self.roles = {agent_channel: "agent", 1 - agent_channel: "customer"}
        self.hub = MonitorHub.from_config(
            config, language=language, rules_path=rules_path, board=board
        )
        self._lock = threading.Lock()
        # The live ids of the calls ended lately, for a stored call id that comes after.
        self._ended: dict[str, str] = {}
        # Ending a call waits for its last words: never on the capture's own thread.
        self._closer = ThreadPoolExecutor(1, thread_name_prefix="callvault-monitor-close")

    def attach(self, control: RecorderControl) -> None:
        self.hub.control = control

    def media(self, frame: Any) -> None:
        """One decoded RTP packet (`capture.live.MediaFrame`) of a call being recorded."""
        with self._lock:
            call = self.hub.calls.get(frame.call_key)
            if call is None:
                call = self.hub.open_call(
                    frame.call_key,
                    roles=self.roles,
                    language=self.language,
                    answered_at=frame.call_time,
                    source=self.source,
                    # The board shows a digest: a SIP Call-ID may hold host names.
                    label=f"{self.source} {_digest(frame.call_key)}",
                )
        call.feed(
            frame.channel, frame.pcm, sample_rate=frame.sample_rate, call_time=frame.call_time
        )
        call.fed_until(frame.call_time + frame.pcm.shape[0] / frame.sample_rate)

    def call_ended(self, call_key: str, call_id: str | None = None) -> None:
        """The call is over (stored as `call_id`, when it was): its last words, then
        the live page shows it ended."""
        with self._lock:
            call = self.hub.calls.pop(call_key, None)
            if call is not None and call.live_id is not None:
                self._ended[call_key] = call.live_id
                while len(self._ended) > _ENDED_KEEP:
                    del self._ended[next(iter(self._ended))]
            late = self._ended.get(call_key) if call is None and call_id is not None else None
        # One closer thread, in order: a late link is posted after the call's close
        # (which waits for its last words), so it never ends the call early.
        if call is not None:
            self._closer.submit(self.hub.end_call, call, call_id)
        elif late is not None and call_id is not None:
            self._closer.submit(self.hub.link_stored, late, call_id)

    def close(self) -> None:
        self._closer.shutdown(wait=True)
        self.hub.close()
        close = getattr(self._own_board, "close", None)
        if close is not None:
            close()


# -- replay --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayCall:
    """One call of a replayed file: its legs' audio (int16 or float32) at `sample_rate`."""

    name: str
    legs: tuple[np.ndarray, ...]
    sample_rate: int
    answered_at: float = 0.0

    @property
    def duration(self) -> float:
        return max((leg.shape[0] for leg in self.legs), default=0) / self.sample_rate


@dataclass(frozen=True)
class ReplaySummary:
    calls: int
    seconds: float
    wall_s: float
    events: int
    alerts: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "seconds": round(self.seconds, 3),
            "wall_s": round(self.wall_s, 3),
            "events": self.events,
            "alerts": dict(self.alerts),
        }


def _is_pcap(path: Path) -> bool:
    with path.open("rb") as handle:
        magic = handle.read(4)
    return magic in (
        b"\xd4\xc3\xb2\xa1",
        b"\xa1\xb2\xc3\xd4",
        b"\x4d\x3c\xb2\xa1",
        b"\xa1\xb2\x3c\x4d",
        b"\x0a\x0d\x0d\x0a",  # pcapng
    )


def _native_rate(path: Path) -> int:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise UnsupportedMedia(f"{path.name}: the file has no audio stream")
            rate = int(container.streams.audio[0].rate or SAMPLE_RATE)
    except av.error.FFmpegError:
        raise UnsupportedMedia(f"{path.name}: not a recognised audio file or pcap") from None
    # Telephone audio stays at its own rate (the engine handles 8 kHz as live RTP comes);
    # anything else is brought to the models' 16 kHz as the batch pipeline does.
    return rate if rate in (8000, SAMPLE_RATE) else SAMPLE_RATE


def load_replay(path: Path) -> list[ReplayCall]:
    """The calls in `path`: an audio file is one call (one leg per channel); a pcap holds
    every call its SIP dialogs and RTP streams make up (channel 0 = the caller)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if _is_pcap(path):
        from callvault.capture.net import read_captures

        result = read_captures([path])
        calls: list[ReplayCall] = []
        for number, call in enumerate(result.calls):
            legs = sorted(call.legs, key=lambda leg: leg.channel)
            if not legs:
                continue
            rate = legs[0].sample_rate
            if any(leg.sample_rate != rate for leg in legs):
                raise UnsupportedMedia(f"{path.name}: the legs of a call differ in sample rate")
            answered = 0.0
            if call.answered_at is not None and call.audio_started_at is not None:
                answered = max(0.0, (call.answered_at - call.audio_started_at).total_seconds())
            calls.append(
                ReplayCall(f"{path.name}#{number}", tuple(leg.pcm for leg in legs), rate, answered)
            )
        if not calls:
            raise UnsupportedMedia(f"{path.name}: the capture holds no call with audio")
        return calls
    rate = _native_rate(path)

    def open_source() -> Any:
        return path.open("rb")

    audio = decode_legs(open_source, sample_rate=rate, name=path.name, max_seconds=MAX_REPLAY_S)
    return [ReplayCall(path.name, tuple(audio), rate)]


def _unique_names(calls: Sequence[ReplayCall]) -> list[ReplayCall]:
    """The calls, a name given twice (the same file, or files of one name in two
    folders) made unique with "#2", "#3", ...: the hub keys its calls by name."""
    seen: dict[str, int] = {}
    out = []
    for call in calls:
        seen[call.name] = seen.get(call.name, 0) + 1
        if seen[call.name] > 1:
            call = replace(call, name=f"{call.name}#{seen[call.name]}")
        out.append(call)
    return out


def _roles(channels: Sequence[str] | None, count: int) -> dict[int, str]:
    if channels:
        if len(channels) < count:
            raise InputError(
                f"--channels names {len(channels)} role(s) but the recording has {count} "
                "channels; name one per channel, e.g. agent,customer"
            )
        return {index: role for index, role in enumerate(channels[:count])}
    if count == 1:
        return {0: "speaker"}
    if count == 2:
        return {0: "agent", 1: "customer"}
    return {index: f"channel {index}" for index in range(count)}


def replay(
    config: Config,
    paths: Sequence[Path],
    *,
    realtime: bool = False,
    channels: Sequence[str] | None = None,
    language: str | None = None,
    rules_path: Path | None = None,
    sink: Sink | None = None,
    live: bool = False,
) -> ReplaySummary:
    """Feed the calls in `paths` through the live engine together, 20 ms at a time;
    every event goes to `sink(call_name, event)` as it happens (and, with `live`, to the
    live board of the vault `config` names, as a live capture's calls do)."""
    calls = _unique_names([call for path in paths for call in load_replay(path)])
    board = None
    if live:
        from callvault.services.live import LiveBoard

        board = LiveBoard.open(config)
    hub = MonitorHub.from_config(
        config, language=language, rules_path=rules_path, sink=sink, board=board
    )
    started = time.monotonic()
    try:
        monitored = []
        for call in calls:
            monitored.append(
                (
                    call,
                    hub.open_call(
                        call.name,
                        roles=_roles(channels, len(call.legs)),
                        sample_rates=dict.fromkeys(range(len(call.legs)), call.sample_rate),
                        language=language,
                        answered_at=call.answered_at,
                    ),
                )
            )
        _pace(monitored, realtime=realtime)
        events: list[LiveEvent] = []
        for call, _ in monitored:
            events.extend(hub.close_call(call.name))
    finally:
        hub.close()
        if board is not None:
            board.close()
    alerts: dict[str, int] = {}
    for event in events:
        if event.event == "alert" and event.rule is not None:
            alerts[event.rule] = alerts.get(event.rule, 0) + 1
    return ReplaySummary(
        calls=len(calls),
        seconds=max((call.duration for call in calls), default=0.0),
        wall_s=time.monotonic() - started,
        events=len(events),
        alerts=dict(sorted(alerts.items())),
    )


def _pace(monitored: Sequence[tuple[ReplayCall, MonitoredCall]], *, realtime: bool) -> None:
    """Feed every call's legs 20 ms at a time, on the wall clock when `realtime`;
    otherwise as fast as the engine keeps up: after each `CATCH_UP_S` of audio it
    hears, VAD-checks and decodes what was fed (`wait_idle`), as a machine fast enough
    for real time would. Fed further ahead, the timer rules would run on audio the
    engine has not heard yet (a silence alert in the middle of speech, a disclosure
    missing because the agent's words were still queued) and every utterance would be
    decoded once, at its end, with no partials."""
    started = time.monotonic()
    longest = max((call.duration for call, _ in monitored), default=0.0)
    frames = int(np.ceil(longest / FRAME_S))
    step = max(1, int(round(CATCH_UP_S / FRAME_S)))
    engines = {id(live.hub.engine): live.hub.engine for _, live in monitored}
    for index in range(frames):
        at = index * FRAME_S
        if realtime:
            wait = started + at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        for call, live in monitored:
            size = int(round(FRAME_S * call.sample_rate))
            low = index * size
            fed = False
            for channel, leg in enumerate(call.legs):
                chunk = leg[low : low + size]
                if chunk.shape[0]:
                    live.feed(channel, chunk)
                    fed = True
            if fed:
                live.fed_until(min(call.duration, at + FRAME_S))
        if not realtime and (index + 1) % step == 0:
            for engine in engines.values():
                engine.wait_idle()
