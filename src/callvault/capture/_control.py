"""What live capture shares with a streaming monitor: audio frames as packets arrive,
and the edits the monitor (or the opt-out rules) make to what is kept (issue 20).

* `MediaFrame`: the decoded audio of one kept RTP packet, placed on the call's
  timeline. `MediaTap` makes them for one RTP stream: a reorder buffer of a few packets
  (`depth`, 3 = 60 ms at 20 ms packets) puts them in sequence order; a packet older than
  what was already handed out is late and dropped; a gap (loss, silence suppression) up
  to `MAX_GAP_FILL_S` is filled with zeros so consecutive frames join; a longer one is
  left as a jump in `call_time`. A frame's place follows its RTP timestamp from the
  stream's first packet (its arrival time), re-anchored on the arrival time when the
  timestamp jumps, exactly as `capture.net._stream.render` places the delivered audio,
  so the frames of a stream laid at `call_time` are the delivered leg's samples.
* `LegPause`: a leg not kept from `start` to `end` (PCI pause while card data is read).
* `Withdrawal`: a party withdrew consent, by key press or by saying so.
* `edit_call`: a delivered `NetworkCall` with those edits made sample-exactly: legs cut
  at a withdrawal, paused spans zeroed, and the audio of each DTMF event muted on the
  leg that sent it (in-band tones relayed with RFC 4733 events, or key tones alone).

Times in these records are seconds from the call's start (`started_at`: the first
INVITE), as `DtmfEvent.start` and `LiveNetworkCall.withdrawn_at` are.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from callvault.capture.net._codecs import AUDIO_CODECS, Decoder, get_decoder
from callvault.capture.net._records import NetworkCall
from callvault.capture.net._rtp import CodecInfo
from callvault.capture.net._stream import RtpStream

__all__ = [
    "DTMF_MUTE_PAD_S",
    "DTMF_UNKNOWN_S",
    "LegPause",
    "MediaFrame",
    "MediaTap",
    "PauseLog",
    "Withdrawal",
    "edit_call",
    "truncate_stream",
]

Pcm = npt.NDArray[np.int16]

#: a gap between packets filled with zeros, at most (longer: `call_time` jumps)
MAX_GAP_FILL_S = 10.0
#: a key tone is muted from this long before its event to this long after its end
DTMF_MUTE_PAD_S = 0.05
#: the length muted for a press whose duration is unknown (SIP INFO without Duration)
DTMF_UNKNOWN_S = 0.25
_TIMESTAMP_JUMP_S = 1.0  # as capture.net._stream.TIMESTAMP_JUMP_S


@dataclass(frozen=True, eq=False)
class MediaFrame:
    """Decoded audio of one RTP packet (plus zeros for a gap before it, if any).

    `call_time` is the time of `pcm[0]` in seconds from the call's start; `channel` 0
    is the caller's voice, 1 the callee's; `sample_rate` is the codec's own rate.
    """

    call_key: str
    channel: int
    call_time: float
    sample_rate: int
    pcm: Pcm


@dataclass(frozen=True)
class LegPause:
    """A leg whose audio was not kept from `start` to `end` (None: to the end)."""

    channel: int
    start: float
    end: float | None = None


@dataclass
class PauseLog:
    """A call's PCI pauses (`pause_leg` / `resume_leg`), in call time: the ones that
    ended and are not yet delivered, and the ones still going, by leg. The first pause of
    a leg holds until it is resumed; a resume not after its pause records nothing."""

    ended: list[LegPause] = field(default_factory=list)
    going: dict[int, float] = field(default_factory=dict)  # channel -> start

    def pause(self, channel: int, at: float) -> None:
        self.going.setdefault(channel, at)

    def resume(self, channel: int, at: float) -> None:
        start = self.going.pop(channel, None)
        if start is not None and at > start:
            self.ended.append(LegPause(channel, start, at))

    def take(self) -> tuple[LegPause, ...]:
        """The pauses of the segment being delivered: every ended one (forgotten now)
        and every one still going (open-ended, kept going)."""
        taken = (*self.ended, *(LegPause(c, s) for c, s in sorted(self.going.items())))
        self.ended = []
        return taken


@dataclass(frozen=True)
class Withdrawal:
    """A party withdrew consent at `at`: `by` "dtmf" (a key press) or "speech" (a
    spoken refusal, with the detector's `confidence`)."""

    channel: int
    at: float
    by: str = "dtmf"
    confidence: float | None = None


class MediaTap:
    """Decoded frames of one RTP stream as its packets arrive (see the module doc)."""

    def __init__(
        self,
        call_key: str,
        channel: int,
        codecs: dict[int, CodecInfo],
        call_start: float,
        *,
        depth: int = 3,
    ) -> None:
        self.call_key = call_key
        self.channel = channel
        self.codecs = codecs
        self.call_start = call_start
        self.depth = depth
        self.dropped = 0
        self._heap: list[tuple[int, float, bytes]] = []
        self._decoders: dict[int, Decoder] = {}
        self._last_seq: int | None = None  # extended sequence number of the last arrival
        self._emitted_seq: int | None = None
        self._anchor: tuple[float, int] | None = None  # (arrival, extended timestamp)
        self._previous: tuple[float, int] | None = None
        self._last_ts: int | None = None
        self._end: int | None = None  # next sample position (at `_rate`) not yet handed out
        self._rate = 0

    def packet(self, arrival: float, packet: bytes) -> list[MediaFrame]:
        """One RTP packet (header included) as it arrived; the frames now ready."""
        if len(packet) < 12:
            return []
        first = packet[0]
        start = 12 + (first & 0x0F) * 4
        if first & 0x10:
            if len(packet) < start + 4:
                return []
            start += 4 + ((packet[start + 2] << 8) | packet[start + 3]) * 4
        end = len(packet) - (packet[-1] if first & 0x20 else 0)
        pt = packet[1] & 0x7F
        info = self.codecs.get(pt)
        if start >= end or info is None or info.name.upper() not in AUDIO_CODECS:
            return []  # telephone events, comfort noise, unknown formats: no audio
        seq = self._extend_seq((packet[2] << 8) | packet[3])
        if self._emitted_seq is not None and seq <= self._emitted_seq:
            self.dropped += 1  # late: its place was already handed out
            return []
        heapq.heappush(self._heap, (seq, arrival, packet[1:2] + packet[4:8] + packet[start:end]))
        frames: list[MediaFrame] = []
        while len(self._heap) > self.depth:
            frames.extend(self._emit(heapq.heappop(self._heap)))
        return frames

    def flush(self) -> list[MediaFrame]:
        """Every packet still held (the call or segment ends)."""
        frames: list[MediaFrame] = []
        while self._heap:
            frames.extend(self._emit(heapq.heappop(self._heap)))
        return frames

    def restart(self) -> list[MediaFrame]:
        """A segment was delivered: flush, and anchor the next packet on its arrival, as
        the next segment's delivered audio is."""
        frames = self.flush()
        self._anchor = None
        self._previous = None
        self._end = None
        return frames

    def _extend_seq(self, seq: int) -> int:
        if self._last_seq is None:
            self._last_seq = seq
            return seq
        step = ((seq - self._last_seq + 32768) % 65536) - 32768
        extended = self._last_seq + step
        if step > 0:
            self._last_seq = extended
        return extended

    def _emit(self, item: tuple[int, float, bytes]) -> list[MediaFrame]:
        seq, arrival, data = item
        self._emitted_seq = seq
        pt = data[0] & 0x7F
        info = self.codecs[pt]
        decoder = self._decoders.get(pt)
        if decoder is None:
            decoder = self._decoders[pt] = get_decoder(info.name, info.clock_rate, info.channels)
        try:
            pcm = decoder.decode(data[5:])
        except Exception:  # noqa: BLE001 - an undecodable payload becomes silence
            pcm = np.zeros(decoder.silence_hint(), dtype=np.int16)
        rate = decoder.sample_rate
        if not self._rate:
            self._rate = rate
        elif rate != self._rate:
            return []  # a codec change mid-stream at another rate: not handed out
        ts = int.from_bytes(data[1:5], "big")
        if self._last_ts is not None:
            ts = self._last_ts + (((ts - self._last_ts + (1 << 31)) % (1 << 32)) - (1 << 31))
        self._last_ts = ts
        clock = float(info.clock_rate)
        if self._anchor is None or self._previous is None:
            self._anchor = (arrival, ts)
        else:
            step_s = (ts - self._previous[1]) / clock
            elapsed = arrival - self._previous[0]
            if step_s < -_TIMESTAMP_JUMP_S or abs(step_s - elapsed) > max(
                _TIMESTAMP_JUMP_S, 0.5 * abs(elapsed)
            ):
                self._anchor = (arrival, ts)
        self._previous = (arrival, ts)
        anchor_arrival, anchor_ts = self._anchor
        position = int(
            round((anchor_arrival - self.call_start) * rate + (ts - anchor_ts) * (rate / clock))
        )
        if self._end is not None and position < self._end:
            overlap = self._end - position
            if overlap >= len(pcm):
                self.dropped += 1
                return []
            pcm, position = pcm[overlap:], self._end
        elif self._end is not None and 0 < position - self._end <= MAX_GAP_FILL_S * rate:
            pcm = np.concatenate([np.zeros(position - self._end, dtype=np.int16), pcm])
            position = self._end
        self._end = position + len(pcm)
        return [MediaFrame(self.call_key, self.channel, position / rate, rate, pcm)]


def _index(moment: float, origin: float, rate: int) -> int:
    return max(0, int(round((moment - origin) * rate)))


def edit_call(
    call: NetworkCall,
    *,
    withdrawn_at: float | None = None,
    pauses: tuple[LegPause, ...] = (),
    mute_dtmf: bool = True,
) -> NetworkCall:
    """`call` with its legs cut at `withdrawn_at`, `pauses` zeroed and DTMF muted.

    All times are seconds from `call.started_at`; a leg's sample i stands for
    `audio_started_at + i / sample_rate`. Legs are copied before they are changed.
    """
    reference = call.started_at or call.audio_started_at
    if call.audio_started_at is None or reference is None:
        return call
    origin = (call.audio_started_at - reference).total_seconds()
    legs = []
    changed = False
    for leg in call.legs:
        pcm = leg.pcm
        rate = leg.sample_rate
        spans: list[tuple[int, int]] = []
        for pause in pauses:
            if pause.channel == leg.channel:
                end = len(pcm) if pause.end is None else _index(pause.end, origin, rate)
                spans.append((_index(pause.start, origin, rate), end))
        if mute_dtmf:
            for event in call.dtmf:
                if event.channel == leg.channel:
                    length = event.duration if event.duration else DTMF_UNKNOWN_S
                    spans.append(
                        (
                            _index(event.start - DTMF_MUTE_PAD_S, origin, rate),
                            _index(event.start + length + DTMF_MUTE_PAD_S, origin, rate),
                        )
                    )
        cut = len(pcm) if withdrawn_at is None else _index(withdrawn_at, origin, rate)
        spans = [(s, min(e, cut)) for s, e in spans if s < min(e, cut)]
        if cut < len(pcm) or any(pcm[s:e].any() for s, e in spans):
            pcm = pcm[:cut].copy()
            for start, end in spans:
                pcm[start:end] = 0
            leg = replace(leg, pcm=pcm)
            changed = True
        legs.append(leg)
    return replace(call, legs=tuple(legs)) if changed else call


def truncate_stream(stream: RtpStream, moment: float) -> tuple[RtpStream, int]:
    """`stream` without the packets that arrived after `moment`, and how many those were
    (a withdrawal decided after its moment: what came after it is not kept)."""
    arrival = stream.arrival
    keep = arrival <= moment
    dropped = int(len(arrival) - np.count_nonzero(keep))
    if not dropped:
        return stream, 0
    merged = stream.merged
    kept = RtpStream(stream.src, stream.sport, stream.dst, stream.dport, stream.ssrc)
    if keep.any():
        kept.add_chunk(merged.buffer, merged.starts[keep], merged.ends[keep], arrival[keep])
    return kept, dropped
