"""The capture pipeline: frames -> datagrams -> SIP dialogs and RTP streams -> calls.

Stages, in order:

1. `read`: every frame of every file through `PacketDecoder`; each UDP/TCP/SCTP payload
   is classified as RTCP (counted, never taken for RTP), RTP (appended to its stream) or
   SIP (fed to its dialog). A payload that fails to parse is counted under a reason.
2. `finish`: RTP streams are mapped to dialogs by the SDP address and port they were sent
   to (or from: symmetric RTP), taking the SDP in force when the stream started, so a
   re-INVITE that moves the media is followed. A relay's copy of a mapped stream (same
   SSRC and sequence numbers, on a hop no SDP names) is listed with that call, not
   decoded again. Other streams without SDP are kept when RTP heuristics accept them and
   paired into "RTP-only" calls, unless too short to be one (`MIN_RTP_ONLY_PACKETS`).
3. Each call's legs are analysed (order, loss, jitter, MOS), decoded and resampled to one
   rate per call; DTMF comes from RFC 4733 packets and SIP INFO (`_assemble`).

Nothing here logs personal data: the logger only ever sees counts.
"""

from __future__ import annotations

import logging
import mmap
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from callvault.capture.net._assemble import assemble_call, stream_codecs, stream_info
from callvault.capture.net._dialog import (
    END_BYE_CALLEE,
    END_BYE_CALLER,
    END_CANCELLED,
    END_CAPTURE_ENDED,
    END_REJECTED,
    END_RTP_TIMEOUT,
    Dialog,
    SdpEndpoint,
)
from callvault.capture.net._packet import PROTO_UDP, Datagram, PacketDecoder, pack_ip
from callvault.capture.net._pcap import open_capture, span_arrays
from callvault.capture.net._records import (
    CaptureResult,
    CaptureStats,
    NetworkCall,
    StreamInfo,
)
from callvault.capture.net._rtp import RTCP_TYPES, CodecInfo
from callvault.capture.net._sip import SessionDescription, SipMessage, parse_dtmf_info
from callvault.capture.net._stream import RtpStream, is_relayed_copy, looks_like_rtp
from callvault.errors import CaptureError, ParseError

__all__ = [
    "END_BYE_CALLEE",
    "END_BYE_CALLER",
    "END_CANCELLED",
    "END_CAPTURE_ENDED",
    "END_REJECTED",
    "END_RTP_TIMEOUT",
    "CaptureSession",
    "Dialog",
    "StreamKey",
    "read_captures",
]

logger = logging.getLogger("callvault.capture.net")

PROGRESS_EVERY = 10_000
#: RTP seen without SIP is a call of its own only with at least this many packets over at
#: least this long: 1 s of speech at the 20 ms packetisation of RFC 3551 (G.711's
#: default). Fewer are strays: the tail of a call that began before the capture, a
#: relay probing a port, early media of a dialog on a hop no SDP names, a burst of video
#: or keep-alives. A stream with RFC 4733 events is kept however short: a key press is
#: sent on purpose (10 packets make one digit).
MIN_RTP_ONLY_PACKETS = 50
MIN_RTP_ONLY_S = 1.0
_STRAY = "RTP too short for a call"
# Reasons that are ordinary traffic rather than damage; everything else counts as malformed.
_BENIGN = frozenset(
    {
        "not IP",
        "unsupported link type",
        "not UDP, TCP or SCTP",
        "TCP retransmission",
        "not SIP or RTP",
        "not RTP (heuristics)",
        _STRAY,
    }
)
_SIP_FIRST_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")

ProgressHook = Callable[[str, int], None]
#: an RTP stream: source address and port, destination address and port, SSRC (4 bytes)
StreamKey = tuple[bytes, int, bytes, int, bytes]
# Byte offsets, in an Ethernet/IPv4/UDP/RTP frame, of the addresses and ports, then SSRC.
_KEY_COLUMNS = np.array([*range(26, 38), *range(50, 54)], dtype=np.int64)


