"""What the SIPREC server shares with live capture (issue 20): the DTMF opt-out window,
media frames for a streaming monitor, PCI pauses and spoken withdrawals.

`SiprecLive` is held by `SiprecServer` and told of each call's answer (the start of the
Recording Session, which opens the opt-out window), each RTP packet it keeps, each tick
and each delivery. The window and the withdrawal work as in `capture.live`
(`capture._optout`): RFC 4733 key presses on a recorded stream are presses of the
participant whose leg it is; a single press of the digit inside the window withdraws
consent at the press, decided `inter_digit_s` later; from then on no RTP of the call is
kept and the delivered call is cut at the press. Every other press stays a DTMF event,
muted in the delivered audio.

The control methods (`pause_leg`, `resume_leg`, `withdraw_spoken`, `speech_started`)
may be called from any thread: they are handed to the server's event loop. Call times
are seconds from the Recording Session's INVITE (the first segment's start, whatever
segment is being recorded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from callvault.capture._control import (
    LegPause,
    MediaFrame,
    MediaTap,
    PauseLog,
    Withdrawal,
    edit_call,
    truncate_stream,
)
from callvault.capture._optout import OptOutRules, OptOutTracker
from callvault.capture.live._records import LiveNetworkCall
from callvault.capture.net._records import NetworkCall
from callvault.capture.net._rtp import STATIC_PAYLOAD_TYPES, CodecInfo, TelephoneEvent
from callvault.capture.net._stream import RtpStream

if TYPE_CHECKING:
    from callvault.capture.siprec._call import RecordingCall

__all__ = ["SiprecLive"]

logger = logging.getLogger("callvault.capture.siprec")

OnMedia = Callable[[MediaFrame], None]
OnCallStart = Callable[[object, str], None]
OnCallEnd = Callable[[str], None]
OnWithdrawal = Callable[[str, Withdrawal], None]


@dataclass
class _State:
    origin: float  # the INVITE's time: call time 0
    tracker: OptOutTracker
    presses: set[tuple[int, int, int]] = field(default_factory=set)
    taps: dict[int, MediaTap] = field(default_factory=dict)  # by id(stream)
    pauses: PauseLog = field(default_factory=PauseLog)
    withdrawal: Withdrawal | None = None


class SiprecLive:
    """The live parts of a SIPREC server (see the module doc)."""

    def __init__(
        self,
        *,
        optout: OptOutRules | None = None,
        on_media: OnMedia | None = None,
        on_call_start: OnCallStart | None = None,
        on_call_end: OnCallEnd | None = None,
        on_withdrawal: OnWithdrawal | None = None,
    ) -> None:
        self.optout = optout or OptOutRules(digit=None)
        self.optout.validate()
        self.on_media = on_media
        self.on_call_start = on_call_start
        self.on_call_end = on_call_end
        self.on_withdrawal = on_withdrawal
        self.loop: asyncio.AbstractEventLoop | None = None
        self.calls: dict[str, tuple[RecordingCall, _State]] = {}
        self.withdrawals = 0
        self.late_controls = 0
        self.callback_errors = 0

    # -- told by the server --------------------------------------------------------------

    def answered(self, call: RecordingCall) -> None:
        state = _State(call.started_at, OptOutTracker(self.optout))
        if call.answered_at is not None:
            state.tracker.answer(call.answered_at)
        self.calls[call.call_id] = (call, state)
        self._callback(self.on_call_start, call.offer, call.call_id)

    def keeps(self, call: RecordingCall) -> bool:
        """Whether RTP of `call` is still kept (not after a withdrawal)."""
        entry = self.calls.get(call.call_id)
        return entry is None or entry[1].withdrawal is None

    def packet(
        self,
        call: RecordingCall,
        channel: int,
        codecs: dict[int, CodecInfo],
        stream: RtpStream,
        data: bytes,
        arrival: float,
    ) -> None:
        """One RTP packet kept for `call` on `channel`'s stream."""
        entry = self.calls.get(call.call_id)
        if entry is None:
            return
        _, state = entry
        pt = data[1] & 0x7F
        info = codecs.get(pt)
        if info is not None and info.name.lower() == "telephone-event":
            start = 12 + (data[0] & 0x0F) * 4
            try:
                event = TelephoneEvent.parse(data[start : start + 4])
            except Exception:  # noqa: BLE001 - a short payload is not an event
                return
            press = (id(stream), int.from_bytes(data[4:8], "big"), event.event)
            if event.digit is not None and press not in state.presses:
                state.presses.add(press)
                state.tracker.press(event.digit, arrival, channel)
            return
        if self.on_media is None and not state.tracker.listening(channel, arrival):
            return
        tap = state.taps.get(id(stream))
        if tap is None:
            table = {**STATIC_PAYLOAD_TYPES, **codecs}
            tap = state.taps[id(stream)] = MediaTap(call.call_id, channel, table, state.origin)
        self._hand_out(state, tap.packet(arrival, data))

    def tick(self, now: float) -> None:
        for call, state in list(self.calls.values()):
            if state.tracker.pending:
                decision = state.tracker.due(now)
                if decision is not None:
                    self._withdraw(call, state, decision.channel, decision.at, "dtmf", None)

    def edits(
        self, call: RecordingCall, segment_start: float
    ) -> Callable[[NetworkCall], NetworkCall]:
        """Before a segment is delivered: flush the taps, and return what edits the
        built call (cut at a withdrawal, pauses zeroed, key tones muted)."""
        entry = self.calls.get(call.call_id)
        if entry is None:
            return lambda built: edit_call(built)
        _, state = entry
        for tap in state.taps.values():
            self._hand_out(state, tap.restart())
        shift = state.origin - segment_start  # call time -> seconds from this segment
        pauses = tuple(
            LegPause(p.channel, p.start + shift, None if p.end is None else p.end + shift)
            for p in state.pauses.take()
        )
        withdrawal = state.withdrawal
        cut = None if withdrawal is None else round(withdrawal.at + shift, 6)

        def edit(built: NetworkCall) -> NetworkCall:
            return LiveNetworkCall.from_call(
                edit_call(built, withdrawn_at=cut, pauses=pauses),
                withdrawn_at=cut,
                withdrawn_channel=None if withdrawal is None else withdrawal.channel,
                withdrawn_by=None if withdrawal is None else withdrawal.by,
                pauses=pauses,
            )

        return edit

    def ended(self, call: RecordingCall) -> None:
        """The call is finished (its last segment is about to be built)."""
        entry = self.calls.get(call.call_id)
        if entry is None:
            return
        _, state = entry
        decision = state.tracker.flush()
        if decision is not None:
            self._withdraw(call, state, decision.channel, decision.at, "dtmf", None)

    def forget(self, call: RecordingCall) -> None:
        if self.calls.pop(call.call_id, None) is not None:
            self._callback(self.on_call_end, call.call_id)

    # -- control, from any thread --------------------------------------------------------

    def pause_leg(self, call_key: str, channel: int, at: float) -> None:
        self._control("pause", call_key, channel, at, None)

    def resume_leg(self, call_key: str, channel: int, at: float) -> None:
        self._control("resume", call_key, channel, at, None)

    def withdraw_spoken(self, call_key: str, channel: int, at: float, confidence: float) -> None:
        self._control("withdraw", call_key, channel, at, confidence)

    def speech_started(self, call_key: str, channel: int, at: float) -> None:
        self._control("speech", call_key, channel, at, None)

    def _control(
        self, kind: str, call_key: str, channel: int, at: float, confidence: float | None
    ) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            self.late_controls += 1
            return
        loop.call_soon_threadsafe(self._apply, kind, call_key, channel, at, confidence)

    def _apply(
        self, kind: str, call_key: str, channel: int, at: float, confidence: float | None
    ) -> None:
        entry = self.calls.get(call_key)
        if entry is None or channel not in (0, 1):
            self.late_controls += 1
            return
        call, state = entry
        if kind == "pause":
            state.pauses.pause(channel, at)
        elif kind == "resume":
            state.pauses.resume(channel, at)
        elif kind == "withdraw":
            self._withdraw(call, state, channel, state.origin + at, "speech", confidence)
        elif kind == "speech":
            state.tracker.speech(channel, state.origin + at)

    # -- inside --------------------------------------------------------------------------

    def _withdraw(
        self,
        call: RecordingCall,
        state: _State,
        channel: int,
        moment: float,
        by: str,
        confidence: float | None,
    ) -> None:
        if state.withdrawal is not None:
            return
        state.withdrawal = Withdrawal(channel, round(moment - state.origin, 6), by, confidence)
        for port in call.ports:  # nothing that arrived after the moment is kept
            if port is None:
                continue
            recorded = port.recorded.streams
            for key, stream in list(recorded.items()):
                kept, _ = truncate_stream(stream, moment)
                recorded[key] = kept
                for short, same in list(port.streams.items()):
                    if same is stream:
                        port.streams[short] = kept
        self.withdrawals += 1
        logger.info("SIPREC: consent withdrawn (%s); audio no longer kept", by)
        self._callback(self.on_withdrawal, call.call_id, state.withdrawal)

    def _hand_out(self, state: _State, frames: list[MediaFrame]) -> None:
        for frame in frames:
            at = state.origin + frame.call_time
            if state.tracker.listening(frame.channel, at):
                state.tracker.audio(frame.channel, at, frame.pcm, frame.sample_rate)
            if self.on_media is not None:
                self._callback(self.on_media, frame)

    def _callback(self, function: Callable[..., None] | None, *args: object) -> None:
        if function is None:
            return
        try:
            function(*args)
        except Exception as error:  # noqa: BLE001 - a callback never stops the server
            self.callback_errors += 1
            logger.error("SIPREC live callback raised %s", type(error).__name__)
