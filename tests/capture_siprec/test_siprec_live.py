"""The SIPREC server's live parts (issue 20) against a scripted SRC on 127.0.0.1, with
RTP paced at 20 ms as a real SRC sends it: the DTMF opt-out window, media frames for a
streaming monitor, a PCI pause from another thread, a spoken withdrawal."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import numpy.typing as npt

from callvault.capture.live import LegPause, LiveNetworkCall, MediaFrame, OptOutRules, Withdrawal
from callvault.capture.siprec import SiprecLive, SiprecServer
from capture_siprec._client import (
    HOST,
    Dialog,
    RtpSender,
    SipClient,
    answer_ports,
    audio,
    g711_decode,
    g711_encode,
)
from capture_siprec.test_siprec_server import Delivered, _invite, _options, _run

SECONDS = 1.6


class Monitor:
    def __init__(self, rules: OptOutRules | None = None) -> None:
        self.frames: list[MediaFrame] = []
        self.withdrawals: list[tuple[str, Withdrawal]] = []
        self.started: list[str] = []
        self.ended: list[str] = []
        self.live = SiprecLive(
            optout=rules,
            on_media=self.frames.append,
            on_call_start=lambda offer, key: self.started.append(key),
            on_call_end=self.ended.append,
            on_withdrawal=lambda key, withdrawal: self.withdrawals.append((key, withdrawal)),
        )


async def _call(
    monitor: Monitor,
    *,
    presses: dict[int, str] | None = None,
    during: dict[int, object] | None = None,
) -> tuple[LiveNetworkCall, list[bytes], str]:
    """One call: both legs paced at 20 ms for SECONDS; the caller presses `presses`
    (packet index -> digit) before that packet; `during[index]()` runs before packet
    index (from another thread)."""
    delivered = Delivered()
    async with SiprecServer(delivered, _options(), live=monitor.live) as server:
        assert server.udp_address is not None
        client = SipClient(server.udp_address)
        await client.open()
        dialog = Dialog()
        senders: list[RtpSender] = []
        try:
            _, ok = await _invite(client, dialog, [7000, 7002], "PCMU")
            dialog.to_tag = ok.to.tag
            await client.send("ACK", dialog, cseq=1)
            ports = answer_ports(ok)
            senders = [RtpSender(0x1111, (HOST, ports[0])), RtpSender(0x2222, (HOST, ports[1]))]
            caller = g711_encode(audio(SECONDS, 1), "PCMU")
            callee = b"\xff" * len(caller)  # the agent (callee) is silent: the window stays open
            begin = time.monotonic()
            for index in range(len(caller) // 160):
                delay = begin + index * 0.02 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                action = (during or {}).get(index)
                if action is not None:
                    worker = threading.Thread(target=action)  # type: ignore[arg-type]
                    worker.start()
                    worker.join()
                digit = (presses or {}).get(index)
                if digit is not None:
                    senders[0].dtmf(digit)
                senders[0].audio(0, caller[index * 160 : (index + 1) * 160])
                senders[1].audio(0, callee[index * 160 : (index + 1) * 160])
            await asyncio.sleep(0.1)
            await client.send("BYE", dialog)
            assert (await client.final()).status == 200
            call = await delivered.next()
        finally:
            client.close()
            for sender in senders:
                sender.close()
    assert isinstance(call, LiveNetworkCall)
    return call, [caller, callee], dialog.call_id


def _origin(call: LiveNetworkCall) -> float:
    assert call.audio_started_at is not None and call.started_at is not None
    return (call.audio_started_at - call.started_at).total_seconds()


def _rebuilt(
    frames: list[MediaFrame], channel: int, origin: float, size: int
) -> npt.NDArray[np.int16]:
    out = np.zeros(size, dtype=np.int16)
    for frame in frames:
        if frame.channel == channel:
            at = round((frame.call_time - origin) * frame.sample_rate)
            out[at : at + len(frame.pcm)] = frame.pcm[: max(0, size - at)]
    return out


def test_a_single_nine_in_the_window_withdraws_and_cuts_at_the_press() -> None:
    monitor = Monitor(OptOutRules(inter_digit_s=0.3))

    async def scenario() -> None:
        call, (caller, _), call_id = await _call(monitor, presses={40: "9"})
        ((key, withdrawal),) = monitor.withdrawals
        assert key == call_id and (withdrawal.channel, withdrawal.by) == (0, "dtmf")
        assert call.withdrawn_at == withdrawal.at and call.withdrawn_by == "dtmf"
        (nine,) = call.dtmf
        assert abs(nine.start - withdrawal.at) < 1e-6
        leg = call.legs[0].pcm
        cut = round((withdrawal.at - _origin(call)) * 8000)
        # Nothing after the press: packets that came after it are not kept (the leg may
        # end a little before the cut, where the last packet before the press ended).
        assert cut - 160 <= len(leg) <= cut
        sent = g711_decode(caller, "PCMU")
        lead = int(np.flatnonzero(leg)[0])
        # What came well before the press is kept as sent.
        assert np.array_equal(leg[lead : cut - 800], sent[: cut - 800 - lead])
        assert monitor.started == [call_id] and monitor.ended == [call_id]

    _run(scenario)


def test_a_nine_inside_a_sequence_is_kept_as_a_muted_key_press() -> None:
    monitor = Monitor(OptOutRules())

    async def scenario() -> None:
        call, (caller, _), _ = await _call(monitor, presses={20: "1", 40: "9", 60: "2"})
        assert monitor.withdrawals == [] and call.withdrawn_at is None
        assert call.dtmf_digits == "192"
        leg = call.legs[0].pcm
        sent = g711_decode(caller, "PCMU")
        lead = len(leg) - len(sent)
        muted = (leg[lead:] == 0) & (sent != 0)
        assert np.array_equal(leg[lead:][~muted], sent[~muted])
        assert 0 < np.count_nonzero(muted) <= 3 * round(0.18 * 8000)

    _run(scenario)


def test_frames_pause_and_a_spoken_refusal() -> None:
    monitor = Monitor(OptOutRules(digit=None))
    live = monitor.live
    holder: dict[str, str] = {}

    def pause() -> None:
        live.pause_leg(holder["key"], 0, 0.4)
        live.resume_leg(holder["key"], 0, 0.7)

    def refuse() -> None:
        live.withdraw_spoken(holder["key"], 0, 1.2, 0.9)

    original = live.answered

    def remember(call: object) -> None:
        holder["key"] = call.call_id  # type: ignore[attr-defined]
        original(call)  # type: ignore[arg-type]

    live.answered = remember  # type: ignore[method-assign]

    async def scenario() -> None:
        call, _, call_id = await _call(monitor, during={45: pause, 70: refuse})
        assert call.pauses == (LegPause(0, 0.4, 0.7),)  # seconds from the INVITE
        assert [w for _, w in monitor.withdrawals] == [Withdrawal(0, 1.2, "speech", 0.9)]
        assert call.withdrawn_at == 1.2 and call.withdrawn_by == "speech"
        origin = _origin(call)
        leg = call.legs[0].pcm
        assert len(leg) == round((1.2 - origin) * 8000)
        rebuilt = _rebuilt(monitor.frames, 0, origin, len(leg))
        start, end = round((0.4 - origin) * 8000), round((0.7 - origin) * 8000)
        assert not leg[start:end].any() and rebuilt[start:end].any()
        assert np.array_equal(leg[:start], rebuilt[:start])
        assert np.array_equal(leg[end:], rebuilt[end:])
        assert {f.call_key for f in monitor.frames} == {call_id}

    _run(scenario)
