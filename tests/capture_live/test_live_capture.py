"""LiveCapture on the loopback interface (root): scripted calls over real UDP sockets."""

from __future__ import annotations

import ctypes.util
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from callvault.capture._control import DTMF_MUTE_PAD_S
from callvault.capture.live import (
    InviteInfo,
    LiveCapture,
    LiveNetworkCall,
    OptOutRules,
    Withdrawal,
)
from callvault.capture.net import END_BYE_CALLER, END_CAPTURE_ENDED, END_RTP_TIMEOUT
from capture_live._peer import PTIME_SAMPLES, ScriptedCall, decoded, known_ulaw

WAIT_S = 5.0


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        _missing("live capture tests need root (an AF_PACKET socket on lo): run them as root")
    if ctypes.util.find_library("pcap") is None:
        _missing("capture filters need libpcap: apt-get install -y libpcap0.8")


@pytest.fixture
def call() -> Iterator[ScriptedCall]:
    scripted = ScriptedCall(call_id=f"live-{time.monotonic_ns()}@test")
    yield scripted
    scripted.close()


class Recorder:
    def __init__(self) -> None:
        self.calls: queue.Queue[LiveNetworkCall] = queue.Queue()
        self.withdrawals: list[tuple[str, int, float]] = []

    def on_call(self, call: LiveNetworkCall) -> None:
        self.calls.put(call)

    def on_withdrawal(self, invite: InviteInfo, withdrawal: Withdrawal) -> None:
        assert withdrawal.by == "dtmf" and withdrawal.confidence is None
        self.withdrawals.append((invite.call_id, withdrawal.channel, withdrawal.at))

    def next(self) -> LiveNetworkCall:
        return self.calls.get(timeout=WAIT_S)


def _capture(call: ScriptedCall, recorder: Recorder, **options: object) -> LiveCapture:
    capture = LiveCapture(
        "lo",
        call.bpf,
        on_call=recorder.on_call,
        on_withdrawal=recorder.on_withdrawal,
        **options,  # type: ignore[arg-type]
    )
    capture.start()
    return capture


def _leg(found: LiveNetworkCall, channel: int) -> npt.NDArray[np.int16]:
    """A leg's audio from its first sample on (legs of one call share a start time)."""
    (leg,) = [leg for leg in found.legs if leg.channel == channel]
    assert leg.codec == "PCMU" and leg.sample_rate == 8000
    start = int(np.flatnonzero(leg.pcm)[0])
    return leg.pcm[start:]


def test_a_g711_call_comes_back_sample_exact(call: ScriptedCall) -> None:
    recorder = Recorder()
    capture = _capture(call, recorder)
    try:
        caller_audio, callee_audio = known_ulaw(8000, 1), known_ulaw(8000 - 480, 2)
        call.invite()
        call.answer()
        call.talk(caller_audio, callee_audio)
        time.sleep(0.05)
        call.bye()
        found = recorder.next()
    finally:
        capture.stop()
    assert found.call_id == call.call_id and found.final and found.segment == 0
    assert found.end_reason == END_BYE_CALLER
    assert found.caller.e164 == "+441234567890"
    np.testing.assert_array_equal(_leg(found, 0), decoded(caller_audio))
    np.testing.assert_array_equal(_leg(found, 1), decoded(callee_audio))
    quality = found.legs[0].quality
    assert quality is not None and quality.packets_lost == 0 and quality.packets_received == 50
    stats = capture.stats()
    assert stats.calls_delivered == 1 and stats.kernel_drops == 0
    # INVITE, 200, ACK, BYE and 50 + 47 RTP passed the filter, each seen once on lo.
    assert stats.kernel_packets == stats.packets == 4 + 50 + 47
    assert recorder.calls.empty()


def test_a_call_without_bye_ends_by_rtp_timeout(call: ScriptedCall) -> None:
    recorder = Recorder()
    capture = _capture(call, recorder, rtp_timeout=0.5)
    try:
        audio = known_ulaw(1600, 3)
        call.invite()
        call.answer()
        call.talk(audio, audio)
        started = time.monotonic()
        found = recorder.next()
        waited = time.monotonic() - started
    finally:
        capture.stop()
    assert found.end_reason == END_RTP_TIMEOUT and found.final
    # Not before the timeout; that it ended at all is `next()` not timing out (a loaded
    # CI machine may take seconds to schedule the capture thread), the reason says how.
    assert waited >= 0.5
    np.testing.assert_array_equal(_leg(found, 0), decoded(audio))
    np.testing.assert_array_equal(_leg(found, 1), decoded(audio))


def _real_time(call: ScriptedCall, caller_audio: bytes, callee_audio: bytes) -> None:
    """Packets sent on a 20 ms schedule, so arrival times and playout agree."""
    begin = time.monotonic()
    for index, start in enumerate(range(0, len(caller_audio), PTIME_SAMPLES)):
        delay = begin + index * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        call.audio(call.caller, caller_audio[start : start + PTIME_SAMPLES])
        call.audio(call.callee, callee_audio[start : start + PTIME_SAMPLES])
    time.sleep(0.06)  # past the playout end of the last packet


# Both legs carry sound from the answer on; the first 5 s stand for the notice, so the
# agent's leg does not close the opt-out window before the key is pressed.
NOTICE = OptOutRules(notice_s=5.0)