class CaptureSession:
    """State of one `read_captures` run: read files (or bytes, or frames), then `finish()`.

    Everything read before `finish()` is one capture: a call may span files. `finish()`
    decodes and then frees each stream's packets, so it is called once. A file that is
    not a capture raises `CaptureError` from `read_file`/`read_bytes`; nothing inside a
    capture ever raises.
    """

    def __init__(self, on_progress: ProgressHook | None = None) -> None:
        self.decoder = PacketDecoder()
        self.skipped: Counter[str] = Counter()
        self.on_progress = on_progress
        self.files = 0
        self.packets = 0
        self.datagrams = 0
        self.sip_messages = 0
        self.rtp_packets = 0
        self.rtcp_packets = 0
        self.last_time = 0.0
        self.streams: dict[StreamKey, RtpStream] = {}
        self.dialogs: dict[str, Dialog] = {}
        self.endpoints: dict[tuple[bytes, int], list[SdpEndpoint]] = defaultdict(list)

    # -- stage 1: read -----------------------------------------------------------------

    def read_file(self, path: Path) -> None:
        """Read one pcap or pcapng file into this session."""
        # The map is not closed here: RTP streams keep numpy views of it until they are
        # decoded, and it is unmapped when the last of them lets go.
        self.scan(str(path), open_capture(path))

    def read_bytes(self, data: bytes, name: str = "capture") -> None:
        self.scan(name, data)

    def feed(self, name: str, frames: Iterable[tuple[float, int, bytes]]) -> None:
        """Process frames (time, link type, bytes) one by one; never raises for a bad one."""
        self.files += 1
        hook = self.on_progress
        for time, linktype, data in frames:
            self.packets += 1
            self.frame(time, linktype, data)
            if hook is not None and self.packets % PROGRESS_EVERY == 0:
                hook(name, self.packets)
        if hook is not None:
            hook(name, self.packets)

    def frame(self, time: float, linktype: int, data: bytes) -> None:
        """The general path for one frame: decode, then SIP, RTP or RTCP."""
        if time > self.last_time:
            self.last_time = time
        try:
            for datagram in self.decoder.decode(time, linktype, data):
                self.datagram(datagram)
        except Exception:  # noqa: BLE001 - one bad packet never stops a capture
            self.skipped["decoder error"] += 1

    def scan(self, name: str, buffer: bytes | mmap.mmap) -> None:
        """Process a whole capture held in `buffer` (bytes or a memory map).

        Most packets of a call capture are plain RTP over UDP/IPv4 on Ethernet. Where
        every frame lies is read first; those RTP frames are then picked out with numpy
        and handed to their streams by `_bulk_rtp` without copying them. Every other
        frame takes the general path, `frame`, in file order.
        """
        self.files += 1
        times, links, starts, sizes = span_arrays(buffer, name=name)
        count = len(times)
        if count == 0:
            return
        buf = np.frombuffer(buffer, dtype=np.uint8)
        candidates = np.flatnonzero((links == 1) & (sizes >= 54))
        at = starts[candidates]
        plain_rtp = (
            (buf[at + 12] == 8)  # IPv4 ...
            & (buf[at + 13] == 0)
            & (buf[at + 14] == 0x45)  # ... without options
            & (buf[at + 23] == 17)  # UDP
            & (buf[at + 42] == 0x80)  # RTP version 2: no padding, extension or CSRC
        )
        bulk = candidates[plain_rtp]
        general = np.ones(count, dtype=bool)
        general[bulk] = False
        hook = self.on_progress
        done = self.packets
        for handled, index in enumerate(np.flatnonzero(general).tolist(), 1):
            start = int(starts[index])
            data = bytes(buffer[start : start + int(sizes[index])])
            self.frame(float(times[index]), int(links[index]), data)
            if hook is not None and handled % PROGRESS_EVERY == 0:
                hook(name, done + index)
        self.packets += count
        self.last_time = max(self.last_time, float(times.max()))
        self._bulk_rtp(buffer, buf, starts[bulk], sizes[bulk], times[bulk])
        if hook is not None:
            hook(name, self.packets)

    def _bulk_rtp(
        self,
        buffer: bytes | mmap.mmap,
        buf: npt.NDArray[np.uint8],
        frame: npt.NDArray[np.int64],
        size: npt.NDArray[np.int64],
        time: npt.NDArray[np.float64],
    ) -> None:
        if len(frame) == 0:
            return
        total = (buf[frame + 16].astype(np.int64) << 8) | buf[frame + 17]
        second = buf[frame + 43]
        good = (
            (buf[frame + 20] & 0x3F == 0)  # not a fragment
            & (buf[frame + 21] == 0)
            & (total >= 40)
            & (total <= size - 14)
            & ((second < 192) | (second >= 224))  # RTCP (RFC 5761) goes the general way
        )
        for index in np.flatnonzero(~good).tolist():
            start = int(frame[index])
            self.frame(float(time[index]), 1, bytes(buffer[start : start + int(size[index])]))
        frame, total, time = frame[good], total[good], time[good]
        if len(frame) == 0:
            return
        self.datagrams += len(frame)
        self.rtp_packets += len(frame)
        # Stream key: addresses and ports (bytes 26-37) and SSRC (50-53), as two integers,
        # hashed into one for a fast sort; the groups are then checked for collisions.
        key_bytes = buf.take(frame[:, None] + _KEY_COLUMNS)
        keys = np.ascontiguousarray(key_bytes).view(np.uint64).reshape(-1, 2)
        hashed = keys[:, 0] ^ (keys[:, 1] * np.uint64(0x9E3779B97F4A7C15))
        order = np.argsort(hashed, kind="stable")  # stable: file order within a stream
        ordered = hashed[order]
        cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
        bounds = np.concatenate(([0], cuts, [len(order)]))
        leaders = order[bounds[:-1]]
        group_of = np.repeat(np.arange(len(leaders)), np.diff(bounds))
        if not np.array_equal(keys[order], keys[leaders[group_of]]):
            # Two streams share a hash (astronomically rare): sort on the full key.
            order = np.lexsort((keys[:, 1], keys[:, 0]))
            ordered_keys = keys[order]
            change = np.any(ordered_keys[1:] != ordered_keys[:-1], axis=1)
            bounds = np.concatenate(([0], np.flatnonzero(change) + 1, [len(order)]))
            leaders = order[bounds[:-1]]
        rtp_start = frame + 42
        rtp_end = frame + 14 + total
        for group, leader in enumerate(leaders.tolist()):
            raw = key_bytes[leader].tobytes()
            src, dst = raw[0:4], raw[4:8]
            sport, dport = (raw[8] << 8) | raw[9], (raw[10] << 8) | raw[11]
            full = (src, sport, dst, dport, raw[12:16])
            stream = self.streams.get(full)
            if stream is None:
                ssrc = int.from_bytes(raw[12:16], "big")
                stream = self.streams[full] = RtpStream(src, sport, dst, dport, ssrc)
            members = np.sort(order[bounds[group] : bounds[group + 1]])
            stream.add_chunk(buf, rtp_start[members], rtp_end[members], time[members])

    def datagram(self, datagram: Datagram) -> None:
        self.datagrams += 1
        payload = datagram.payload
        if not payload:
            self.skipped["empty payload"] += 1
            return
        first = payload[0]
        if first >> 6 == 2 and datagram.proto == PROTO_UDP:
            if len(payload) >= 8 and payload[1] in RTCP_TYPES:
                self.rtcp_packets += 1
                return
            self._rtp(datagram, payload, first)
            return
        if first in _SIP_FIRST_BYTES:
            try:
                message = SipMessage.parse(payload)
            except ParseError:
                # Other text protocols (MGCP, keep-alives) are not damage; SIP is.
                line = payload[: payload.find(b"\n")]
                self.skipped["malformed SIP" if b"SIP/2.0" in line else "not SIP or RTP"] += 1
                return
            self.sip_messages += 1
            self.sip(message, datagram.time)
            return
        self.skipped["not SIP or RTP"] += 1

    def _rtp(self, datagram: Datagram, payload: bytes, first: int) -> None:
        size = len(payload)
        if size < 12:
            self.skipped["malformed RTP"] += 1
            return
        if first & 0x3F:  # CSRCs, extension or padding: check they fit
            start = 12 + (first & 0x0F) * 4
            if first & 0x10:
                if size < start + 4:
                    self.skipped["malformed RTP"] += 1
                    return
                start += 4 + ((payload[start + 2] << 8) | payload[start + 3]) * 4
            end = size - payload[-1] if first & 0x20 else size
            if start > end:
                self.skipped["malformed RTP"] += 1
                return
        key = (datagram.src, datagram.sport, datagram.dst, datagram.dport, payload[8:12])
        self.rtp_packet(key, datagram.time, payload)

    def rtp_packet(self, key: StreamKey, time: float, payload: bytes) -> None:
        """Append one checked RTP packet to its stream (live capture overrides this)."""
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = RtpStream(
                key[0], key[1], key[2], key[3], int.from_bytes(key[4], "big")
            )
        stream.add(time, payload)
        self.rtp_packets += 1

    def sip(self, message: SipMessage, time: float) -> None:
        """Apply one SIP message to its dialog (RFC 3261 sections 12-15, loosely)."""
        call_id = message.call_id
        dialog = self.dialogs.get(call_id)
        _, cseq_method = message.cseq
        if message.method == "INVITE":
            if dialog is None:
                sender = message.from_
                dialog = self.dialogs[call_id] = Dialog(
                    call_id, sender, message.to, sender.tag, time, last_time=time
                )
            elif dialog.answered_at is None and message.to.tag is None:
                dialog.pending_error = None  # a retry after 401/407 or a retransmission
        if dialog is None:
            return  # REGISTER, OPTIONS, ... outside an INVITE dialog are not calls
        dialog.last_time = max(dialog.last_time, time)
        from_tag = message.from_.tag
        from_caller = from_tag == dialog.caller_tag
        side = (0 if from_caller else 1) if message.is_request else (1 if from_caller else 0)
        agent = message.header("user-agent") or message.header("server")
        if agent and side not in dialog.user_agents:
            dialog.user_agents[side] = agent
        for ctype, body in message.body_parts():
            if ctype == "application/sdp":
                self._sdp(dialog, side, body, time)
            elif ctype in _DTMF_TYPES and message.method == "INFO":
                found = parse_dtmf_info(ctype, body)
                if found is not None:
                    dialog.dtmf.append((found[0], time, found[1], side))
        if message.status is not None and cseq_method == "INVITE":
            if 200 <= message.status < 300:
                if dialog.answered_at is None:
                    dialog.answered_at = time
                dialog.pending_error = None
            elif message.status >= 300 and dialog.answered_at is None:
                if message.status not in (401, 407):  # challenges are followed by a retry
                    dialog.pending_error = message.status
                    if dialog.ended_at is None:
                        dialog.ended_at = time
        elif message.method == "BYE" and dialog.end_reason is None:
            dialog.ended_at = time
            dialog.end_reason = END_BYE_CALLER if side == 0 else END_BYE_CALLEE
        elif message.method == "CANCEL" and dialog.answered_at is None:
            if dialog.end_reason is None:
                dialog.ended_at = time
                dialog.end_reason = END_CANCELLED

    def _sdp(self, dialog: Dialog, side: int, body: bytes, time: float) -> None:
        try:
            sdp = SessionDescription.parse(body)
        except ParseError:
            self.skipped["malformed SDP"] += 1
            return
        for media in sdp.media:
            if media.media != "audio" or media.port <= 0 or media.address is None:
                continue
            for pt, rtpmap in media.rtpmap.items():
                dialog.rtpmaps[side][pt] = CodecInfo(
                    rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels
                )
            address = pack_ip(media.address)
            if address is None:
                continue
            dialog.endpoints.add((address, media.port))
            entries = self.endpoints[(address, media.port)]
            if not entries or entries[-1].dialog is not dialog or entries[-1].side != side:
                entries.append(SdpEndpoint(time, dialog, side))

    # -- stage 2: map streams to calls -----------------------------------------------

    def _lookup(self, address: bytes, port: int, when: float) -> SdpEndpoint | None:
        entries = self.endpoints.get((address, port))
        if not entries:
            return None
        # The SDP in force when the stream began; an answer may come a little after the
        # first media packet (early media, packet order at the capture point).
        best = None
        for entry in entries:
            if entry.time <= when + 2.0:
                best = entry
        return best or entries[0]

    def _place(self, stream: RtpStream) -> tuple[Dialog | None, int | None]:
        """The dialog and channel of a stream, from the SDP naming where it goes or comes from."""
        first = float(stream.arrival[0])
        endpoint = self._lookup(stream.dst, stream.dport, first)
        if endpoint is not None:
            return endpoint.dialog, 1 - endpoint.side  # sent to a party: the other's voice
        endpoint = self._lookup(stream.src, stream.sport, first)
        if endpoint is not None:
            return endpoint.dialog, endpoint.side  # symmetric RTP: sent from its own port
        return None, None

    def finish(self) -> CaptureResult:
        mapped: dict[str, dict[int, list[RtpStream]]] = defaultdict(lambda: {0: [], 1: []})
        codecs_of: dict[int, dict[int, CodecInfo]] = {}
        info_of: dict[int, StreamInfo] = {}
        orphans: list[RtpStream] = []
        placed: dict[int, tuple[Dialog | None, int | None]] = {}
        flows: dict[tuple[bytes, int, bytes, int], tuple[Dialog, int]] = {}
        for stream in self.streams.values():
            placed[id(stream)] = self._place(stream)
            dialog, channel = placed[id(stream)]
            if dialog is not None and channel is not None:
                flows[(stream.src, stream.sport, stream.dst, stream.dport)] = (dialog, channel)
        copies = self._relayed_copies(placed)
        relayed: dict[str, list[RtpStream]] = defaultdict(list)
        for stream in self.streams.values():
            dialog, channel = placed[id(stream)]
            if id(stream) in copies:
                # Already heard through the stream an SDP names: listed with its call,
                # never decoded again nor paired into a call of its own.
                dialog, channel = copies[id(stream)]
                codecs = stream_codecs(stream, dialog)
                info_of[id(stream)] = stream_info(stream, codecs, dialog.call_id, channel)
                relayed[dialog.call_id].append(stream)
                stream.release()
                continue
            if dialog is None:
                # Symmetric RTP behind NAT: the reverse of a mapped flow is the other leg,
                # even where no SDP names its addresses.
                reverse = flows.get((stream.dst, stream.dport, stream.src, stream.sport))
                if reverse is not None:
                    dialog, channel = reverse[0], 1 - reverse[1]
            if dialog is None and not looks_like_rtp(stream):
                self.skipped["not RTP (heuristics)"] += len(stream)
                continue
            codecs = stream_codecs(stream, dialog)
            codecs_of[id(stream)] = codecs
            if dialog is not None and channel is not None:
                mapped[dialog.call_id][channel].append(stream)
            else:
                orphans.append(stream)
            info_of[id(stream)] = stream_info(
                stream, codecs, dialog.call_id if dialog else None, channel
            )
        calls: list[NetworkCall] = []
        for call_id, dialog in self.dialogs.items():
            legs = mapped.get(call_id, {0: [], 1: []})
            calls.append(
                self._call(dialog, legs, codecs_of, info_of, copies=relayed.get(call_id, ()))
            )
        for legs in self._pair_orphans(orphans):
            if self._is_stray(legs, info_of):
                for stream in (*legs[0], *legs[1]):
                    self.skipped[_STRAY] += len(stream)
                    stream.release()
                continue
            calls.append(self._call(None, legs, codecs_of, info_of))
        calls.sort(
            key=lambda c: c.started_at or c.audio_started_at or datetime.max.replace(tzinfo=UTC)
        )
        stats = CaptureStats(
            files=self.files,
            packets=self.packets,
            datagrams=self.datagrams,
            sip_messages=self.sip_messages,
            rtp_packets=self.rtp_packets,
            rtcp_packets=self.rtcp_packets,
            malformed=sum(n for r, n in self._all_skipped().items() if r not in _BENIGN),
            skipped=dict(self._all_skipped()),
        )
        logger.info(
            "capture read: %d packets, %d calls, %d streams, %d malformed",
            stats.packets,
            len(calls),
            len(info_of),
            stats.malformed,
        )
        return CaptureResult(tuple(calls), tuple(info_of.values()), stats)

    def build_call(self, dialog: Dialog | None, legs: dict[int, list[RtpStream]]) -> NetworkCall:
        """One call from its dialog and the streams already mapped to its channels.

        The incremental path (live capture) maps streams as they start and calls this
        when a call, or a segment of it, is finished; the streams are decoded and released.
        """
        codecs_of: dict[int, dict[int, CodecInfo]] = {}
        info_of: dict[int, StreamInfo] = {}
        call_id = dialog.call_id if dialog is not None else None
        full = {channel: [s for s in legs.get(channel, []) if len(s)] for channel in (0, 1)}
        for channel, streams in full.items():
            for stream in streams:
                codecs = stream_codecs(stream, dialog)
                codecs_of[id(stream)] = codecs
                info_of[id(stream)] = stream_info(stream, codecs, call_id, channel)
        return self._call(dialog, full, codecs_of, info_of)

    def forget(self, dialog: Dialog) -> None:
        """Drop a finished dialog and the SDP endpoints that pointed at it."""
        self.dialogs.pop(dialog.call_id, None)
        for address in dialog.endpoints:
            entries = self.endpoints.get(address)
            if entries is None:
                continue
            entries[:] = [entry for entry in entries if entry.dialog is not dialog]
            if not entries:
                del self.endpoints[address]

    def _all_skipped(self) -> Counter[str]:
        return self.skipped + self.decoder.skipped

    def _relayed_copies(
        self, placed: dict[int, tuple[Dialog | None, int | None]]
    ) -> dict[int, tuple[Dialog, int]]:
        """Streams no SDP names that carry, over another hop, media of a call's streams.

        A media relay or B2BUA in the capture path (200.57.7.196 in Wireshark's
        SIP_CALL_RTP_G711 sample) forwards each stream the SDP names to a port that no
        captured SDP names, keeping its SSRC and sequence numbers: that copy is the
        call's media again, not a second call. The reverse of a copy is the relay's hop
        for the other direction: a copy too when the call already has that direction
        (then it is left out of the audio), otherwise that direction's only source (then
        `placed` ties it to the leg, as for symmetric RTP). One RTP stream, one call.
        """
        by_ssrc: dict[int, list[RtpStream]] = defaultdict(list)
        heard: set[tuple[str, int | None]] = set()
        for stream in self.streams.values():
            dialog, channel = placed[id(stream)]
            if dialog is not None:
                by_ssrc[stream.ssrc].append(stream)
                heard.add((dialog.call_id, channel))
        copies: dict[int, tuple[Dialog, int]] = {}
        copy_flows: dict[tuple[bytes, int, bytes, int], tuple[Dialog, int]] = {}
        unplaced = [s for s in self.streams.values() if placed[id(s)][0] is None]
        for stream in unplaced:
            for original in by_ssrc.get(stream.ssrc, ()):
                dialog, channel = placed[id(original)]
                if dialog is not None and channel is not None:
                    if is_relayed_copy(stream, original):
                        copies[id(stream)] = (dialog, channel)
                        copy_flows[(stream.src, stream.sport, stream.dst, stream.dport)] = (
                            dialog,
                            channel,
                        )
                        break
        for stream in unplaced:
            reverse = copy_flows.get((stream.dst, stream.dport, stream.src, stream.sport))
            if reverse is None or id(stream) in copies:
                continue
            dialog, channel = reverse[0], 1 - reverse[1]
            if (dialog.call_id, channel) in heard:
                copies[id(stream)] = (dialog, channel)
            else:
                placed[id(stream)] = (dialog, channel)
        return copies

    @staticmethod
    def _is_stray(legs: dict[int, list[RtpStream]], info_of: dict[int, StreamInfo]) -> bool:
        """Whether streams paired without SIP are too few packets to be a call."""
        infos = [info_of[id(stream)] for stream in (*legs[0], *legs[1])]
        if any(info.telephone_event_packets for info in infos):
            return False
        packets = sum(info.packets for info in infos)
        span = max(i.last_time for i in infos) - min(i.first_time for i in infos)
        return packets < MIN_RTP_ONLY_PACKETS or span < MIN_RTP_ONLY_S

    @staticmethod
    def _pair_orphans(orphans: list[RtpStream]) -> list[dict[int, list[RtpStream]]]:
        """RTP-only calls: the two directions between the same two ports form one call."""
        groups: dict[frozenset[tuple[bytes, int]], list[RtpStream]] = defaultdict(list)
        for stream in orphans:
            groups[frozenset({(stream.src, stream.sport), (stream.dst, stream.dport)})].append(
                stream
            )
        result = []
        for streams in groups.values():
            streams.sort(key=lambda s: s.arrival[0])
            caller = (streams[0].src, streams[0].sport)
            legs: dict[int, list[RtpStream]] = {0: [], 1: []}
            for stream in streams:
                legs[0 if (stream.src, stream.sport) == caller else 1].append(stream)
            result.append(legs)
        return result

    # -- stage 3: legs, audio, quality (in _assemble) ----------------------------------

    def _call(
        self,
        dialog: Dialog | None,
        legs: dict[int, list[RtpStream]],
        codecs_of: dict[int, dict[int, CodecInfo]],
        info_of: dict[int, StreamInfo],
        *,
        copies: Sequence[RtpStream] = (),
    ) -> NetworkCall:
        return assemble_call(
            dialog,
            legs,
            codecs_of,
            info_of,
            skipped=self.skipped,
            capture_end=self.last_time,
            copies=copies,
        )


def read_captures(
    paths: Iterable[str | Path], *, on_progress: ProgressHook | None = None
) -> CaptureResult:
    """Read pcap/pcapng files (one capture, in the order given) into calls with audio.

    `on_progress(file name, packets read so far)` is called at the end of each file and,
    within a file, after every 10,000 packets that are not plain RTP (plain RTP is
    handled in bulk, far faster). A file that is not a capture raises `CaptureError`; damaged
    packets inside a capture are counted in `stats.skipped` and never raise.
    """
    session = CaptureSession(on_progress)
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise CaptureError(f"{path}: no such capture file; check the path")
        session.read_file(path)
    return session.finish()
