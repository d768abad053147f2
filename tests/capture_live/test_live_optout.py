"""The withdrawal digit is honoured only where the notice offers it (issue 20): a single
press inside the opt-out window. Real captures from eval-data and crafted calls, fed to
LiveSession frame by frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callvault.capture._control import DTMF_MUTE_PAD_S
from callvault.capture._optout import OptOutRules, OptOutTracker, SpeechGate, agent_channel
from callvault.capture.live import InviteInfo, LiveNetworkCall, LiveSession, Withdrawal
from capture_live._calls import (
    ANSWER_S,
    SILENCE,
    T0,
    crafted_call,
    play,
    replay,
    sip_frame,
)
from capture_live._peer import decoded, known_ulaw
from capture_net._build import EVAL, sip_invite, sip_response

DTMF2 = Path(EVAL) / "wireshark_samples" / "SIP_DTMF2.pcap"
NINE = Path(EVAL) / "sipp" / "dtmf_2833_9.pcap"


class Sink:
    def __init__(self) -> None:
        self.calls: list[LiveNetworkCall] = []
        self.withdrawals: list[Withdrawal] = []

    def on_call(self, call: LiveNetworkCall) -> None:
        self.calls.append(call)

    def on_withdrawal(self, invite: InviteInfo, withdrawal: Withdrawal) -> None:
        self.withdrawals.append(withdrawal)

    def session(self, rules: OptOutRules) -> LiveSession:
        return LiveSession(self.on_call, on_withdrawal=self.on_withdrawal, optout=rules)


# Real captures ---------------------------------------------------------------------------


def _dtmf2(rules: OptOutRules) -> tuple[Sink, LiveNetworkCall]:
    sink = Sink()
    session = sink.session(rules)
    last = replay(session, DTMF2)
    session.finish_all(last + 1.0)
    (call,) = [c for c in sink.calls if c.has_audio]
    return sink, call


def test_a_nine_inside_a_keyed_sequence_never_withdraws() -> None:
    # SIP_DTMF2: "6789123" keyed 27-31 s after the answer, about half a second apart. The
    # window is made wide and the agent's leg silent, so only the sequence rule decides.
    sink, call = _dtmf2(OptOutRules(digit="9", window_s=60.0, agent_channel=1))
    assert sink.withdrawals == [] and call.withdrawn_at is None
    assert call.dtmf_digits == "6789123"
    # Each key press is muted on the leg that sent it, with the pad around it.
    (leg,) = call.legs
    assert call.started_at is not None and call.audio_started_at is not None
    origin = (call.audio_started_at - call.started_at).total_seconds()
    for event in call.dtmf:
        assert event.duration is not None
        start = round((event.start - DTMF_MUTE_PAD_S - origin) * leg.sample_rate)
        end = round((event.start + event.duration + DTMF_MUTE_PAD_S - origin) * leg.sample_rate)
        assert not leg.pcm[start:end].any()
    assert np.count_nonzero(leg.pcm) > 0.5 * len(leg.pcm)  # the rest is kept


def test_the_same_nine_alone_would_have_withdrawn() -> None:
    # The control: with presses 0.3 s apart counting as separate, the 9 (0.45 s after the
    # 8, 0.6 s before the 1) is a single press inside the window, and is honoured.
    sink, call = _dtmf2(OptOutRules(digit="9", window_s=60.0, inter_digit_s=0.3))
    (withdrawal,) = sink.withdrawals
    nine = [e for e in call.dtmf if e.digit == "9"]
    assert nine and withdrawal.at == pytest.approx(nine[0].start, abs=1e-6)
    assert call.withdrawn_at == withdrawal.at and call.withdrawn_by == "dtmf"


def _nine(answer_before: float, rules: OptOutRules) -> Sink:
    """sipp's dtmf_2833_9 (a lone RFC 4733 "9", no SIP) inside a call whose INVITE and
    200 OK name its addresses, answered `answer_before` seconds before the press."""
    first = 1134424487.372762  # the capture's first packet (tshark)
    call_id = f"nine-{answer_before}@test"
    sink = Sink()
    session = sink.session(rules)
    session.live_frame(
        first - answer_before - 0.5,
        1,
        sip_frame(0, sip_invite(call_id, media_ip="192.168.0.3", media_port=49176))[1],
    )
    session.live_frame(
        first - answer_before,
        1,
        sip_frame(0, sip_response(call_id, 200, media=("192.168.0.1", 10000)), from_caller=False)[
            1
        ],
    )
    last = replay(session, NINE)
    assert last == pytest.approx(first + 0.140081, abs=1e-6)
    session.finish_all(last + 5.0)
    return sink


def test_a_single_nine_right_after_the_answer_withdraws() -> None:
    sink = _nine(3.5, OptOutRules())
    (withdrawal,) = sink.withdrawals
    assert (withdrawal.channel, withdrawal.by) == (0, "dtmf")
    assert withdrawal.at == pytest.approx(4.0, abs=1e-6)  # from the INVITE, at the press
    (call,) = sink.calls
    assert call.withdrawn_at == withdrawal.at and call.dtmf_digits == "9"


def test_a_single_nine_after_the_window_does_not_withdraw() -> None:
    sink = _nine(47.0, OptOutRules())
    assert sink.withdrawals == []
    (call,) = sink.calls
    assert call.withdrawn_at is None and call.dtmf_digits == "9"


# Crafted calls ---------------------------------------------------------------------------


def _run(rules: OptOutRules, frames: list[tuple[float, bytes]], **hooks: object) -> Sink:
    sink = Sink()
    session = sink.session(rules)
    last = play(session, frames)
    session.tick(last + 1.0)
    assert len(sink.calls) == 1
    return sink


def test_nine_pressed_47_s_into_the_call_to_confirm_a_refund_is_kept() -> None:
    # The case: the agent talks from 2 s on, asks the customer to press nine to
    # confirm a refund, and the customer does at 47 s. The whole call is kept.
    seconds = 50
    agent = SILENCE * 16000 + known_ulaw(8000 * (seconds - 2), 1)
    customer = known_ulaw(8000 * seconds, 2)
    sink = _run(
        OptOutRules(),
        crafted_call(
            "refund@test", caller_audio=customer, callee_audio=agent, presses=[(47.0, "9")]
        ),
    )
    assert sink.withdrawals == []
    (call,) = sink.calls
    assert call.withdrawn_at is None and call.dtmf_digits == "9"
    assert call.dtmf[0].start == pytest.approx(ANSWER_S + 47.0, abs=1e-6)
    agent_leg = [leg for leg in call.legs if leg.channel == 1][0]
    lag = 8  # the callee's packets come 1 ms after the caller's, which start the audio
    np.testing.assert_array_equal(agent_leg.pcm[lag : lag + len(agent)], decoded(agent))


def test_the_window_ends_at_most_window_s_after_the_answer_even_if_nobody_speaks() -> None:
    silent = SILENCE * 8000 * 40
    frames = crafted_call(
        "late@test", caller_audio=silent, callee_audio=silent, presses=[(35.0, "9")]
    )
    assert _run(OptOutRules(), frames).withdrawals == []
    frames = crafted_call(
        "late2@test", caller_audio=silent, callee_audio=silent, presses=[(35.0, "9")]
    )
    (withdrawal,) = _run(OptOutRules(window_s=40.0), frames).withdrawals
    assert withdrawal.at == pytest.approx(ANSWER_S + 35.0, abs=1e-6)


def test_the_window_closes_when_the_agent_first_speaks() -> None:
    # The agent speaks from 3 s after the answer: a 9 at 5 s is no opt-out, a 9 at 2 s is.
    agent = SILENCE * 8000 * 3 + known_ulaw(8000 * 5, 3)
    customer = known_ulaw(8000 * 8, 4)
    after = crafted_call(
        "spoke@test", caller_audio=customer, callee_audio=agent, presses=[(5.0, "9")]
    )
    assert _run(OptOutRules(), after).withdrawals == []
    before = crafted_call(
        "early@test", caller_audio=customer, callee_audio=agent, presses=[(2.0, "9")]
    )
    sink = _run(OptOutRules(), before)
    (withdrawal,) = sink.withdrawals
    assert (withdrawal.channel, withdrawal.at) == (0, pytest.approx(ANSWER_S + 2.0, abs=1e-6))
    # Nothing from the press on, on either leg, although its decision came 2 s later.
    (call,) = sink.calls
    for leg in call.legs:
        assert call.audio_started_at is not None and call.started_at is not None
        origin = (call.audio_started_at - call.started_at).total_seconds()
        assert len(leg.pcm) == round((withdrawal.at - origin) * 8000)


def test_speech_during_the_notice_does_not_close_the_window() -> None:
    # The notice is played on the agent's leg for the first 4 s; the 9 at 3 s counts.
    agent = known_ulaw(8000 * 6, 5)
    frames = crafted_call(
        "notice@test", caller_audio=SILENCE * 8000 * 6, callee_audio=agent, presses=[(3.0, "9")]
    )
    assert _run(OptOutRules(), frames).withdrawals == []  # notice_s 0: the agent "spoke"
    frames = crafted_call(
        "notice2@test", caller_audio=SILENCE * 8000 * 6, callee_audio=agent, presses=[(3.0, "9")]
    )
    assert len(_run(OptOutRules(notice_s=4.0), frames).withdrawals) == 1


def test_the_monitor_can_say_the_agent_spoke() -> None:
    silent = SILENCE * 8000 * 8
    frames = crafted_call(
        "told@test", caller_audio=silent, callee_audio=silent, presses=[(5.0, "9")]
    )
    sink = Sink()
    session = sink.session(OptOutRules())
    play(session, frames[:100])  # the call is under way
    session.speech_started("told@test", 1, ANSWER_S + 4.0)  # from another thread, queued
    play(session, frames[100:])
    session.tick(T0 + 20)
    assert sink.withdrawals == [] and len(sink.calls) == 1


def test_two_nines_in_a_row_are_not_an_opt_out() -> None:
    silent = SILENCE * 8000 * 8
    frames = crafted_call(
        "twice@test", caller_audio=silent, callee_audio=silent, presses=[(1.0, "9"), (2.5, "9")]
    )
    assert _run(OptOutRules(), frames).withdrawals == []


# The parts -------------------------------------------------------------------------------


def test_speech_gate() -> None:
    gate = SpeechGate()
    rate = 8000
    quiet = np.full(160, 50, dtype=np.int16)  # -56 dBFS
    loud = np.full(160, 2000, dtype=np.int16)  # -24 dBFS
    assert gate.feed(0.0, quiet, rate) is None
    assert gate.feed(0.02, loud, rate) is None  # one frame: a click
    for index in range(20):
        gate.feed(0.04 + index * 0.02, quiet, rate)
    onset = None
    for index in range(12):
        onset = gate.feed(1.0 + index * 0.02, loud, rate) or onset
    assert onset == pytest.approx(1.0)


def test_tracker_and_rules() -> None:
    tracker = OptOutTracker(OptOutRules(inter_digit_s=2.0))
    tracker.press("9", 5.0, 0)  # before the answer: never
    tracker.answer(10.0)
    tracker.press("9", 11.0, 0)
    assert tracker.due(12.9) is None and tracker.pending
    decision = tracker.due(13.0)
    assert decision is not None and (decision.channel, decision.at) == (0, 11.0)
    assert agent_channel(None, "outbound") == 0 and agent_channel(None, None) == 1
    assert agent_channel("caller") == 0
    with pytest.raises(ValueError, match="agent side 'boss' is not one of: caller, callee"):
        agent_channel("boss")
    with pytest.raises(ValueError, match="withdraw digit '99' is not a DTMF key"):
        OptOutRules(digit="99").validate()
