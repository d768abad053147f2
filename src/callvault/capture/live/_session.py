"""The incremental capture session: calls are finished while the capture goes on.

`LiveSession` is the offline `CaptureSession` (same packet decoder, SIP dialogs, SDP
endpoints, RTP streams, decoding and quality) with three differences:

1. An RTP stream is tied to its call when its first packet arrives (by the SDP in force
   then, or as the reverse of a tied flow), not at the end of the capture. A stream no
   SDP names yet waits, bounded, until one does or until it times out.
2. The policy is asked once per call, at its first INVITE (`decide`); a call it refuses,
   or a call whose participant withdrew, has no more RTP kept from that moment on. A
   withdrawal is the digit (RFC 4733 event or SIP INFO) pressed where the notice offers
   it (`capture._optout`: a single press inside the opt-out window, decided
   `inter_digit_s` after the press, cut at the press), or a spoken refusal the streaming
   monitor reports (`withdraw_spoken`). Other presses stay DTMF events, muted in the
   delivered audio.
3. `tick(now)` finishes calls (BYE, CANCEL or a final error, RTP timeout) and cuts long
   ones into segments; each is decoded, delivered through `on_call` and its packets freed.
   `finish_all` ends every call in progress (capture stopped).

Hooks for a streaming monitor (issue 20): `on_call_start(info, call_key)` and
`on_call_end(call_key)` bracket each kept call (`call_key` is its SIP Call-ID);
`on_media(frame)` gets the decoded audio of every kept RTP packet as a `MediaFrame`
(`capture._control.MediaTap`: reordered over 3 packets, gaps zero-filled, late packets
dropped, placed as the delivered legs are). The control methods `pause_leg`,
`resume_leg`, `withdraw_spoken` and `speech_started` may be called from any thread:
they are queued and applied by the capture thread before its next batch of frames or
tick, at the call time they name (seconds from the call's start), so a pause is
sample-exact in the delivered audio although it is asked for seconds later. A pause or
withdrawal reaching back into a segment already delivered applies from the next segment.

The fast path in `frame` takes plain IPv4/UDP RTP on Ethernet without the general
decoder; every other frame goes the offline way. A stream whose audio is decoded as it
arrives (`on_media` set, or the agent's leg while the opt-out window waits for the
agent's first words) takes the slower way. Nothing here logs personal data.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from callvault.capture._control import (
    MediaFrame,
    MediaTap,
    PauseLog,
    Withdrawal,
    edit_call,
    truncate_stream,
)
from callvault.capture._optout import OptOutRules, OptOutTracker
from callvault.capture.live._records import InviteInfo, LiveNetworkCall
from callvault.capture.net import (
    END_CAPTURE_ENDED,
    END_RTP_TIMEOUT,
    CaptureSession,
    NetworkCall,
    Party,
)
from callvault.capture.net._assemble import stream_codecs
from callvault.capture.net._engine import Dialog, StreamKey
from callvault.capture.net._rtp import TelephoneEvent
from callvault.capture.net._sip import NameAddress, SipMessage
from callvault.capture.net._stream import RtpStream

__all__ = ["LiveSession"]

logger = logging.getLogger("callvault.capture.live")

#: after BYE, CANCEL or a final error, RTP still in flight is waited for this long
END_GRACE_S = 0.5
#: an unanswered call (ringing) ends after this long without any packet
RING_TIMEOUT_S = 300.0
#: packets of a finished call arriving later are discarded for this long
CLOSED_LINGER_S = 10.0
#: RTP that no SDP names yet: streams and packets per stream kept while waiting
MAX_PENDING_STREAMS = 4096
MAX_PENDING_PACKETS = 500  # 10 s at 20 ms

#: segments cut per `tick` at most (calls that are ending are never held back)
MAX_CUTS_PER_TICK = 8

Decide = Callable[[InviteInfo], bool]
OnCall = Callable[[LiveNetworkCall], None]
OnWithdrawal = Callable[[InviteInfo, Withdrawal], None]
OnMedia = Callable[[MediaFrame], None]
OnCallStart = Callable[[InviteInfo, str], None]
OnCallEnd = Callable[[str], None]
_Flow = tuple[bytes, int, bytes, int]
_Command = tuple[str, str, int, float, float | None]


@dataclass
class _Call:
    dialog: Dialog
    info: InviteInfo
    keep: bool
    segment_started: float
    last_activity: float
    keys: dict[StreamKey, int] = field(default_factory=dict)  # stream -> channel
    streams: dict[StreamKey, RtpStream] = field(default_factory=dict)
    segment: int = 0
    withdrawn_at: float | None = None
    withdrawn_channel: int | None = None
    withdrawn_by: str | None = None
    event_pts: frozenset[int] = frozenset()
    keeping: bool = True  # keep, and not withdrawn: packets are still added
    tracker: OptOutTracker = field(default_factory=lambda: OptOutTracker(OptOutRules(None)))
    presses: set[tuple[StreamKey, int, int]] = field(default_factory=set)
    taps: dict[StreamKey, MediaTap] = field(default_factory=dict)
    pauses: PauseLog = field(default_factory=PauseLog)

    def __post_init__(self) -> None:
        self.keeping = self.keep


@dataclass
class _Pending:
    stream: RtpStream
    last_time: float
    dropped: int = 0


def _party(address: NameAddress) -> Party:
    return Party(address.display_name, address.user, address.e164)


def _fast_key(key: StreamKey) -> bytes:
    """A stream key as the bytes an Ethernet/IPv4/UDP/RTP frame holds it in (26-38, 50-54)."""
    src, sport, dst, dport, ssrc = key
    return src + dst + sport.to_bytes(2) + dport.to_bytes(2) + ssrc


def _utc(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, tz=UTC)


class LiveSession(CaptureSession):
    """A capture session fed frame by frame that delivers each call when it ends.

    `on_call` gets every finished call or segment (see `LiveNetworkCall`); `decide` is
    asked at each new INVITE whether to keep the call's media (an exception counts as
    no: the policy fails closed); `on_withdrawal(call, withdrawal)` is told when a
    participant withdraws: the digit of `optout` pressed where it is honoured (default
    `OptOutRules(digit=withdraw_digit)`), or a spoken refusal (`withdraw_spoken`). Frame
    times are UNIX seconds; times handed out are seconds from the call's start.
    """

    def __init__(
        self,
        on_call: OnCall,
        *,
        decide: Decide | None = None,
        on_withdrawal: OnWithdrawal | None = None,
        rtp_timeout: float = 30.0,
        segment_seconds: float = 300.0,
        withdraw_digit: str | None = "9",
        optout: OptOutRules | None = None,
        on_media: OnMedia | None = None,
        on_call_start: OnCallStart | None = None,
        on_call_end: OnCallEnd | None = None,
    ) -> None:
        super().__init__()
        if rtp_timeout <= 0 or segment_seconds <= 0:
            raise ValueError("rtp_timeout and segment_seconds must be positive")
        self.optout = optout if optout is not None else OptOutRules(digit=withdraw_digit)
        self.optout.validate()
        self.on_call = on_call
        self.decide = decide
        self.on_withdrawal = on_withdrawal
        self.on_media = on_media
        self.on_call_start = on_call_start
        self.on_call_end = on_call_end
        self.rtp_timeout = rtp_timeout
        self.segment_seconds = segment_seconds
        self.withdraw_digit = self.optout.digit
        self._commands: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self.calls: dict[str, _Call] = {}
        self.routes: dict[StreamKey, _Call] = {}
        self.flows: dict[_Flow, tuple[_Call, int]] = {}
        self.pending: dict[StreamKey, _Pending] = {}
        self.fast: dict[bytes, tuple[_Call, RtpStream]] = {}
        self.closed_keys: dict[StreamKey, float] = {}
        self.closed_calls: dict[str, float] = {}
        self.discarded_packets = 0
        self.unmapped_packets = 0
        self.calls_started = 0
        self.calls_refused = 0
        self.calls_delivered = 0
        self.segments_delivered = 0
        self.withdrawals = 0
        self.delivery_errors = 0
        self.late_controls = 0  # control calls for a call no longer in progress

    # -- packets in ----------------------------------------------------------------------

    def live_frames(self, frames: list[tuple[float, bytes]], linktype: int) -> None:
        """Frames in arrival order, as `live_frame` takes them one by one, with the common
        case inlined: audio RTP on a stream already tied to a call whose media is kept.

        Those streams are looked up by the frame's own bytes (addresses, ports, SSRC) in
        `fast`, a cache filled by `rtp_packet` and emptied of a call's streams whenever
        `_deliver` or `_finish` replaces or drops them.
        """
        self._apply_commands()
        fast = self.fast
        count = 0
        last = self.last_time
        for time, data in frames:
            if (
                linktype == 1
                and len(data) >= 54
                and data[42] == 0x80  # RTP version 2, no padding, extension or CSRC
                and data[23] == 17  # UDP
                and data[14] == 0x45  # IPv4 without options
                and data[12:14] == b"\x08\x00"
                and not data[20] & 0x3F  # not a fragment
                and not data[21]
            ):
                entry = fast.get(data[26:38] + data[50:54])
                if entry is not None:
                    call, stream = entry
                    total = (data[16] << 8) | data[17]
                    if (
                        call.keeping
                        and 40 <= total <= len(data) - 14
                        and (data[43] & 0x7F) not in call.event_pts
                        and not 192 <= data[43] < 224  # RTCP, multiplexed (RFC 5761)
                    ):
                        stream.add(time, data[42 : 14 + total])
                        call.last_activity = time
                        count += 1
                        if time > last:
                            last = time
                        continue
            self.live_frame(time, linktype, data)
        self.packets += count
        self.datagrams += count
        self.rtp_packets += count
        if last > self.last_time:
            self.last_time = last

    def live_frame(self, time: float, linktype: int, data: bytes) -> None:
        """One captured frame; plain IPv4/UDP RTP on Ethernet skips the general decoder."""
        self.packets += 1
        if (
            linktype == 1
            and len(data) >= 54
            and data[12] == 8
            and data[13] == 0
            and data[14] == 0x45  # IPv4 without options
            and data[23] == 17  # UDP
            and data[42] == 0x80  # RTP version 2, no padding, extension or CSRC
            and not data[20] & 0x3F  # not a fragment
            and not data[21]
            and not 192 <= data[43] < 224  # RTCP goes the general way (RFC 5761)
        ):
            total = (data[16] << 8) | data[17]
            if 40 <= total <= len(data) - 14:
                if time > self.last_time:
                    self.last_time = time
                self.datagrams += 1
                key = (
                    data[26:30],
                    (data[34] << 8) | data[35],
                    data[30:34],
                    (data[36] << 8) | data[37],
                    data[50:54],
                )
                self.rtp_packet(key, time, data[42 : 14 + total])
                return
        self.frame(time, linktype, data)

    def rtp_packet(self, key: StreamKey, time: float, payload: bytes) -> None:
        call = self.routes.get(key)
        if call is None:
            call = self._route(key, time)
            if call is None:
                self._wait(key, time, payload)
                return
        call.last_activity = time
        stream = call.streams.get(key)
        if stream is None or not call.keeping:  # refused, or withdrawn before this packet
            self.discarded_packets += 1
            return
        stream.add(time, payload)
        self.rtp_packets += 1
        channel = call.keys[key]
        if self.on_media is not None or call.tracker.listening(channel, time):
            self._tap(call, key, channel, time, payload)
        else:
            self.fast[_fast_key(key)] = (call, stream)
        if call.event_pts and (payload[1] & 0x7F) in call.event_pts:
            self._telephone_event(call, key, time, payload)

    def _tap(self, call: _Call, key: StreamKey, channel: int, time: float, packet: bytes) -> None:
        """Decode one packet as it arrives: for `on_media` and the agent's first words."""
        tap = call.taps.get(key)
        if tap is None:
            codecs = stream_codecs(RtpStream(key[0], key[1], key[2], key[3], 0), call.dialog)
            tap = call.taps[key] = MediaTap(
                call.dialog.call_id, channel, codecs, call.dialog.started_at
            )
        self._hand_out(call, tap.packet(time, packet))

    def _hand_out(self, call: _Call, frames: list[MediaFrame]) -> None:
        start = call.dialog.started_at
        for frame in frames:
            at = start + frame.call_time
            if call.tracker.listening(frame.channel, at):
                call.tracker.audio(frame.channel, at, frame.pcm, frame.sample_rate)
            if self.on_media is not None:
                try:
                    self.on_media(frame)
                except Exception as error:  # noqa: BLE001 - a callback never stops the capture
                    self.delivery_errors += 1
                    logger.error("on_media callback raised %s", type(error).__name__)

    def _route(self, key: StreamKey, time: float) -> _Call | None:
        """Tie a new stream to its call (as `CaptureSession._place` does at the end)."""
        if key in self.closed_keys:
            return None
        src, sport, dst, dport, _ = key
        channel: int | None = None
        call: _Call | None = None
        endpoint = self._lookup(dst, dport, time)
        if endpoint is not None:
            call, channel = self.calls.get(endpoint.dialog.call_id), 1 - endpoint.side
        else:
            endpoint = self._lookup(src, sport, time)
            if endpoint is not None:
                call, channel = self.calls.get(endpoint.dialog.call_id), endpoint.side
            else:
                reverse = self.flows.get((dst, dport, src, sport))
                if reverse is not None:
                    call, channel = reverse[0], 1 - reverse[1]
        if call is None or channel is None:
            return None
        self._attach(call, key, channel)
        waiting = self.pending.pop(key, None)
        if waiting is not None and key in call.streams:
            call.streams[key] = waiting.stream
            self.rtp_packets += len(waiting.stream)
        elif waiting is not None:
            self.discarded_packets += len(waiting.stream)
        return call

    def _attach(self, call: _Call, key: StreamKey, channel: int) -> None:
        self.routes[key] = call
        call.keys[key] = channel
        self.flows[key[:4]] = (call, channel)
        if call.keeping:
            call.streams[key] = RtpStream(key[0], key[1], key[2], key[3], int.from_bytes(key[4]))

    def _wait(self, key: StreamKey, time: float, payload: bytes) -> None:
        if key in self.closed_keys:
            self.discarded_packets += 1
            return
        waiting = self.pending.get(key)
        if waiting is None:
            if len(self.pending) >= MAX_PENDING_STREAMS:
                self.unmapped_packets += 1
                return
            stream = RtpStream(key[0], key[1], key[2], key[3], int.from_bytes(key[4]))
            waiting = self.pending[key] = _Pending(stream, time)
        waiting.last_time = time
        if len(waiting.stream) >= MAX_PENDING_PACKETS:
            waiting.dropped += 1
            return
        waiting.stream.add(time, payload)

    def sip(self, message: SipMessage, time: float) -> None:
        call_id = message.call_id
        if call_id in self.closed_calls:
            return  # a retransmission or the 200 OK to BYE of a call already delivered
        infos = len(self.dialogs[call_id].dtmf) if call_id in self.dialogs else 0
        super().sip(message, time)
        dialog = self.dialogs.get(call_id)
        if dialog is None:
            return
        call = self.calls.get(call_id)
        if call is None:
            call = self._new_call(dialog, message, time)
        call.last_activity = time
        call.event_pts = frozenset(
            pt
            for side in (0, 1)
            for pt, codec in dialog.rtpmaps[side].items()
            if codec.name.lower() == "telephone-event"
        )
        if dialog.answered_at is not None and call.tracker.answered_at is None:
            call.tracker.answer(dialog.answered_at)
            for key in call.keys:  # the agent's leg is listened to from now on
                self.fast.pop(_fast_key(key), None)
        if len(dialog.dtmf) > infos:  # SIP INFO DTMF (RFC 6086 usage)
            digit, when, _, side = dialog.dtmf[-1]
            call.tracker.press(digit, when, side)
        if self.pending and message.body:
            for key in list(self.pending):  # an SDP may name where waiting RTP goes
                self._route(key, self.pending[key].last_time)

    def _new_call(self, dialog: Dialog, message: SipMessage, time: float) -> _Call:
        info = InviteInfo(
            call_id=dialog.call_id,
            caller=_party(dialog.caller),
            callee=_party(dialog.callee),
            user_agent=message.header("user-agent"),
            invited_at=_utc(dialog.started_at),
        )
        keep = True
        if self.decide is not None:
            try:
                keep = bool(self.decide(info))
            except Exception as error:  # noqa: BLE001 - the policy fails closed
                logger.error(
                    "decide callback raised %s: the call's media is not kept",
                    type(error).__name__,
                )
                keep = False
        self.calls_started += 1
        if not keep:
            self.calls_refused += 1
        call = self.calls[dialog.call_id] = _Call(dialog, info, keep, time, time)
        call.tracker = OptOutTracker(self.optout)
        if keep and self.on_call_start is not None:
            try:
                self.on_call_start(info, dialog.call_id)
            except Exception as error:  # noqa: BLE001 - a callback never stops the capture
                self.delivery_errors += 1
                logger.error("on_call_start callback raised %s", type(error).__name__)
        return call

    def _telephone_event(self, call: _Call, key: StreamKey, time: float, payload: bytes) -> None:
        start = 12 + (payload[0] & 0x0F) * 4
        try:
            event = TelephoneEvent.parse(payload[start : start + 4])
        except Exception:  # noqa: BLE001 - a short payload is not an event
            return
        if event.digit is None:
            return
        # One press is many packets sharing its RTP timestamp (RFC 4733 section 2.5.1.2).
        press = (key, int.from_bytes(payload[4:8], "big"), event.event)
        if press not in call.presses:
            call.presses.add(press)
            call.tracker.press(event.digit, time, call.keys[key])

    def _withdraw(
        self,
        call: _Call,
        channel: int,
        time: float,
        *,
        by: str = "dtmf",
        confidence: float | None = None,
    ) -> None:
        """From `time` on, nothing more of this call is kept (consent withdrawn).

        The decision may come after `time` (a press is decided `inter_digit_s` later; a
        spoken refusal is heard seconds later): packets that arrived after it are
        dropped from the streams now, and playout after it is cut at delivery.
        """
        if call.withdrawn_at is not None or not call.keep:
            return
        call.withdrawn_at = time
        call.withdrawn_channel = channel
        call.withdrawn_by = by
        call.keeping = False
        for key in call.keys:
            self.fast.pop(_fast_key(key), None)
        for key, stream in list(call.streams.items()):
            call.streams[key], dropped = truncate_stream(stream, time)
            self.discarded_packets += dropped
        self.withdrawals += 1
        logger.info("consent withdrawn (%s) on channel %d; audio no longer kept", by, channel)
        if self.on_withdrawal is not None:
            withdrawal = Withdrawal(
                channel, round(time - call.dialog.started_at, 6), by, confidence
            )
            try:
                self.on_withdrawal(call.info, withdrawal)
            except Exception as error:  # noqa: BLE001 - a callback never stops the capture
                self.delivery_errors += 1
                logger.error("on_withdrawal callback raised %s", type(error).__name__)

    # -- control, from any thread --------------------------------------------------------

    def pause_leg(self, call_key: str, channel: int, at: float) -> None:
        """PCI pause: `channel`'s audio is not kept from call time `at` (thread-safe)."""
        self._commands.put(("pause", call_key, channel, at, None))

    def resume_leg(self, call_key: str, channel: int, at: float) -> None:
        """End a PCI pause at call time `at` (thread-safe)."""
        self._commands.put(("resume", call_key, channel, at, None))

    def withdraw_spoken(self, call_key: str, channel: int, at: float, confidence: float) -> None:
        """A spoken refusal at call time `at`: as the withdrawal digit, `by` "speech"."""
        self._commands.put(("withdraw", call_key, channel, at, confidence))

    def speech_started(self, call_key: str, channel: int, at: float) -> None:
        """Someone started speaking on `channel` at call time `at` (closes the opt-out
        window when it is the agent, after the notice)."""
        self._commands.put(("speech", call_key, channel, at, None))

    def _apply_commands(self) -> None:
        commands = self._commands
        while not commands.empty():
            try:
                kind, call_key, channel, at, confidence = commands.get_nowait()
            except queue.Empty:
                return
            call = self.calls.get(call_key)
            if call is None or not call.keep or channel not in (0, 1):
                self.late_controls += 1
                continue
            moment = call.dialog.started_at + at
            if kind == "pause":
                call.pauses.pause(channel, at)
            elif kind == "resume":
                call.pauses.resume(channel, at)
            elif kind == "withdraw":
                self._withdraw(call, channel, moment, by="speech", confidence=confidence)
            elif kind == "speech":
                call.tracker.speech(channel, moment)

    def _decide_presses(self, call: _Call, now: float | None) -> None:
        decision = call.tracker.due(now) if now is not None else call.tracker.flush()
        if decision is not None:
            self._withdraw(call, decision.channel, decision.at)

    # -- calls out -------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Finish the calls that ended and cut the ones that ran a segment long."""
        self._apply_commands()
        cuts = 0
        for call in list(self.calls.values()):
            if call.tracker.pending:
                self._decide_presses(call, now)
            dialog = call.dialog
            idle = now - max(call.last_activity, dialog.last_time)
            if dialog.end_reason is not None or dialog.pending_error is not None:
                if now - (dialog.ended_at or dialog.last_time) >= END_GRACE_S:
                    self._finish(call, None, now)
            elif idle > (self.rtp_timeout if dialog.answered_at else RING_TIMEOUT_S):
                self._finish(call, END_RTP_TIMEOUT, max(call.last_activity, dialog.last_time))
            elif (
                cuts < MAX_CUTS_PER_TICK
                and call.keep
                and (call.keeping or call.streams)
                and not call.tracker.pending  # a press waits: its cut may fall here
                and now - call.segment_started >= self.segment_seconds
            ):
                # Calls that started together are cut a few per tick, so decoding never
                # holds the capture loop long enough for the kernel buffer to fill.
                cuts += 1
                self._deliver(call, final=False)
                call.segment_started = now
        for key, waiting in list(self.pending.items()):
            if now - waiting.last_time > self.rtp_timeout:
                self.unmapped_packets += len(waiting.stream) + waiting.dropped
                del self.pending[key]
        for key, until in list(self.closed_keys.items()):
            if until < now:
                del self.closed_keys[key]
        for call_id, until in list(self.closed_calls.items()):
            if until < now:
                del self.closed_calls[call_id]

    def finish_all(self, now: float) -> None:
        """The capture stops: deliver every call in progress as it stands."""
        self._apply_commands()
        for call in list(self.calls.values()):
            self._finish(call, END_CAPTURE_ENDED, now)
        self.unmapped_packets += sum(len(w.stream) + w.dropped for w in self.pending.values())
        self.pending.clear()

    def _finish(self, call: _Call, reason: str | None, when: float) -> None:
        dialog = call.dialog
        if reason is not None and dialog.end_reason is None and dialog.pending_error is None:
            dialog.end_reason = reason
            dialog.ended_at = when
        if call.keep:
            self._decide_presses(call, None)
            self._deliver(call, final=True)
            if self.on_call_end is not None:
                try:
                    self.on_call_end(dialog.call_id)
                except Exception as error:  # noqa: BLE001 - a callback never stops the capture
                    self.delivery_errors += 1
                    logger.error("on_call_end callback raised %s", type(error).__name__)
        self.forget(dialog)
        del self.calls[dialog.call_id]
        until = when + max(CLOSED_LINGER_S, self.rtp_timeout)
        self.closed_calls[dialog.call_id] = until
        for key in call.keys:
            self.fast.pop(_fast_key(key), None)
            self.routes.pop(key, None)
            self.flows.pop(key[:4], None)
            self.closed_keys[key] = until

    def _deliver(self, call: _Call, *, final: bool) -> None:
        """Decode this call's packets so far into one `LiveNetworkCall`, then free them."""
        for key in call.keys:
            self.fast.pop(_fast_key(key), None)  # its streams are replaced below
        for tap in call.taps.values():
            self._hand_out(call, tap.restart())
        if final:
            call.taps.clear()
        legs: dict[int, list[RtpStream]] = {0: [], 1: []}
        for key, stream in call.streams.items():
            legs[call.keys[key]].append(stream)
        built: NetworkCall | None = None
        try:
            built = self.build_call(call.dialog, legs)
        except Exception as error:  # noqa: BLE001 - one bad call never stops the capture
            self.delivery_errors += 1
            logger.error("a call could not be decoded (%s); it is lost", type(error).__name__)
        segment = call.segment
        call.segment += 1
        call.dialog.dtmf.clear()  # SIP INFO digits go with the segment they fell in
        for key in list(call.streams):  # the packets are decoded: start afresh
            if call.keeping:
                stream = call.streams[key]
                call.streams[key] = RtpStream(
                    stream.src, stream.sport, stream.dst, stream.dport, stream.ssrc
                )
            else:
                del call.streams[key]
        pauses = call.pauses.take()
        if built is None:
            return
        withdrawn = call.withdrawn_at
        withdrawn_at = (
            round(withdrawn - call.dialog.started_at, 6) if withdrawn is not None else None
        )
        # Nothing from the moment of withdrawal on (cut what playout put after it),
        # nothing of a paused leg, no key tones.
        built = edit_call(built, withdrawn_at=withdrawn_at, pauses=pauses)
        extra = {} if final else {"end_reason": None, "ended_at": None}
        delivered = LiveNetworkCall.from_call(
            built,
            segment=segment,
            final=final,
            withdrawn_at=withdrawn_at,
            withdrawn_channel=call.withdrawn_channel,
            withdrawn_by=call.withdrawn_by,
            pauses=pauses,
            **extra,
        )
        self.segments_delivered += 1
        if final:
            self.calls_delivered += 1
        try:
            self.on_call(delivered)
        except Exception as error:  # noqa: BLE001 - a callback never stops the capture
            self.delivery_errors += 1
            logger.error("on_call callback raised %s; a call was not stored", type(error).__name__)
