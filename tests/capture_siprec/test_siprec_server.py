"""The SIPREC server against a scripted SRC on 127.0.0.1: calls recorded sample-exact,
participants from the metadata, DTMF, re-INVITE, CANCEL, OPTIONS, rejections, garbage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable

import numpy as np
import numpy.typing as npt
import pytest

from callvault.capture.net import NetworkCall
from callvault.capture.net._sip import SessionDescription, SipMessage
from callvault.capture.siprec import SiprecOptions, SiprecServer
from callvault.errors import ConfigError
from capture_siprec._client import (
    CALLEE_AOR,
    CALLEE_NAME,
    CALLER_NAME,
    HOST,
    Dialog,
    RtpSender,
    SipClient,
    answer_ports,
    audio,
    g711_decode,
    g711_encode,
    metadata,
    multipart,
    rtp_port_range,
    sdp,
)

CONTENT_TYPE = "multipart/mixed;boundary=callvault-test-boundary"


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 25))


def _options(**kwargs: object) -> SiprecOptions:
    low, high = rtp_port_range()
    values: dict[str, object] = {
        "host": HOST,
        "port": 0,
        "rtp_port_min": low,
        "rtp_port_max": high,
        "rtp_timeout_s": 10.0,
    }
    values.update(kwargs)
    return SiprecOptions(**values)  # type: ignore[arg-type]


class Delivered:
    def __init__(self) -> None:
        self.calls: asyncio.Queue[NetworkCall] = asyncio.Queue()

    def __call__(self, call: NetworkCall) -> None:
        self.calls.put_nowait(call)

    async def next(self, timeout: float = 10.0) -> NetworkCall:
        return await asyncio.wait_for(self.calls.get(), timeout)


def _assert_leg(
    pcm: npt.NDArray[np.int16], expected: npt.NDArray[np.int16], *, key_presses: int = 0
) -> None:
    """The leg is silence up to where its stream started, then exactly `expected`, but
    for the key tones muted around each of its `key_presses` (issue 20: at most the
    event's 80 ms and 50 ms either side)."""
    assert len(pcm) >= len(expected)
    lead = len(pcm) - len(expected)
    assert lead < 8000  # the streams start within a second of each other
    assert not pcm[:lead].any()
    if not key_presses:
        assert np.array_equal(pcm[lead:], expected)
        return
    muted = (pcm[lead:] == 0) & (expected != 0)
    assert np.array_equal(pcm[lead:][~muted], expected[~muted])
    assert 0 < np.count_nonzero(muted) <= key_presses * round(0.18 * 8000)


async def _invite(
    client: SipClient, dialog: Dialog, src_ports: list[int], codec: str, **kwargs: object
) -> tuple[str, SipMessage]:
    callee_first = bool(kwargs.pop("callee_first", False))
    body = multipart(sdp(src_ports, codec), metadata(callee_first=callee_first))
    branch = await client.send("INVITE", dialog, body=body, content_type=CONTENT_TYPE, **kwargs)
    trying = await client.receive()
    assert trying.status == 100
    ok = await client.final()
    return branch, ok


async def _send_audio(
    senders: list[RtpSender],
    payloads: list[bytes],
    pt: int,
    dtmf: dict[tuple[int, int], str] | None = None,
) -> None:
    """Both streams interleaved, 160 samples a packet, DTMF events between packets."""
    for index in range(len(payloads[0]) // 160):
        for leg, sender in enumerate(senders):
            digit = (dtmf or {}).get((leg, index))
            if digit is not None:
                sender.dtmf(digit)
            sender.audio(pt, payloads[leg][index * 160 : (index + 1) * 160])
        if index % 5 == 4:
            await asyncio.sleep(0.005)  # a little pacing keeps the socket buffers small


def test_siprec_call_with_reinvite_is_recorded_sample_exact(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PCMU, then a re-INVITE that switches to PCMA: both halves decode sample-exact.
    Nothing personal reaches the logs."""
    caplog.set_level(logging.DEBUG, logger="callvault")

    async def scenario() -> None:
        delivered = Delivered()
        async with SiprecServer(delivered, _options()) as server:
            assert server.udp_address is not None
            client = SipClient(server.udp_address)
            await client.open()
            dialog = Dialog()
            senders: list[RtpSender] = []
            try:
                _, ok = await _invite(client, dialog, [7000, 7002], "PCMU")
                assert ok.status == 200
                assert ok.call_id == dialog.call_id and ok.cseq == (1, "INVITE")
                assert ok.to.tag
                assert ok.header("via") == (
                    f"SIP/2.0/UDP {HOST}:{client.local[1]};"
                    f"branch={_branch(ok)};rport={client.local[1]}"
                )
                assert "+sip.srs" in (ok.header("contact") or "")
                answer = SessionDescription.parse(ok.body)
                low, high = rtp_port_range()
                assert [m.direction for m in answer.media] == ["recvonly", "recvonly"]
                assert all(low <= m.port <= high and m.port % 2 == 0 for m in answer.media)
                assert [m.payload_types for m in answer.media] == [(0, 101), (0, 101)]
                assert answer.address == HOST
                assert b"a=label:1" in ok.body and b"a=label:2" in ok.body
                dialog.to_tag = ok.to.tag
                await client.send("ACK", dialog, cseq=1)
                ports = [m.port for m in answer.media]
                senders = [RtpSender(0x1111, (HOST, ports[0])), RtpSender(0x2222, (HOST, ports[1]))]
                caller, callee = audio(0.6, 1), audio(0.6, 2)
                first = [g711_encode(caller[:2400], "PCMU"), g711_encode(callee[:2400], "PCMU")]
                await _send_audio(senders, first, 0, {(0, 3): "1", (1, 6): "#"})
                # re-INVITE: the SRC moves to PCMA; the server keeps its ports.
                body = multipart(sdp([7000, 7002], "PCMA", version=2), metadata())
                await client.send("INVITE", dialog, body=body, content_type=CONTENT_TYPE)
                again = await client.final()
                assert again.status == 200 and again.cseq == (2, "INVITE")
                assert answer_ports(again) == ports
                assert [m.payload_types for m in SessionDescription.parse(again.body).media] == [
                    (8, 101),
                    (8, 101),
                ]
                assert b"o=callvault" in again.body and b" 2 IN IP4" in again.body
                await client.send("ACK", dialog, cseq=2)
                second = [g711_encode(caller[2400:], "PCMA"), g711_encode(callee[2400:], "PCMA")]
                await _send_audio(senders, second, 8, {(0, 2): "5"})
                await asyncio.sleep(0.1)
                await client.send("BYE", dialog)
                bye = await client.final()
                assert bye.status == 200 and bye.cseq == (3, "BYE")
                call = await delivered.next()
            finally:
                client.close()
                for sender in senders:
                    sender.close()
            assert call.call_id == dialog.call_id
            assert call.end_reason == "bye"
            assert call.caller.display_name == CALLER_NAME
            assert call.caller.e164 == "+14155550100"
            assert call.callee.display_name == CALLEE_NAME
            assert call.callee.user == "+14155550199"
            assert [leg.channel for leg in call.legs] == [0, 1]
            expected_caller = np.concatenate(
                [g711_decode(first[0], "PCMU"), g711_decode(second[0], "PCMA")]
            )
            expected_callee = np.concatenate(
                [g711_decode(first[1], "PCMU"), g711_decode(second[1], "PCMA")]
            )
            _assert_leg(call.legs[0].pcm, expected_caller, key_presses=2)
            _assert_leg(call.legs[1].pcm, expected_callee, key_presses=1)
            assert call.dtmf_digits == "1#5"
            assert [event.channel for event in call.dtmf] == [0, 1, 0]
            assert all(event.source == "rfc4733" for event in call.dtmf)
            quality = call.legs[0].quality
            assert quality is not None
            assert quality.packets_lost == 0 and quality.packets_received == 30 + 12
            assert server.stats().calls_delivered == 1
            captured = call.to_captured_call()
            assert {p.name for p in captured.participants} == {CALLER_NAME, CALLEE_NAME}

    _run(scenario)
    assert "SIPREC call finished: bye" in caplog.text
    for personal in (CALLER_NAME, CALLEE_NAME, "+1415555", "pbx.example.com", "src.example"):
        assert personal not in caplog.text


def _branch(message: SipMessage) -> str:
    via = message.header("via") or ""
    return via.split("branch=")[1].split(";")[0]


def test_options_other_methods_non_siprec_invites_and_garbage() -> None:
    async def scenario() -> None:
        delivered = Delivered()
        async with SiprecServer(delivered, _options()) as server:
            assert server.udp_address is not None
            client = SipClient(server.udp_address)
            await client.open()
            try:
                await client.send("OPTIONS", Dialog())
                options = await client.final()
                assert options.status == 200 and options.cseq == (1, "OPTIONS")
                assert options.header("allow") == "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"
                assert options.header("supported") == "siprec"
                assert options.to.tag
                await client.send("REGISTER", Dialog())
                register = await client.final()
                assert (register.status, register.reason) == (405, "Method Not Allowed")
                assert register.header("allow") == "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"
                await client.send("FROBNICATE", Dialog())
                unknown = await client.final()
                assert (unknown.status, unknown.reason) == (501, "Not Implemented")
                await client.send("BYE", Dialog())
                assert (await client.final()).status == 481
                # An INVITE that is not a Recording Session: 488 with a Warning.
                plain = Dialog()
                body = sdp([7000], "PCMU", labels=("1",))
                await client.send(
                    "INVITE", plain, body=body, content_type="application/sdp", siprec=False
                )
                assert (await client.receive()).status == 100
                refused = await client.final()
                assert (refused.status, refused.reason) == (488, "Not Acceptable Here")
                assert refused.header("warning") == (
                    '399 callvault "not a SIPREC recording session: no Require: siprec and '
                    'no +sip.src in Contact (RFC 7866 section 6.1.1)"'
                )
                plain.to_tag = refused.to.tag
                await client.send("ACK", plain, cseq=1)
                # An unknown option tag in Require: 420 naming it.
                odd = Dialog()
                await client.send(
                    "INVITE",
                    odd,
                    body=multipart(sdp([7000, 7002], "PCMU"), metadata()),
                    content_type=CONTENT_TYPE,
                    extra=("Require: foo-bar",),
                )
                assert (await client.receive()).status == 100
                bad_extension = await client.final()
                assert bad_extension.status == 420
                assert bad_extension.header("unsupported") == "foo-bar"
                # Garbage: counted, answered 400 where a Via says where to, never fatal.
                before = server.stats().malformed
                await client.send_raw(b"\x00\xff\x13garbage")
                await client.send_raw(b"\x80\x00" + b"\x00" * 30)
                await client.send_raw(
                    b"INVITE sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:"
                    + str(client.local[1]).encode()
                    + b";branch=z9hG4bKbad\r\nCSeq: 1 INVITE\r\n\r\n"
                )
                bad = await client.receive_raw()  # no Call-ID to copy: not parseable
                assert bad.startswith(b"SIP/2.0 400 Bad Request\r\n")
                assert b"branch=z9hG4bKbad" in bad and b"cseq: 1 INVITE\r\n" in bad
                await client.send("OPTIONS", Dialog())
                assert (await client.final()).status == 200  # still serving
                assert server.stats().malformed == before + 3
                assert server.stats().calls_started == 0
            finally:
                client.close()
        assert delivered.calls.empty()

    _run(scenario)


def test_cancel_before_the_answer_gives_487() -> None:
    async def scenario() -> None:
        delivered = Delivered()
        release = asyncio.Event()
        offers = []

        async def on_offer(offer: object) -> bool:
            offers.append(offer)
            await release.wait()
            return True

        async with SiprecServer(delivered, _options(), on_offer=on_offer) as server:
            assert server.udp_address is not None
            client = SipClient(server.udp_address)
            await client.open()
            try:
                dialog = Dialog()
                body = multipart(sdp([7000, 7002], "PCMU"), metadata())
                branch = await client.send("INVITE", dialog, body=body, content_type=CONTENT_TYPE)
                assert (await client.receive()).status == 100
                for _ in range(500):  # the hook is asked once the ports are open
                    if offers:
                        break
                    await asyncio.sleep(0.01)
                assert offers
                await client.send("CANCEL", dialog, branch=branch, cseq=1)
                responses = {}
                for _ in range(2):
                    message = await client.final()
                    responses[message.cseq[1]] = message
                assert responses["CANCEL"].status == 200
                assert (responses["INVITE"].status, responses["INVITE"].reason) == (
                    487,
                    "Request Terminated",
                )
                dialog.to_tag = responses["INVITE"].to.tag
                await client.send("ACK", dialog, cseq=1, branch=branch)
                release.set()
                await asyncio.sleep(0.1)
                stats = server.stats()
                assert (stats.calls_cancelled, stats.active_calls) == (1, 0)
            finally:
                client.close()
        assert delivered.calls.empty()

    _run(scenario)


def test_on_offer_false_refuses_with_403() -> None:
    async def scenario() -> None:
        async with SiprecServer(Delivered(), _options(), on_offer=lambda offer: False) as server:
            assert server.udp_address is not None
            client = SipClient(server.udp_address)
            await client.open()
            try:
                dialog = Dialog()
                body = multipart(sdp([7000, 7002], "PCMU"), metadata())
                await client.send("INVITE", dialog, body=body, content_type=CONTENT_TYPE)
                refused = await client.final()
                assert (refused.status, refused.reason) == (403, "Forbidden")
                dialog.to_tag = refused.to.tag
                await client.send("ACK", dialog, cseq=1)
                assert server.stats().active_calls == 0
            finally:
                client.close()

    _run(scenario)


def test_stop_delivers_a_call_in_progress_and_releases_its_ports() -> None:
    async def scenario() -> None:
        delivered = Delivered()
        server = SiprecServer(delivered, _options())
        await server.start()
        assert server.udp_address is not None
        client = SipClient(server.udp_address)
        await client.open()
        dialog = Dialog()
        try:
            _, ok = await _invite(client, dialog, [7000, 7002], "PCMA")
            dialog.to_tag = ok.to.tag
            await client.send("ACK", dialog, cseq=1)
            ports = answer_ports(ok)
            senders = [RtpSender(7, (HOST, ports[0])), RtpSender(8, (HOST, ports[1]))]
            caller, callee = audio(0.2, 3), audio(0.2, 4)
            payloads = [g711_encode(caller, "PCMA"), g711_encode(callee, "PCMA")]
            await _send_audio(senders, payloads, 8)
            await asyncio.sleep(0.1)
            await server.stop()
            call = await delivered.next(1.0)  # delivered before stop() returned
            for sender in senders:
                sender.close()
            bye = await client.receive()  # the server ends the Recording Session
            assert (bye.method, bye.call_id, bye.cseq) == ("BYE", dialog.call_id, (1, "BYE"))
            assert bye.uri == f"sip:src@{HOST}:{client.local[1]}"
            assert bye.from_.tag == dialog.to_tag and bye.to.tag == dialog.from_tag
        finally:
            client.close()
        assert call.end_reason == "server_stopped"
        _assert_leg(call.legs[0].pcm, g711_decode(payloads[0], "PCMA"))
        _assert_leg(call.legs[1].pcm, g711_decode(payloads[1], "PCMA"))
        for port in ports:  # the RTP and RTCP ports are free again
            for number in (port, port + 1):
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probe.bind((HOST, number))
                probe.close()

    _run(scenario)


def test_rtp_timeout_ends_a_call() -> None:
    async def scenario() -> None:
        delivered = Delivered()
        async with SiprecServer(delivered, _options(rtp_timeout_s=1.0)) as server:
            assert server.udp_address is not None
            client = SipClient(server.udp_address)
            await client.open()
            try:
                dialog = Dialog()
                _, ok = await _invite(client, dialog, [7000, 7002], "PCMU")
                dialog.to_tag = ok.to.tag
                await client.send("ACK", dialog, cseq=1)
                sender = RtpSender(9, (HOST, answer_ports(ok)[0]))
                payload = g711_encode(audio(0.1, 5), "PCMU")
                await _send_audio([sender], [payload], 0)
                call = await delivered.next(5.0)
                sender.close()
                bye = await client.receive()
                assert (bye.method, bye.call_id) == ("BYE", dialog.call_id)
            finally:
                client.close()
            assert call.end_reason == "rtp_timeout"
            assert [leg.channel for leg in call.legs] == [0]
            _assert_leg(call.legs[0].pcm, g711_decode(payload, "PCMU"))
            assert server.stats().active_calls == 0

    _run(scenario)


def test_tcp_call_with_the_caller_named_by_the_metadata() -> None:
    """Over TCP; the metadata lists the callee first but marks the caller (Acme style)."""

    async def scenario() -> None:
        delivered = Delivered()
        async with SiprecServer(delivered, _options()) as server:
            assert server.tcp_address is not None
            client = SipClient(server.tcp_address, "TCP")
            await client.open()
            try:
                dialog = Dialog()
                _, ok = await _invite(client, dialog, [7000, 7002], "PCMA", callee_first=True)
                assert ok.status == 200
                assert "transport=tcp" in (ok.header("contact") or "")
                dialog.to_tag = ok.to.tag
                await client.send("ACK", dialog, cseq=1)
                ports = answer_ports(ok)
                senders = [RtpSender(21, (HOST, ports[0])), RtpSender(22, (HOST, ports[1]))]
                caller, callee = audio(0.2, 6), audio(0.2, 7)
                payloads = [g711_encode(caller, "PCMA"), g711_encode(callee, "PCMA")]
                await _send_audio(senders, payloads, 8)
                await asyncio.sleep(0.1)
                await client.send("BYE", dialog)
                assert (await client.final()).status == 200
                call = await delivered.next()
                for sender in senders:
                    sender.close()
            finally:
                client.close()
            assert call.caller.display_name == CALLER_NAME
            assert call.callee.display_name == CALLEE_NAME
            assert CALLEE_AOR.endswith(f"{call.callee.user}@pbx.example.com")
            _assert_leg(call.legs[0].pcm, g711_decode(payloads[0], "PCMA"))
            _assert_leg(call.legs[1].pcm, g711_decode(payloads[1], "PCMA"))

    _run(scenario)


def test_a_call_over_the_memory_bound_is_delivered_in_segments() -> None:
    async def scenario() -> None:
        delivered = Delivered()
        async with SiprecServer(delivered, _options(max_call_bytes=65536)) as server:
            assert server.udp_address is not None
            client = SipClient(server.udp_address)
            await client.open()
            try:
                dialog = Dialog()
                _, ok = await _invite(client, dialog, [7000, 7002], "PCMU")
                dialog.to_tag = ok.to.tag
                await client.send("ACK", dialog, cseq=1)
                sender = RtpSender(31, (HOST, answer_ports(ok)[0]))
                caller = audio(8.0, 8)  # 400 packets of 172 bytes: one flush at 65536
                payload = g711_encode(caller, "PCMU")
                await _send_audio([sender], [payload], 0)
                await asyncio.sleep(0.1)
                await client.send("BYE", dialog)
                assert (await client.final()).status == 200
                first, second = await delivered.next(), await delivered.next()
                sender.close()
            finally:
                client.close()
        assert (first.end_reason, second.end_reason) == ("segment_full", "bye")
        assert "segment 1" in first.notes and "segment 2" in second.notes
        size = 65536 // 172 + 1  # packets in the first segment
        _assert_leg(first.legs[0].pcm, g711_decode(payload[: size * 160], "PCMU"))
        _assert_leg(second.legs[0].pcm, g711_decode(payload[size * 160 :], "PCMU"))

    _run(scenario)


def test_retransmissions_and_a_metadata_update() -> None:
    """A repeated INVITE gets the same 200 OK; the 200 OK is resent until the ACK
    (RFC 3261 section 13.3.1.4); an UPDATE with metadata renames a participant."""

    async def scenario() -> None:
        delivered = Delivered()
        async with SiprecServer(delivered, _options()) as server:
            assert server.udp_address is not None
            client = SipClient(server.udp_address)
            await client.open()
            try:
                dialog = Dialog()
                body = multipart(sdp([7000, 7002], "PCMU"), metadata())
                invite, _ = client.request("INVITE", dialog, body=body, content_type=CONTENT_TYPE)
                await client.send_raw(invite)
                assert (await client.receive()).status == 100
                ok = await client.receive_raw()
                await client.send_raw(invite)  # as if our INVITE had been lost
                assert await client.receive_raw() == ok
                assert await client.receive_raw(1.5) == ok  # no ACK yet: resent after T1
                dialog.to_tag = SipMessage.parse(ok).to.tag
                await client.send("ACK", dialog, cseq=1)
                with contextlib.suppress(TimeoutError):
                    extra = await client.receive_raw(1.2)
                    raise AssertionError(f"a response after the ACK: {extra[:40]!r}")
                renamed = metadata().replace(CALLER_NAME, "Carol Example")
                await client.send(
                    "UPDATE", dialog, body=renamed, content_type="application/rs-metadata+xml"
                )
                update = await client.final()
                assert update.status == 200 and update.cseq == (2, "UPDATE")
                await client.send("BYE", dialog)
                assert (await client.final()).status == 200
                call = await delivered.next()
            finally:
                client.close()
            assert call.caller.display_name == "Carol Example"
            assert call.callee.display_name == CALLEE_NAME
            assert call.legs == ()  # no RTP was sent: the call is delivered without audio

    _run(scenario)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    """One random damage: a flipped byte, a cut, a repeated line, inserted noise, a
    huge number, or a truncation."""
    buffer = bytearray(data)
    kind = rng.randrange(6)
    at = rng.randrange(len(buffer))
    if kind == 0:
        buffer[at] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del buffer[at : at + rng.randrange(1, 40)]
    elif kind == 2:
        lines = bytes(buffer).split(b"\r\n")
        line = rng.randrange(len(lines))
        lines.insert(line, lines[line])
        buffer = bytearray(b"\r\n".join(lines))
    elif kind == 3:
        buffer[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
    elif kind == 4:
        text = bytes(buffer)
        digits = [i for i in range(len(text)) if 48 <= text[i] <= 57]
        if digits:
            spot = rng.choice(digits)
            buffer[spot : spot + 1] = rng.choice([b"99999999999999999999", b"-1", b"0"])
    else:
        buffer = buffer[:at]
    return bytes(buffer)


def test_mutated_sip_never_breaks_the_server(caplog: pytest.LogCaptureFixture) -> None:
    """1,500 damaged messages derived from a real exchange: every one is answered or
    dropped without an unexpected exception, and the server keeps serving."""
    caplog.set_level(logging.DEBUG, logger="callvault")

    async def scenario() -> None:
        delivered = Delivered()
        async with SiprecServer(delivered, _options()) as server:
            assert server.udp_address is not None
            client = SipClient(server.udp_address)
            await client.open()
            rng = random.Random(5)
            try:
                dialog = Dialog()
                body = multipart(sdp([7000, 7002], "PCMU"), metadata())
                invite, branch = client.request(
                    "INVITE", dialog, body=body, content_type=CONTENT_TYPE
                )
                dialog.to_tag = "abcdef"
                seeds = [
                    invite,
                    client.request("ACK", dialog, cseq=1)[0],
                    client.request("CANCEL", dialog, cseq=1, branch=branch)[0],
                    client.request("BYE", dialog)[0],
                    client.request("OPTIONS", Dialog())[0],
                    client.request("INVITE", dialog, body=body, content_type=CONTENT_TYPE)[0],
                ]
                for count in range(1500):
                    await client.send_raw(_mutate(rng, rng.choice(seeds)))
                    if count % 50 == 49:
                        await asyncio.sleep(0.01)
                        while True:  # drain the answers
                            try:
                                await client.receive_raw(0.001)
                            except TimeoutError:
                                break
                probe = Dialog()
                await client.send("OPTIONS", probe)
                while True:
                    answer = await client.receive_raw()
                    if probe.call_id.encode() in answer:
                        break
                assert answer.startswith(b"SIP/2.0 200 OK\r\n")
                assert server.stats().sip_messages >= 1400
            finally:
                client.close()

    _run(scenario)
    assert "could not be handled" not in caplog.text


def test_no_free_ports_or_too_many_calls_gives_503() -> None:
    async def scenario() -> None:
        low, _ = rtp_port_range()
        for options in (
            _options(rtp_port_min=low, rtp_port_max=low + 3),  # room for one call's 2 pairs
            _options(max_calls=1),
        ):
            async with SiprecServer(Delivered(), options) as server:
                assert server.udp_address is not None
                client = SipClient(server.udp_address)
                await client.open()
                try:
                    first, second = Dialog(), Dialog()
                    _, ok = await _invite(client, first, [7000, 7002], "PCMU")
                    assert ok.status == 200
                    _, busy = await _invite(client, second, [7004, 7006], "PCMU")
                    assert (busy.status, busy.reason) == (503, "Service Unavailable")
                    assert busy.header("retry-after") == "5"
                    first.to_tag, second.to_tag = ok.to.tag, busy.to.tag
                    await client.send("ACK", second, cseq=1)
                    await client.send("ACK", first, cseq=1)
                    assert server.stats().active_calls == 1
                finally:
                    client.close()

    _run(scenario)


def test_rtp_from_a_stranger_is_not_recorded() -> None:
    """RTP is taken from the offer's address or the SRC's, not from anyone who finds
    the port (127.0.0.2 is another address on the Linux loopback)."""

    async def scenario() -> None:
        delivered = Delivered()
        async with SiprecServer(delivered, _options()) as server:
            assert server.udp_address is not None
            client = SipClient(server.udp_address)
            await client.open()
            try:
                dialog = Dialog()
                _, ok = await _invite(client, dialog, [7000, 7002], "PCMU")
                dialog.to_tag = ok.to.tag
                await client.send("ACK", dialog, cseq=1)
                port = answer_ports(ok)[0]
                genuine = RtpSender(41, (HOST, port))
                stranger = RtpSender(42, (HOST, port), source="127.0.0.2")
                payload = g711_encode(audio(0.2, 9), "PCMU")
                await _send_audio([genuine], [payload], 0)
                await _send_audio([stranger], [g711_encode(audio(0.2, 10), "PCMU")], 0)
                await asyncio.sleep(0.1)
                await client.send("BYE", dialog)
                assert (await client.final()).status == 200
                call = await delivered.next()
                genuine.close()
                stranger.close()
            finally:
                client.close()
            assert server.stats().rtp_dropped == 10
            assert [leg.ssrcs for leg in call.legs] == [(41,)]
            _assert_leg(call.legs[0].pcm, g711_decode(payload, "PCMU"))

    _run(scenario)


def test_options_name_what_is_wrong() -> None:
    assert SiprecOptions.listening_on("127.0.0.1:5070").port == 5070
    assert SiprecOptions.listening_on("[::1]:5060").host == "::1"
    with pytest.raises(ConfigError) as caught:
        SiprecOptions.listening_on("localhost")
    assert str(caught.value) == (
        "SIPREC listen address 'localhost' is not host:port (for example 127.0.0.1:5060, "
        "or [::1]:5060 for IPv6)"
    )
    with pytest.raises(ConfigError) as caught:
        SiprecServer(Delivered(), SiprecOptions(rtp_port_min=30000, rtp_port_max=30001))
    assert str(caught.value) == (
        "SIPREC server: RTP port range 30000-30001 must lie within 1024-65535 and hold at "
        "least two even/odd pairs"
    )


def test_a_busy_event_loop_does_not_move_the_audio() -> None:
    """Packets that wait in the socket while the event loop is busy keep the time the
    kernel received them: no silence is inserted where the loop stalled."""

    async def scenario() -> None:
        delivered = Delivered()
        async with SiprecServer(delivered, _options()) as server:
            assert server.udp_address is not None
            client = SipClient(server.udp_address)
            await client.open()
            try:
                dialog = Dialog()
                _, ok = await _invite(client, dialog, [7000, 7002], "PCMU")
                dialog.to_tag = ok.to.tag
                await client.send("ACK", dialog, cseq=1)
                sender = RtpSender(51, (HOST, answer_ports(ok)[0]))
                payload = g711_encode(audio(0.6, 11), "PCMU")
                half = len(payload) // 2
                await _send_audio([sender], [payload[:half]], 0)
                await asyncio.sleep(0.05)  # the server reads the first half now
                for start in range(half, len(payload), 160):  # no await: nothing is read
                    sender.audio(0, payload[start : start + 160])
                time.sleep(1.5)  # the stall under test: the loop cannot read meanwhile
                await asyncio.sleep(0.05)
                await client.send("BYE", dialog)
                assert (await client.final()).status == 200
                call = await delivered.next()
                sender.close()
            finally:
                client.close()
            _assert_leg(call.legs[0].pcm, g711_decode(payload, "PCMU"))

    _run(scenario)
