"""`LiveCapture`: an interface read in a thread of its own, calls delivered as they end.

One thread does everything: it takes blocks of frames from the AF_PACKET ring
(waiting in `select` when none is ready), feeds them to the `LiveSession`, and every
`TICK_S` lets the session finish, cut or time out calls, which runs the callbacks in
that thread. A callback that blocks therefore delays reading: the kernel ring
(`buffer_bytes`) takes up the slack and `stats().kernel_drops` says if it overflowed.
`stop()` (or SIGTERM while `run()` is in the foreground) ends reading, then delivers
every call in progress.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType, TracebackType

from callvault.capture._optout import OptOutRules
from callvault.capture.live._records import LiveStats
from callvault.capture.live._session import (
    Decide,
    LiveSession,
    OnCall,
    OnCallEnd,
    OnCallStart,
    OnMedia,
    OnWithdrawal,
)
from callvault.capture.live._socket import PacketSocket
from callvault.errors import CaptureError

__all__ = ["LiveCapture"]

logger = logging.getLogger("callvault.capture.live")

TICK_S = 0.1


class LiveCapture:
    """Record calls from a network interface (root; `lo` works for tests).

    `bpf_filter` is a tcpdump expression compiled by libpcap (see `_socket`), e.g.
    ``"udp"`` or ``"udp and host 10.0.0.5"``; without it every frame is read.
    Each finished call, or segment of a call longer than `segment_seconds`, goes to
    `on_call` as a `LiveNetworkCall`; `decide(invite)` is asked at the first INVITE of a
    call whether its media is kept (no `decide`: every call is kept); `withdraw_digit`
    pressed by a participant (RFC 4733 or SIP INFO) where `optout` honours it (a single
    press in the opt-out window, see `capture._optout`) calls `on_withdrawal(invite,
    withdrawal)` and keeps no more audio of that call (None disables it). A
    call with no RTP or SIP for `rtp_timeout` seconds ends as "rtp_timeout". A call that
    `decide` refuses (or whose `decide` raises: the policy fails closed) keeps no media
    and is never delivered; `stats().calls_refused` counts it. Rejected and cancelled
    calls are delivered without audio (`has_audio` False), so the wiring can record them.
    Only calls with SIP seen on the interface are recorded (RTP that no SDP names is
    counted in `stats().unmapped_packets`, not paired into RTP-only calls as offline).
    `on_media`, `on_call_start` and `on_call_end` are `LiveSession`'s hooks for a
    streaming monitor, and `pause_leg`, `resume_leg`, `withdraw_spoken` and
    `speech_started` its control methods (safe from any thread).

    Use `start()`/`stop()` (a background thread), `run()` (the foreground, until
    SIGTERM/SIGINT or `stop()` from another thread), or a `with` block.
    """

    def __init__(
        self,
        interface: str,
        bpf_filter: str | None = None,
        *,
        on_call: OnCall,
        decide: Decide | None = None,
        rtp_timeout: float = 30.0,
        segment_seconds: float = 300.0,
        withdraw_digit: str | None = "9",
        on_withdrawal: OnWithdrawal | None = None,
        buffer_bytes: int = 64 << 20,
        optout: OptOutRules | None = None,
        on_media: OnMedia | None = None,
        on_call_start: OnCallStart | None = None,
        on_call_end: OnCallEnd | None = None,
    ) -> None:
        rules = optout if optout is not None else OptOutRules(digit=withdraw_digit)
        try:
            rules.validate()
        except ValueError as error:
            raise CaptureError(str(error)) from None
        self.interface = interface
        self.bpf_filter = bpf_filter
        self.buffer_bytes = buffer_bytes
        self.session = LiveSession(
            on_call,
            decide=decide,
            on_withdrawal=on_withdrawal,
            rtp_timeout=rtp_timeout,
            segment_seconds=segment_seconds,
            optout=rules,
            on_media=on_media,
            on_call_start=on_call_start,
            on_call_end=on_call_end,
        )
        self._socket: PacketSocket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the session is touched by the loop and by stats()
        self._failure: BaseException | None = None
        self._kernel = (0, 0)  # the socket's counters, kept once it is closed

    # -- life cycle ----------------------------------------------------------------------

    def open(self) -> None:
        """Open the socket (and attach the filter); raises `CaptureError` if it cannot."""
        if self._socket is None:
            self._socket = PacketSocket(
                self.interface, self.bpf_filter, buffer_bytes=self.buffer_bytes
            )
            logger.info("live capture started on one interface")

    def start(self) -> None:
        """Open the socket and read in a background thread."""
        if self._thread is not None:
            raise CaptureError("this live capture is already running; stop() it first")
        self.open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="callvault-live", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop reading and deliver every call in progress (returns once delivered)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise CaptureError("the live capture loop failed; see the log") from failure

    def run(self) -> None:
        """Read in this thread until `stop()`, SIGTERM or SIGINT; then deliver every call.

        Signal handlers are installed only when called from the main thread, and put back
        afterwards.
        """
        self.open()
        self._stop.clear()
        previous: dict[signal.Signals, signal._HANDLER] = {}
        if threading.current_thread() is threading.main_thread():

            def _handler(signum: int, frame: FrameType | None) -> None:
                self._stop.set()

            for wanted in (signal.SIGTERM, signal.SIGINT):
                previous[wanted] = signal.signal(wanted, _handler)
        try:
            self._loop()
        finally:
            for restored, handler in previous.items():
                signal.signal(restored, handler)
        self.stop()

    def __enter__(self) -> LiveCapture:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- control, from any thread (queued; applied by the capture thread) -----------------

    def pause_leg(self, call_key: str, channel: int, at: float) -> None:
        self.session.pause_leg(call_key, channel, at)

    def resume_leg(self, call_key: str, channel: int, at: float) -> None:
        self.session.resume_leg(call_key, channel, at)

    def withdraw_spoken(self, call_key: str, channel: int, at: float, confidence: float) -> None:
        self.session.withdraw_spoken(call_key, channel, at, confidence)

    def speech_started(self, call_key: str, channel: int, at: float) -> None:
        self.session.speech_started(call_key, channel, at)

    # -- the loop ------------------------------------------------------------------------

    def _loop(self) -> None:
        sock = self._socket
        assert sock is not None
        session = self.session
        linktype = sock.linktype
        next_tick = time.time() + TICK_S
        try:
            while not self._stop.is_set():
                frames = sock.recv_batch()
                with self._lock:
                    session.live_frames(frames, linktype)
                    now = time.time()
                    if now >= next_tick:
                        # Behind on a backlog, time is the packets' own clock: a call is
                        # not timed out for silence the loop has not read yet.
                        session.tick(min(now, session.last_time) if frames else now)
                        next_tick = now + TICK_S
                if not frames:
                    sock.wait(TICK_S)
            # Stopping: what the kernel already holds belongs to the calls; read it first.
            with self._lock:
                while frames := sock.recv_batch():
                    session.live_frames(frames, linktype)
                session.finish_all(time.time())
                self._close()
        except BaseException as error:  # noqa: BLE001 - reported by stop()
            self._failure = error
            logger.exception("live capture loop failed")
            with self._lock:
                try:
                    session.finish_all(time.time())
                finally:
                    self._close()

    def _close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._kernel = self._socket.statistics()
            self._socket = None

    def stats(self) -> LiveStats:
        """Counts so far (kernel counters included while the socket is open)."""
        with self._lock:
            sock = self._socket
            kernel = sock.statistics() if sock is not None else self._kernel
            s = self.session
            return LiveStats(
                kernel_packets=kernel[0],
                kernel_drops=kernel[1],
                packets=s.packets,
                sip_messages=s.sip_messages,
                rtp_packets=s.rtp_packets,
                discarded_packets=s.discarded_packets,
                unmapped_packets=s.unmapped_packets,
                calls_in_progress=len(s.calls),
                calls_started=s.calls_started,
                calls_refused=s.calls_refused,
                calls_delivered=s.calls_delivered,
                segments_delivered=s.segments_delivered,
                withdrawals=s.withdrawals,
                delivery_errors=s.delivery_errors,
            )
