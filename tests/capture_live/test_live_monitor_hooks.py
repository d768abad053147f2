"""LiveSession's hooks for the streaming monitor (issue 20): decoded media frames as
packets arrive, call start/end, PCI pause and resume, a spoken withdrawal."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import pytest

from callvault.capture.live import (
    InviteInfo,
    LegPause,
    LiveNetworkCall,
    LiveSession,
    MediaFrame,
    OptOutRules,
    Withdrawal,
)
from capture_live._calls import ANSWER_S, crafted_call, play
from capture_live._peer import decoded, known_ulaw


class Monitor:
    def __init__(self) -> None:
        self.calls: list[LiveNetworkCall] = []
        self.frames: list[MediaFrame] = []
        self.started: list[tuple[str, str]] = []
        self.ended: list[str] = []
        self.withdrawals: list[Withdrawal] = []

    def session(self, **options: object) -> LiveSession:
        return LiveSession(
            self.calls.append,
            on_media=self.frames.append,
            on_call_start=lambda info, key: self.started.append((info.call_id, key)),
            on_call_end=self.ended.append,
            on_withdrawal=self.on_withdrawal,
            **options,  # type: ignore[arg-type]
        )

    def on_withdrawal(self, invite: InviteInfo, withdrawal: Withdrawal) -> None:
        self.withdrawals.append(withdrawal)


def _origin(call: LiveNetworkCall) -> float:
    assert call.audio_started_at is not None and call.started_at is not None
    return (call.audio_started_at - call.started_at).total_seconds()


def _leg(call: LiveNetworkCall, channel: int) -> npt.NDArray[np.int16]:
    (leg,) = [leg for leg in call.legs if leg.channel == channel]
    return leg.pcm


def _reassemble(
    frames: list[MediaFrame], channel: int, origin: float, size: int
) -> npt.NDArray[np.int16]:
    out = np.zeros(size, dtype=np.int16)
    for frame in frames:
        if frame.channel == channel:
            at = round((frame.call_time - origin) * frame.sample_rate)
            out[at : at + len(frame.pcm)] = frame.pcm[: max(0, size - at)]
    return out


def _swap(frames: list[tuple[float, bytes]], first: int, second: int) -> None:
    """Deliver frame `first` at the time of `second` and the other way round."""
    (t1, d1), (t2, d2) = frames[first], frames[second]
    frames[first], frames[second] = (t1, d2), (t2, d1)


def test_media_frames_rebuild_the_delivered_legs_sample_for_sample() -> None:
    monitor = Monitor()
    session = monitor.session()
    frames = crafted_call(
        "media@test", caller_audio=known_ulaw(8000 * 3, 1), callee_audio=known_ulaw(8000 * 3, 2)
    )
    # Out of order on the wire (caller packets 40 and 41 swap), and one callee packet lost.
    _swap(frames, 2 + 2 * 40, 2 + 2 * 41)
    del frames[2 + 2 * 90 + 1]
    play(session, frames)
    session.tick(frames[-1][0] + 1.0)
    (call,) = monitor.calls
    assert monitor.started == [("media@test", "media@test")] and monitor.ended == ["media@test"]
    assert {f.call_key for f in monitor.frames} == {"media@test"}
    assert all(f.sample_rate == 8000 and len(f.pcm) for f in monitor.frames)
    origin = _origin(call)
    for channel in (0, 1):
        delivered = _leg(call, channel)
        rebuilt = _reassemble(monitor.frames, channel, origin, len(delivered))
        np.testing.assert_array_equal(rebuilt, delivered)
    # The lost packet is a gap of zeros in both, and the frames join without holes.
    callee = sorted((f for f in monitor.frames if f.channel == 1), key=lambda f: f.call_time)
    for before, after in zip(callee, callee[1:], strict=False):
        assert after.call_time == pytest.approx(before.call_time + len(before.pcm) / 8000)


def test_a_packet_later_than_the_reorder_buffer_is_dropped_from_the_frames() -> None:
    monitor = Monitor()
    session = monitor.session()
    frames = crafted_call(
        "late@test", caller_audio=known_ulaw(8000 * 2, 3), callee_audio=known_ulaw(8000 * 2, 4)
    )
    late = frames.pop(2 + 2 * 30)  # caller packet 30 arrives 10 packets late
    frames.insert(2 + 2 * 40, (frames[2 + 2 * 40][0], late[1]))
    play(session, frames)
    session.tick(frames[-1][0] + 1.0)
    (call,) = monitor.calls
    delivered = _leg(call, 0)
    rebuilt = _reassemble(monitor.frames, 0, _origin(call), len(delivered))
    differ = np.flatnonzero(rebuilt != delivered)
    assert len(differ) == 160 and not rebuilt[differ].any()  # that packet's place: zeros


def _pcm_call(call_id: str, seconds: float = 4.0) -> list[tuple[float, bytes]]:
    samples = int(8000 * seconds)
    return crafted_call(
        call_id, caller_audio=known_ulaw(samples, 5), callee_audio=known_ulaw(samples, 6)
    )


def test_pause_and_resume_are_sample_exact_in_the_delivered_call() -> None:
    monitor = Monitor()
    session = monitor.session()
    frames = _pcm_call("pci@test")
    play(session, frames[:150])  # 1.5 s of the call has been captured
    # The monitor hears card digits being read and pauses the customer's leg at 1.2 s of
    # call time (already past in the capture), then resumes it at 2.7 s; from its thread.
    worker = threading.Thread(
        target=lambda: (
            session.pause_leg("pci@test", 0, 1.2),
            session.resume_leg("pci@test", 0, 2.7),
        )
    )
    worker.start()
    worker.join()
    play(session, frames[150:])
    session.tick(frames[-1][0] + 1.0)
    (call,) = monitor.calls
    assert call.pauses == (LegPause(0, 1.2, 2.7),)
    origin = _origin(call)
    start, end = round((1.2 - origin) * 8000), round((2.7 - origin) * 8000)
    paused = _leg(call, 0)
    untouched = _reassemble(monitor.frames, 0, origin, len(paused))  # frames are not paused
    assert not paused[start:end].any()
    np.testing.assert_array_equal(paused[:start], untouched[:start])
    np.testing.assert_array_equal(paused[end:], untouched[end:])
    assert paused[start - 1] != 0 and paused[end] != 0  # the edges are exact
    callee = _leg(call, 1)
    assert np.array_equal(callee, _reassemble(monitor.frames, 1, origin, len(callee)))


def test_a_pause_still_going_at_the_end_covers_the_rest_of_the_leg() -> None:
    monitor = Monitor()
    session = monitor.session()
    frames = _pcm_call("open@test", 2.0)
    play(session, frames[:50])
    session.pause_leg("open@test", 1, 1.0)
    play(session, frames[50:])
    session.tick(frames[-1][0] + 1.0)
    (call,) = monitor.calls
    assert call.pauses == (LegPause(1, 1.0, None),)
    leg = _leg(call, 1)
    assert not leg[round((1.0 - _origin(call)) * 8000) :].any()
    assert leg[8 : round((1.0 - _origin(call)) * 8000)].all()  # from the callee's start


def test_a_spoken_refusal_cuts_at_its_moment() -> None:
    monitor = Monitor()
    session = monitor.session(optout=OptOutRules(digit=None))
    frames = _pcm_call("said@test", 5.0)
    play(session, frames[:300])  # 3 s in; the refusal was said at 2 s
    session.withdraw_spoken("said@test", 0, ANSWER_S + 1.5, 0.93)
    play(session, frames[300:])
    session.tick(frames[-1][0] + 1.0)
    (call,) = monitor.calls
    assert monitor.withdrawals == [Withdrawal(0, ANSWER_S + 1.5, "speech", 0.93)]
    assert (call.withdrawn_at, call.withdrawn_channel, call.withdrawn_by) == (
        ANSWER_S + 1.5,
        0,
        "speech",
    )
    cut = round((ANSWER_S + 1.5 - _origin(call)) * 8000)
    for channel in (0, 1):
        leg = _leg(call, channel)
        assert len(leg) == cut
        lag = 8 * channel  # the callee's packets come 1 ms after the caller's
        sent = np.concatenate([np.zeros(lag, np.int16), decoded(known_ulaw(40000, 5 + channel))])
        np.testing.assert_array_equal(leg, sent[:cut])
    # Nothing after the refusal is kept: the packets that came after it were dropped.
    assert session.discarded_packets > 2 * 100


def test_controls_for_a_call_that_is_not_in_progress_are_counted_and_ignored() -> None:
    monitor = Monitor()
    session = monitor.session()
    session.pause_leg("nobody@test", 0, 1.0)
    session.tick(0.0)
    assert session.late_controls == 1


def test_without_on_media_the_fast_path_is_used_once_the_window_is_past() -> None:
    calls: list[LiveNetworkCall] = []
    session = LiveSession(calls.append)
    frames = _pcm_call("fast@test", 2.0)
    play(session, frames)
    # The agent (callee) spoke at once, closing the opt-out window: its stream and the
    # caller's are then taken by the fast path (the cache holds both).
    assert len(session.fast) == 2
    session.tick(frames[-1][0] + 1.0)
    assert len(calls) == 1
