"""`SiprecServer`: an asyncio SIPREC Session Recording Server (RFC 7866) over UDP and TCP.

What it does with each request (RFC 3261 section 8.2 for the UAS rules):

* INVITE (new): 100 Trying at once; 420 for an unknown `Require` option tag; 488 with a
  Warning when the INVITE is not a Recording Session (neither `Require: siprec` nor
  `+sip.src` in Contact, RFC 7866 section 6.1.1) or carries no usable offer; 503 when the
  call or port limit is reached; else RTP ports are bound for every recordable m= line and
  200 OK answers with recvonly SDP (see `_answer`). With an `on_offer` hook the answer
  waits for it (the policy decision); False gives 403.
* INVITE (re-INVITE, To tag set) and UPDATE: a new offer updates codecs, labels, ports
  and, when present, metadata; 200 OK carries the new answer.
* ACK ends the retransmission of the final response (UDP: T1 = 0.5 s doubling to T2 = 4 s,
  up to 64*T1, RFC 3261 sections 13.3.1.4 and 17.2.1).
* CANCEL: 200 OK; an INVITE still waiting for `on_offer` gets 487 (RFC 3261 section 9.2).
* BYE: 200 OK, then the call is finished and delivered. OPTIONS: 200 OK with Allow,
  Accept and Supported. Other known methods: 405 with Allow; unknown ones: 501.
* A message that does not parse is counted; a request that names where to answer (Via)
  gets 400. Responses are ignored (the only requests the server sends are BYEs).
* A retransmitted request gets the response already sent.

A call ends on BYE, on RTP timeout (`rtp_timeout_s` without a packet or a request), or
on `stop()` (in the last two cases the server sends the SRC a BYE, once); its
`NetworkCall` is built in a worker thread and passed to `on_call`. A call with no RTP is
delivered too, with no legs (`to_captured_call()` then refuses it). RTP is read with the
kernel's receive timestamps (see `_media`), from the SRC's addresses only (see
`SiprecOptions.check_rtp_source`).

Memory bound per call: the RTP packets of the call are kept until it ends, at most
`max_call_bytes` of them (default 32 MiB: about 32 minutes of two G.711 legs at 20 ms
packets, 172 bytes each) plus 16 bytes of bookkeeping per packet; when that is reached
the recording so far is delivered as one segment (end reason "segment_full", a note
"segment N") and recording goes on in a new segment. While a segment is decoded its
memory peaks at about three times that (a merged copy of the packets, then int16 audio,
two bytes per G.711 byte). Other state is bounded too: `max_calls` calls, 4096
remembered transactions.

Logs never carry numbers, names, URIs or audio: only counts and end reasons.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from callvault.capture.net._engine import END_RTP_TIMEOUT
from callvault.capture.net._records import NetworkCall
from callvault.capture.net._rtp import RTCP_TYPES, RtpHeader
from callvault.capture.net._sip import MAX_MESSAGE, SipMessage
from callvault.capture.net._stream import RtpStream
from callvault.capture.siprec._answer import answer_sdp
from callvault.capture.siprec._call import RecordingCall
from callvault.capture.siprec._live import SiprecLive
from callvault.capture.siprec._media import (
    MediaPort,
    PortPool,
    media_address,
    open_port,
    pack_address,
)
from callvault.capture.siprec._messages import (
    bad_request,
    branch_of,
    bye_request,
    option_tags,
    request_problem,
    response,
)
from callvault.capture.siprec._offer import (
    METADATA_TYPES,
    SiprecOffer,
    parse_metadata_update,
    parse_offer_parts,
)
from callvault.capture.siprec._options import SiprecOptions, SiprecStats
from callvault.capture.siprec._recording import RecordedMedia, build_network_call
from callvault.capture.siprec._transactions import Retransmits, TransactionKey, Transactions
from callvault.capture.siprec._transport import Reply, SipUdpProtocol, serve_tcp
from callvault.errors import ParseError

__all__ = [
    "END_BYE",
    "END_SEGMENT_FULL",
    "END_SERVER_STOPPED",
    "OnCall",
    "OnOffer",
    "SiprecOptions",
    "SiprecServer",
    "SiprecStats",
]

logger = logging.getLogger("callvault.capture.siprec")

#: end reasons of a delivered SIPREC call (besides capture/net's "rtp_timeout")
END_BYE = "bye"  # the SRC ended the Recording Session
END_SERVER_STOPPED = "server_stopped"  # `stop()` finished the call
END_SEGMENT_FULL = "segment_full"  # `max_call_bytes` reached; the call goes on

OnCall = Callable[[NetworkCall], Awaitable[None] | None]
OnOffer = Callable[[SiprecOffer], Awaitable[bool] | bool]

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"
ACCEPT = "application/sdp, application/rs-metadata+xml, multipart/mixed"
# RFC 3261 and its extensions define these; the server answers them 405 (RFC 3261 8.2.1).
_KNOWN_METHODS = frozenset(
    {"REGISTER", "INFO", "PRACK", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"}
)
# Option tags a `Require` may name (RFC 3261 section 8.2.2.3); 100rel, timer and the
# like need behaviour this server does not have, so they get 420 like any unknown tag.
_SUPPORTED_OPTIONS = frozenset({"siprec"})


class SiprecServer:
    """A SIPREC recording server; `on_call(network_call)` receives every finished call.

    `on_call` may be a plain function or a coroutine function; it runs on the event loop,
    so a slow one should hand the call on (the vault write belongs in a worker). An
    exception from it is logged (type only) and counted, never raised here. `live`
    holds the DTMF opt-out rules and a streaming monitor's hooks and controls (issue 20);
    calls are then delivered as `LiveNetworkCall`s.
    """

    def __init__(
        self,
        on_call: OnCall,
        options: SiprecOptions | None = None,
        *,
        on_offer: OnOffer | None = None,
        live: SiprecLive | None = None,
    ) -> None:
        self.options = options or SiprecOptions()
        self.options.validate()
        self.live = live or SiprecLive()
        self._on_call = on_call
        self._on_offer = on_offer
        self._counts: Counter[str] = Counter()
        self._calls: dict[str, RecordingCall] = {}
        self._transactions = Transactions()
        self._retransmits = Retransmits()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tcp_tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._ports = PortPool(
            self.options.host, self.options.rtp_port_min, self.options.rtp_port_max
        )
        self._running = False
        self.udp_address: tuple[str, int] | None = None
        self.tcp_address: tuple[str, int] | None = None

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        options = self.options
        # Port 0: TCP takes the UDP port picked (RFC 3261 18), or, held by another, both again.
        tries = 20 if options.port == 0 and options.udp and options.tcp else 1
        for attempt in range(tries):
            port = options.port
            if options.udp:
                self._udp, _ = await loop.create_datagram_endpoint(
                    lambda: SipUdpProtocol(self._sip), local_addr=(options.host, port)
                )
                name = self._udp.get_extra_info("sockname")
                self.udp_address = (str(name[0]), int(name[1]))
                port = port or int(name[1])
            if not options.tcp:
                break
            try:
                self._tcp = await asyncio.start_server(
                    self._tcp_connection, options.host, port, limit=MAX_MESSAGE + 1
                )
            except OSError:
                if self._udp is not None:  # not left bound behind the error
                    self._udp.close()
                    self._udp = None
                if attempt == tries - 1:
                    raise
                continue
            name = self._tcp.sockets[0].getsockname()
            self.tcp_address = (str(name[0]), int(name[1]))
            break
        self._running = True
        self.live.loop = loop
        self._ticker = asyncio.create_task(self._tick())
        logger.info("SIPREC server listening (udp=%s, tcp=%s)", options.udp, options.tcp)

    async def stop(self) -> None:
        """Stop listening, finish and deliver every call in progress, then return."""
        if not self._running:
            await self._drain()
            return
        self._running = False
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self._retransmits.stop_all()
        for call in list(self._calls.values()):  # before the transports close: BYE goes out
            if call.answered_at is None:
                if call.decision is not None:
                    call.decision.cancel()
                self._drop(call)
            else:
                self._finish(call, END_SERVER_STOPPED)
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._tcp_tasks):
                task.cancel()
            await asyncio.gather(*self._tcp_tasks, return_exceptions=True)
            await self._tcp.wait_closed()
        await self._drain()
        logger.info("SIPREC server stopped: %d calls delivered", self._counts["calls_delivered"])

    async def _drain(self) -> None:
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    async def __aenter__(self) -> SiprecServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def stats(self) -> SiprecStats:
        return SiprecStats.of(self._counts, active_calls=len(self._calls))

    # -- transports ----------------------------------------------------------------------

    async def _tcp_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tcp_tasks.add(task)
        try:
            await serve_tcp(reader, writer, self._sip, self._count_malformed)
        finally:
            self._tcp_tasks.discard(task)

    def _count_malformed(self) -> None:
        self._counts["malformed"] += 1

    # -- SIP -----------------------------------------------------------------------------

    def _sip(self, data: bytes, reply: Reply, source: tuple[str, int], transport: str) -> None:
        """One SIP message from the network; never raises."""
        if not data.strip(b"\r\n \t"):
            return  # keep-alive
        self._counts["sip_messages"] += 1
        try:
            message = SipMessage.parse(data)
        except ParseError:
            self._counts["malformed"] += 1
            payload = bad_request(data, source)
            if payload is not None:
                reply(payload)
            return
        if not message.is_request:
            return
        try:
            self._request(message, reply, source, transport)
        except Exception as error:  # noqa: BLE001 - one bad request never stops the server
            self._counts["malformed"] += 1
            # The type only: a message could quote a header, and headers carry numbers.
            logger.error("SIPREC request could not be handled (%s)", _kind(error))
            with contextlib.suppress(Exception):
                reply(self._response(message, 500, "Server Internal Error", source=source))

    def _request(
        self, message: SipMessage, reply: Reply, source: tuple[str, int], transport: str
    ) -> None:
        method = message.method or ""
        problem = request_problem(message)
        if problem is not None:
            self._counts["malformed"] += 1
            if method != "ACK":  # an ACK is never answered (RFC 3261 section 17.2.3)
                reply(self._response(message, 400, "Bad Request", source=source, warning=problem))
            return
        # The branch names the transaction; the CSeq number tells requests apart where an
        # old client sends no RFC 3261 branch.
        key: TransactionKey = (message.call_id, branch_of(message), method, message.cseq[0])
        if method != "ACK":
            seen = self._transactions.get(key)
            if seen is not None:  # a retransmission (RFC 3261 section 17.2)
                if seen[1] is not None:
                    reply(seen[1])
                return
            self._transactions.remember(key, None)

        def answer(payload: bytes) -> None:
            self._transactions.remember(key, payload)
            reply(payload)

        if method == "INVITE":
            if message.to.tag is None:
                self._invite(message, answer, source, transport)
                call = self._calls.get(message.call_id)
                if call is not None and call.send is None:
                    call.send = reply
            else:
                self._reinvite(message, answer, source)
        elif method == "ACK":
            self._ack(message)
        elif method == "BYE":
            self._bye(message, answer, source)
        elif method == "CANCEL":
            self._cancel(message, answer, source)
        elif method == "OPTIONS":
            answer(
                self._response(
                    message,
                    200,
                    "OK",
                    source=source,
                    to_tag=secrets.token_hex(6),
                    extra=[("allow", ALLOW), ("accept", ACCEPT), ("supported", "siprec")],
                )
            )
        elif method == "UPDATE":
            self._update(message, answer, source)
        elif method in _KNOWN_METHODS:
            answer(
                self._response(
                    message, 405, "Method Not Allowed", source=source, extra=[("allow", ALLOW)]
                )
            )
        else:
            answer(self._response(message, 501, "Not Implemented", source=source))

    def _invite(
        self, message: SipMessage, reply: Reply, source: tuple[str, int], transport: str
    ) -> None:
        reply(self._response(message, 100, "Trying", source=source))
        reject = functools.partial(self._reject, udp=transport == "UDP")
        require = option_tags(message.headers.get("require", []))
        unknown = sorted(require - _SUPPORTED_OPTIONS)
        if unknown:
            reject(message, reply, source, 420, "Bad Extension", unsupported=unknown)
            return
        contact = ",".join(message.headers.get("contact", [])).lower()
        if "siprec" not in require and "+sip.src" not in contact:
            reject(
                message,
                reply,
                source,
                488,
                "Not Acceptable Here",
                warning="not a SIPREC recording session: no Require: siprec and no "
                "+sip.src in Contact (RFC 7866 section 6.1.1)",
            )
            return
        if message.call_id in self._calls:
            reject(message, reply, source, 482, "Loop Detected")
            return
        if not message.body:
            reject(
                message,
                reply,
                source,
                488,
                "Not Acceptable Here",
                warning="the INVITE carries no SDP offer; this recording server needs one",
            )
            return
        try:
            offer = parse_offer_parts(
                message.body, message.header("content-type") or "", require_metadata=False
            )
        except ParseError as error:
            reject(message, reply, source, 488, "Not Acceptable Here", warning=str(error))
            return
        if len(self._calls) >= self.options.max_calls:
            reject(message, reply, source, 503, "Service Unavailable", extra=[("retry-after", "5")])
            return
        now = time.time()
        call = RecordingCall(
            call_id=message.call_id,
            remote_tag=message.from_.tag,
            local_tag=secrets.token_hex(8),
            invite_branch=branch_of(message),
            invite_cseq=message.cseq[0],
            transport=transport,
            source=source,
            media_address=media_address(self.options.media_address, self.options.host, source[0]),
            offer=offer,
            started_at=now,
            last_activity=now,
            sdp_session=secrets.randbelow(1 << 31),
            invite=message,
            invite_reply=reply,
        )
        outcome = call.apply_offer(offer, self._ports, check_source=self.options.check_rtp_source)
        if outcome == "no ports":
            logger.warning("SIPREC server: no free RTP port pair in the configured range")
            call.release()
            reject(message, reply, source, 503, "Service Unavailable", extra=[("retry-after", "5")])
            return
        if outcome != "ok":
            call.release()
            reject(
                message,
                reply,
                source,
                488,
                "Not Acceptable Here",
                warning="no offered stream can be recorded (audio over RTP/AVP in PCMU, "
                "PCMA, G722, G729, opus or L16)",
            )
            return
        self._calls[call.call_id] = call
        self._counts["calls_started"] += 1
        self._open(call)
        if self._on_offer is None:
            self._accept(call)
        else:
            call.decision = asyncio.create_task(self._decide(call))

    async def _decide(self, call: RecordingCall) -> None:
        """Ask `on_offer`, then answer 200 OK or refuse (CANCEL may come meanwhile)."""
        assert call.invite is not None and self._on_offer is not None
        try:
            verdict = self._on_offer(call.offer)
            if inspect.isawaitable(verdict):
                verdict = await verdict
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the hook's failure refuses this call only
            logger.error("SIPREC on_offer hook failed (%s); the call is refused", _kind(error))
            verdict = None
        call.decision = None
        if call.finished or call.call_id not in self._calls:
            return
        if verdict is True:
            self._accept(call)
            return
        self._drop(call)
        status, reason = (403, "Forbidden") if verdict is False else (500, "Server Internal Error")
        assert call.invite_reply is not None
        self._reject(call.invite, call.invite_reply, call.source, status, reason, to=call)

    def _accept(self, call: RecordingCall) -> None:
        assert call.invite is not None and call.invite_reply is not None
        call.answered_at = time.time()
        call.last_activity = call.answered_at
        self.live.answered(call)
        self._final(call, call.invite, call.invite_reply, 200, "OK", sdp=True)

    def _final(
        self,
        call: RecordingCall,
        request: SipMessage,
        reply: Reply,
        status: int,
        reason: str,
        *,
        sdp: bool = False,
        warning: str | None = None,
    ) -> None:
        """A final response to an INVITE (or UPDATE), retransmitted over UDP until ACK."""
        body = b""
        extra = [("allow", ALLOW), ("supported", "siprec")]
        if sdp:
            call.sdp_version += 1
            body = answer_sdp(
                call.answer,
                address=call.media_address,
                session_id=call.sdp_session,
                version=call.sdp_version,
            )
            extra.insert(0, ("contact", self._contact(call)))
        payload = self._response(
            request,
            status,
            reason,
            source=call.source,
            to_tag=call.local_tag,
            extra=extra,
            body=body,
            content_type="application/sdp" if body else None,
            warning=warning,
        )
        reply(payload)
        if request.method == "INVITE" and call.transport == "UDP":
            self._retransmits.restart((call.call_id, request.cseq[0]), reply, payload)

    def _reject(
        self,
        request: SipMessage,
        reply: Reply,
        source: tuple[str, int],
        status: int,
        reason: str,
        *,
        warning: str | None = None,
        unsupported: list[str] | None = None,
        extra: list[tuple[str, str]] | None = None,
        to: RecordingCall | None = None,
        udp: bool = True,
    ) -> None:
        self._counts["calls_rejected"] += 1
        headers = list(extra or [])
        if unsupported:
            headers.append(("unsupported", ", ".join(unsupported)))
        payload = self._response(
            request,
            status,
            reason,
            source=source,
            to_tag=to.local_tag if to is not None else secrets.token_hex(8),
            extra=headers,
            warning=warning,
        )
        reply(payload)
        if udp if to is None else to.transport == "UDP":
            self._retransmits.start((request.call_id, request.cseq[0]), reply, payload)

    def _reinvite(self, message: SipMessage, reply: Reply, source: tuple[str, int]) -> None:
        call = self._dialog(message)
        if call is None:
            reply(self._response(message, 481, "Call/Transaction Does Not Exist", source=source))
            return
        call.last_activity = time.time()
        if message.body:
            try:
                offer = self._merge_offer(call, message)
            except ParseError as error:
                self._final(call, message, reply, 488, "Not Acceptable Here", warning=str(error))
                return
            call.apply_offer(offer, self._ports, check_source=self.options.check_rtp_source)
            self._open(call)
        self._final(call, message, reply, 200, "OK", sdp=True)

    def _update(self, message: SipMessage, reply: Reply, source: tuple[str, int]) -> None:
        call = self._dialog(message)
        if call is None:
            reply(self._response(message, 481, "Call/Transaction Does Not Exist", source=source))
            return
        call.last_activity = time.time()
        if message.content_type in METADATA_TYPES:  # a metadata update (RFC 7866 section 9)
            call.offer = parse_metadata_update(call.offer, message.body)
            call.remap()
            self._final(call, message, reply, 200, "OK")
            return
        if message.body:
            try:
                offer = self._merge_offer(call, message)
            except ParseError as error:
                self._final(call, message, reply, 488, "Not Acceptable Here", warning=str(error))
                return
            call.apply_offer(offer, self._ports, check_source=self.options.check_rtp_source)
            self._open(call)
            self._final(call, message, reply, 200, "OK", sdp=True)
            return
        self._final(call, message, reply, 200, "OK")

    def _merge_offer(self, call: RecordingCall, message: SipMessage) -> SiprecOffer:
        offer = parse_offer_parts(
            message.body, message.header("content-type") or "", require_metadata=False
        )
        if not offer.has_metadata:  # an SDP alone keeps the metadata already known
            offer = SiprecOffer(
                offer.sdp,
                offer.media,
                call.offer.participants,
                call.offer.streams,
                call.offer.session_ids,
                call.offer.has_metadata,
                call.offer.warnings,
            )
        return offer

    def _ack(self, message: SipMessage) -> None:
        self._retransmits.stop((message.call_id, message.cseq[0]))
        call = self._calls.get(message.call_id)
        if call is not None:
            call.last_activity = time.time()

    def _bye(self, message: SipMessage, reply: Reply, source: tuple[str, int]) -> None:
        call = self._dialog(message)
        if call is None:
            reply(self._response(message, 481, "Call/Transaction Does Not Exist", source=source))
            return
        reply(self._response(message, 200, "OK", source=source, to_tag=call.local_tag))
        if call.answered_at is None:
            self._drop(call)
        else:
            self._finish(call, END_BYE)

    def _cancel(self, message: SipMessage, reply: Reply, source: tuple[str, int]) -> None:
        call = self._calls.get(message.call_id)
        if call is None or call.invite_branch != branch_of(message):
            reply(self._response(message, 481, "Call/Transaction Does Not Exist", source=source))
            return
        reply(self._response(message, 200, "OK", source=source, to_tag=call.local_tag))
        if call.answered_at is not None:
            return  # RFC 3261 section 9.2: a CANCEL after the final response changes nothing
        self._counts["calls_cancelled"] += 1
        if call.decision is not None:
            call.decision.cancel()
        self._drop(call)
        assert call.invite is not None and call.invite_reply is not None
        payload = self._response(
            call.invite, 487, "Request Terminated", source=source, to_tag=call.local_tag
        )
        call.invite_reply(payload)
        if call.transport == "UDP":
            self._retransmits.start((call.call_id, call.invite_cseq), call.invite_reply, payload)

    def _dialog(self, message: SipMessage) -> RecordingCall | None:
        call = self._calls.get(message.call_id)
        if call is None or call.finished or message.to.tag != call.local_tag:
            return None
        if call.remote_tag is not None and message.from_.tag != call.remote_tag:
            return None  # same Call-ID, another dialog (RFC 3261 section 12.2.2)
        return call

    # -- media ---------------------------------------------------------------------------

    def _open(self, call: RecordingCall) -> None:
        """Start reading the ports bound for `call` (those not read yet)."""
        for port in call.ports:
            if port is not None:
                open_port(port, functools.partial(self._rtp, call, port))

    def _rtp(
        self,
        call: RecordingCall,
        port: MediaPort,
        data: bytes,
        addr: tuple[Any, ...],
        rtcp: bool,
        arrival: float,
    ) -> None:
        if call.finished:
            return
        if rtcp or (len(data) >= 8 and data[1] in RTCP_TYPES):  # RFC 5761 demultiplexing
            self._counts["rtcp_packets"] += 1
            return
        if len(data) < 12 or data[0] != 0x80:  # not the plain 12-byte header: check it all
            try:
                RtpHeader.parse(data)
            except ParseError:
                self._counts["rtp_dropped"] += 1
                return
        host = addr[0]
        if (
            data[1] & 0x7F not in port.accepted
            or (port.sources is not None and host not in port.sources)
            or not self.live.keeps(call)  # consent withdrawn
        ):
            self._counts["rtp_dropped"] += 1
            return
        key = (host, addr[1], data[8:12])
        stream = port.streams.get(key)
        if stream is None:
            ssrc = int.from_bytes(key[2], "big")
            local = pack_address(self.options.host)
            stream = RtpStream(pack_address(host), addr[1], local, port.number, ssrc)
            port.streams[key] = stream
            port.recorded.streams[(stream.src, stream.sport, ssrc)] = stream
        stream.add(arrival, data)
        self.live.packet(call, port.recorded.channel, port.recorded.codecs, stream, data, arrival)
        call.last_activity = max(call.last_activity, arrival)
        call.bytes_held += len(data)
        self._counts["rtp_packets"] += 1
        if call.bytes_held >= self.options.max_call_bytes:
            self._deliver(call, END_SEGMENT_FULL, keep_going=True)

    # -- ending calls --------------------------------------------------------------------

    def _drop(self, call: RecordingCall) -> None:
        """Forget a call that was never answered: nothing was recorded."""
        call.finished = True
        self._calls.pop(call.call_id, None)
        call.release()

    def _finish(self, call: RecordingCall, reason: str) -> None:
        if call.finished:
            return
        if reason != END_BYE:
            self._send_bye(call)
        call.finished = True
        self._calls.pop(call.call_id, None)
        call.release()
        self._retransmits.stop_call(call.call_id)
        self._counts["calls_finished"] += 1
        self.live.ended(call)
        self._deliver(call, reason, keep_going=False)
        self.live.forget(call)
        logger.info("SIPREC call finished: %s", reason)

    def _deliver(self, call: RecordingCall, reason: str, *, keep_going: bool) -> None:
        media: list[RecordedMedia] = []
        for port in call.ports:
            if port is None:
                continue
            recorded = port.recorded
            media.append(RecordedMedia(recorded.index, recorded.channel, dict(recorded.codecs)))
            media[-1].streams = recorded.streams
            if keep_going:
                recorded.streams = {}
                port.streams = {}
        notes = ["siprec", *call.offer.warnings]
        if keep_going or call.segment > 1:
            notes.append(f"segment {call.segment}")
        now = time.time()
        started = call.started_at
        if keep_going:
            call.segment += 1
            call.bytes_held = 0
            call.started_at = now
        edit = self.live.edits(call, started)
        build = functools.partial(
            build_network_call,
            call_id=call.call_id,
            offer=call.offer,
            media=media,
            started_at=started,
            answered_at=call.answered_at,
            ended_at=now,
            end_reason=reason,
            notes=tuple(notes),
        )
        task = asyncio.get_running_loop().create_task(self._hand_over(lambda: edit(build())))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _hand_over(self, build: Callable[[], NetworkCall]) -> None:
        """Build the call in a worker thread (decoding is CPU-bound), then `on_call`."""
        try:
            network_call = await asyncio.to_thread(build)
            result = self._on_call(network_call)
            if inspect.isawaitable(result):
                await result
            self._counts["calls_delivered"] += 1
        except Exception as error:  # noqa: BLE001 - a failed delivery never stops the server
            self._counts["delivery_errors"] += 1
            logger.error("SIPREC call could not be delivered (%s)", _kind(error))

    async def _tick(self) -> None:
        """RTP timeouts and expiry of remembered transactions."""
        period = min(1.0, self.options.rtp_timeout_s / 4)
        while True:
            await asyncio.sleep(period)
            now = time.time()
            self.live.tick(now)
            for call in list(self._calls.values()):
                if (
                    call.answered_at is not None
                    and now - call.last_activity > self.options.rtp_timeout_s
                ):
                    self._finish(call, END_RTP_TIMEOUT)
            self._transactions.expire()

    # -- messages ------------------------------------------------------------------------

    def _contact(self, call: RecordingCall) -> str:
        address = call.media_address
        host = f"[{address}]" if ":" in address else address
        bound = self.udp_address if call.transport == "UDP" else self.tcp_address
        port = bound[1] if bound else self.options.port
        return f"<sip:srs@{host}:{port};transport={call.transport.lower()}>;+sip.srs"

    def _send_bye(self, call: RecordingCall) -> None:
        """End the Recording Session from our side (RTP timeout, `stop()`), so the SRC
        stops sending and can tell that recording ended (RFC 7866 section 6.1.2). Sent
        once, without waiting for the answer."""
        if call.send is None or call.invite is None or call.answered_at is None:
            return
        bound = self.udp_address if call.transport == "UDP" else self.tcp_address
        port = bound[1] if bound else self.options.port
        with contextlib.suppress(Exception):
            call.send(
                bye_request(
                    call.invite,
                    local_tag=call.local_tag,
                    via=(call.media_address, port, call.transport),
                    server=self.options.user_agent,
                )
            )

    def _response(self, request: SipMessage, status: int, reason: str, **kwargs: Any) -> bytes:
        return response(request, status, reason, server=self.options.user_agent, **kwargs)


def _kind(error: BaseException) -> str:
    return type(error).__name__