def _assert_muted_before_the_press(
    pressed: npt.NDArray[np.int16], sent: npt.NDArray[np.int16]
) -> None:
    """The presser's leg is as sent, but for the key tone's lead (DTMF_MUTE_PAD_S) muted."""
    muted = len(sent) - len(np.trim_zeros(pressed, "b"))
    assert len(pressed) == len(sent) and 0 < muted <= DTMF_MUTE_PAD_S * 8000 + 1
    np.testing.assert_array_equal(pressed[:-muted], sent[:-muted])


def test_dtmf_9_withdraws_and_no_audio_is_kept_from_then_on(call: ScriptedCall) -> None:
    recorder = Recorder()
    capture = _capture(call, recorder, optout=NOTICE)
    try:
        before = [known_ulaw(8000, 4), known_ulaw(8000, 5)]
        after = known_ulaw(4000, 6)
        call.invite()
        call.answer()
        _real_time(call, *before)
        call.event(call.callee, 9)  # RFC 4733 event 9 = digit "9"
        _real_time(call, after, after)
        call.bye()
        found = recorder.next()
    finally:
        capture.stop()
    assert len(recorder.withdrawals) == 1
    call_id, channel, at = recorder.withdrawals[0]
    assert (call_id, channel) == (call.call_id, 1)
    assert found.withdrawn_channel == 1 and found.withdrawn_at == at
    assert found.withdrawn_by == "dtmf"
    assert found.end_reason == END_BYE_CALLER
    assert [(e.digit, e.channel, e.source) for e in found.dtmf] == [("9", 1, "rfc4733")]
    assert found.dtmf[0].start == pytest.approx(at, abs=1e-6)
    np.testing.assert_array_equal(_leg(found, 0), decoded(before[0]))
    _assert_muted_before_the_press(_leg(found, 1), decoded(before[1]))
    # Everything after the digit's first packet: its two repeated end packets, then audio.
    assert capture.stats().discarded_packets == 2 + 2 * 25


def test_sip_info_digit_withdraws_too(call: ScriptedCall) -> None:
    recorder = Recorder()
    capture = _capture(call, recorder, optout=NOTICE)
    try:
        call.invite()
        call.answer()
        _real_time(call, known_ulaw(1600, 7), known_ulaw(1600, 8))
        call.info_digit("9", from_caller=True)
        time.sleep(0.05)
        call.talk(known_ulaw(1600, 9), known_ulaw(1600, 9))
        call.bye()
        found = recorder.next()
    finally:
        capture.stop()
    assert found.withdrawn_channel == 0 and recorder.withdrawals[0][1] == 0
    assert [(e.digit, e.source) for e in found.dtmf] == [("9", "sip-info")]
    _assert_muted_before_the_press(_leg(found, 0), decoded(known_ulaw(1600, 7)))


def test_stop_delivers_a_call_in_progress(call: ScriptedCall) -> None:
    recorder = Recorder()
    capture = _capture(call, recorder)
    audio = known_ulaw(4000, 10)
    call.invite()
    call.answer()
    call.talk(audio, audio)
    time.sleep(0.1)
    assert recorder.calls.empty()
    capture.stop()
    found = recorder.calls.get_nowait()
    assert found.end_reason == END_CAPTURE_ENDED and found.final
    np.testing.assert_array_equal(_leg(found, 0), decoded(audio))
    np.testing.assert_array_equal(_leg(found, 1), decoded(audio))
    assert capture.stats().calls_in_progress == 0


def test_a_call_the_policy_refuses_keeps_nothing(call: ScriptedCall) -> None:
    recorder = Recorder()
    asked: list[InviteInfo] = []

    def refuse(invite: InviteInfo) -> bool:
        asked.append(invite)
        return False

    capture = _capture(call, recorder, decide=refuse)
    try:
        call.invite()
        call.answer()
        call.talk(known_ulaw(1600, 11), known_ulaw(1600, 12))
        call.bye()
        time.sleep(1.0)
    finally:
        capture.stop()
    assert recorder.calls.empty()
    assert [(a.call_id, a.caller.e164) for a in asked] == [(call.call_id, "+441234567890")]
    stats = capture.stats()
    assert (stats.calls_refused, stats.calls_delivered, stats.rtp_packets) == (1, 0, 0)
    assert stats.discarded_packets == 20
    assert capture.session.calls == {} and capture.session.streams == {}


def test_sigterm_ends_run_and_delivers_the_call_in_progress(call: ScriptedCall) -> None:
    recorder = Recorder()
    capture = LiveCapture("lo", call.bpf, on_call=recorder.on_call)
    audio = known_ulaw(1600, 13)

    def phone_then_sigterm() -> None:
        call.invite()
        deadline = time.monotonic() + WAIT_S
        while capture.session.calls_started == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # run() is reading (its handlers are in place) once seen
            call.invite()
        call.answer()
        call.talk(audio, audio)
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    sender = threading.Thread(target=phone_then_sigterm)
    sender.start()
    capture.run()  # returns on SIGTERM
    sender.join()
    assert signal.getsignal(signal.SIGTERM) is before
    found = recorder.calls.get_nowait()
    assert found.end_reason == END_CAPTURE_ENDED
    np.testing.assert_array_equal(_leg(found, 0), decoded(audio))
