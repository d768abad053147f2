"""One RTP stream as captured, then put in order, measured and decoded.

Packets stay where they were captured (in the capture file's buffer) or, when they came
one by one, in one `bytearray` per stream; the header fields of all packets are parsed
together with numpy. `release()` frees a stream's packets once it is decoded.

Ordering (RFC 3550 appendix A.1): 16-bit sequence numbers are extended across
wrap-around, duplicates are dropped (first arrival kept), and playout follows the RTP
timestamp. A timestamp that disagrees with the arrival time by more than
`TIMESTAMP_JUMP_S` (a sender restart, a media server switching sources) is re-anchored on
the arrival time, so a jump never becomes hours of silence. Lost packets stay silent and
are counted.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from callvault.capture.net._codecs import Decoder, G711Decoder, get_decoder
from callvault.capture.net._rtp import CodecInfo, TelephoneEvent

__all__ = ["RtpStream", "StreamAnalysis", "analyse", "render"]

TIMESTAMP_JUMP_S = 1.0
MAX_STREAM_S = 6 * 3600  # a stream longer than this is cut (a guard against corrupt times)


Bytes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Chunk:
    """Packets lying in one buffer: packet i is buffer[starts[i]:ends[i]]."""

    buffer: Bytes
    starts: Ints
    ends: Ints
    arrival: Floats


class RtpStream:
    """The packets of one (src, dst, SSRC) as they arrived.

    Packets come in two ways: `add` appends one packet (copied) and its arrival time;
    `add_chunk` hands over many packets that stay where they are, in the capture file's
    buffer (the bulk path of `CaptureSession`, which copies nothing). The header fields
    are parsed for all packets at once, with numpy, when the stream is first analysed.
    Only packets whose header, CSRC list, extension and padding fit may be given (the
    capture loop checks that).
    """

    __slots__ = (
        "_chunks",
        "_fields",
        "_merged",
        "_open_arrival",
        "_open_offsets",
        "_open_packets",
        "dport",
        "dst",
        "sport",
        "src",
        "ssrc",
    )

    def __init__(self, src: bytes, sport: int, dst: bytes, dport: int, ssrc: int) -> None:
        self.src = src
        self.sport = sport
        self.dst = dst
        self.dport = dport
        self.ssrc = ssrc
        self._open_arrival = array("d")
        self._open_offsets = array("q", [0])
        self._open_packets = bytearray()
        self._chunks: list[_Chunk] = []
        self._merged: _Chunk | None = None
        self._fields: _Fields | None = None

    def add(self, time: float, packet: bytes) -> None:
        self._open_arrival.append(time)
        self._open_packets += packet
        self._open_offsets.append(len(self._open_packets))
        self._merged = None

    def add_chunk(self, buffer: Bytes, starts: Ints, ends: Ints, arrival: Floats) -> None:
        self._chunks.append(_Chunk(buffer, starts, ends, arrival))
        self._merged = None

    def __len__(self) -> int:
        return len(self._open_arrival) + sum(len(c.arrival) for c in self._chunks)

    @property
    def merged(self) -> _Chunk:
        """All packets in one buffer, in arrival order (built once, when first needed)."""
        if self._merged is None:
            chunks = list(self._chunks)
            if self._open_arrival:
                bounds = np.array(self._open_offsets, dtype=np.int64)
                chunks.append(
                    _Chunk(
                        np.frombuffer(bytes(self._open_packets), dtype=np.uint8),
                        bounds[:-1],
                        bounds[1:],
                        np.array(self._open_arrival, dtype=np.float64),
                    )
                )
            self._merged = _merge(chunks)
            self._fields = None
        return self._merged

    @property
    def arrival(self) -> Floats:
        return self.merged.arrival

    @property
    def packets(self) -> Bytes:
        return self.merged.buffer

    @property
    def fields(self) -> _Fields:
        merged = self.merged
        if self._fields is None:
            self._fields = _parse_headers(merged)
        return self._fields

    @property
    def pts(self) -> list[int]:
        return self.fields.pt_list

    def payload(self, index: int) -> bytes:
        fields = self.fields
        return self.packets[fields.starts[index] : fields.ends[index]].tobytes()

    def payload_size(self, index: int) -> int:
        fields = self.fields
        return int(fields.ends[index] - fields.starts[index])

    def release(self) -> None:
        """Free the packets once the stream is decoded (its figures stay)."""
        merged = self.merged
        self._chunks = []
        self._open_packets = bytearray()
        self._merged = _Chunk(
            np.zeros(0, dtype=np.uint8), merged.starts, merged.ends, merged.arrival
        )


def _gather(buffer: Bytes, starts: Ints, lengths: Ints) -> Bytes:
    """buffer[starts[i]:starts[i] + lengths[i]] for every i, concatenated."""
    before = np.cumsum(lengths) - lengths
    ramp = np.arange(int(lengths.sum()), dtype=np.int64)
    gathered: Bytes = buffer.take(ramp + np.repeat(starts - before, lengths))
    return gathered


def _merge(chunks: list[_Chunk]) -> _Chunk:
    """One chunk from several: packets gathered into a new buffer, ordered by arrival."""
    if not chunks:
        empty = np.zeros(0, dtype=np.int64)
        return _Chunk(np.zeros(0, dtype=np.uint8), empty, empty, np.zeros(0))
    if len(chunks) == 1 and bool(np.all(np.diff(chunks[0].arrival) >= 0)):
        return chunks[0]
    arrival = np.concatenate([c.arrival for c in chunks])
    order = np.argsort(arrival, kind="stable")
    joined = np.concatenate([_gather(c.buffer, c.starts, c.ends - c.starts) for c in chunks])
    lengths = np.concatenate([c.ends - c.starts for c in chunks])
    starts = np.cumsum(lengths) - lengths
    lengths = lengths[order]
    buffer = _gather(joined, starts[order], lengths)
    new_starts = np.cumsum(lengths) - lengths
    return _Chunk(buffer, new_starts, new_starts + lengths, arrival[order])


@dataclass(frozen=True)
class _Fields:
    """RTP header fields of every packet of a stream, parsed together."""

    seq: Ints
    ts: Ints
    pt: Ints
    starts: Ints  # where each payload starts and ends in the merged buffer
    ends: Ints
    pt_list: list[int]


def _parse_headers(chunk: _Chunk) -> _Fields:
    buf = chunk.buffer
    first = chunk.starts
    if len(first) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Fields(empty, empty, empty, empty, empty, [])
    b0 = buf[first].astype(np.int64)
    b = [buf[first + i].astype(np.int64) for i in range(1, 8)]
    pt = b[0] & 0x7F
    seq = (b[1] << 8) | b[2]
    ts = (b[3] << 24) | (b[4] << 16) | (b[5] << 8) | b[6]
    starts = first + 12 + (b0 & 0x0F) * 4
    for index in np.flatnonzero(b0 & 0x10).tolist():  # header extensions: rare
        at = int(starts[index])
        starts[index] = at + 4 + ((int(buf[at + 2]) << 8) | int(buf[at + 3])) * 4
    ends = chunk.ends.copy()
    padded = np.flatnonzero(b0 & 0x20)
    if len(padded):
        ends[padded] -= buf[chunk.ends[padded] - 1].astype(np.int64)
    return _Fields(seq, ts, pt, starts, ends, pt.tolist())


def looks_like_rtp(stream: RtpStream) -> bool:
    """Heuristic for a stream no SDP described (RFC 3550 appendix A.1, loosely).

    Version 2 and one SSRC are given (that is how packets were grouped); on top, at
    least 3 packets, a payload type that is assigned or dynamic (RFC 3551 table 4/5:
    0-34 or 96-127) for most packets, and sequence numbers that mostly advance by small
    steps.
    """
    if len(stream) < 3:
        return False
    fields = stream.fields
    plausible = (fields.pt <= 34) | (fields.pt >= 96)
    steps = (np.diff(fields.seq) + 32768) % 65536 - 32768
    return bool(np.mean(plausible) >= 0.8 and np.mean((steps >= -5) & (steps <= 10)) >= 0.8)


#: slack, in seconds, between a stream and its relayed copy (a relay adds milliseconds)
RELAY_SLACK_S = 2.0


def is_relayed_copy(copy: RtpStream, original: RtpStream) -> bool:
    """Whether `copy` carries the packets of `original` over another hop.

    A media relay or B2BUA that keeps the SSRC (RFC 3550 section 7.2: a translator does)
    forwards each packet with its sequence number unchanged, so the same SSRC at the
    same time with mostly the same sequence numbers is the same media, not a new stream.
    """
    if copy.ssrc != original.ssrc or not len(copy) or not len(original):
        return False
    if (
        copy.arrival[0] > original.arrival[-1] + RELAY_SLACK_S
        or copy.arrival[-1] < original.arrival[0] - RELAY_SLACK_S
    ):
        return False
    shared = np.intersect1d(copy.fields.seq, original.fields.seq).size
    return bool(shared * 2 >= min(len(copy), len(original)))


@dataclass(frozen=True)
class StreamAnalysis:
    """Ordering and quality figures of one stream (audio packets only)."""

    order: npt.NDArray[np.int64]  # packet indices in playout order, duplicates removed
    expected: int
    received: int
    duplicates: int
    lost: int
    jitter_mean_ms: float
    jitter_max_ms: float
    jitter_final_ms: float
    longest_gap_ms: float
    ptime_ms: float


def _extend(values: npt.NDArray[np.int64], modulus: int) -> npt.NDArray[np.int64]:
    """Unwrap counters that wrap at `modulus`, in arrival order."""
    if len(values) == 0:
        return values
    half = modulus // 2
    steps = (np.diff(values) + half) % modulus - half
    return np.concatenate(([values[0]], values[0] + np.cumsum(steps)))


def _running_jitter(d: npt.NDArray[np.float64], block: int = 256) -> npt.NDArray[np.float64]:
    """Every value of J after J += (|D| - J) / 16 (RFC 3550 section 6.4.1), from J = 0.

    J_i = a^(i+1) * (J_0 + sum_j d_j a^-(j+1) / 16) with a = 15/16, evaluated in blocks
    of 256 so that a^-256 (about 1.5e7) keeps the sums exact enough in float64.
    """
    out = np.empty(len(d), dtype=np.float64)
    a = 15.0 / 16.0
    powers = a ** np.arange(1, block + 1, dtype=np.float64)
    carry = 0.0
    for start in range(0, len(d), block):
        chunk = d[start : start + block]
        p = powers[: len(chunk)]
        values = p * (carry + np.cumsum(chunk / p) / 16.0)
        out[start : start + len(chunk)] = values
        carry = float(values[-1])
    return out


def analyse(stream: RtpStream, audio_pts: set[int], clock_rate: int) -> StreamAnalysis:
    """Playout order of the packets whose payload type is in `audio_pts`, and quality.

    Loss and duplicates are counted over every packet of the SSRC, because audio,
    comfort noise and telephone events share one sequence space (RFC 4733 section 2.1);
    jitter only over audio, whose timestamps advance with the media clock.
    """
    count = len(stream)
    if count == 0:
        empty = np.zeros(0, dtype=np.int64)
        return StreamAnalysis(empty, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 20.0)
    fields = stream.fields
    pts = fields.pt
    seq = _extend(fields.seq, 1 << 16)
    arrival = stream.arrival
    ts = _extend(fields.ts, 1 << 32)
    unique_seq, first = np.unique(seq, return_index=True)  # first arrival of each
    expected = int(unique_seq[-1] - unique_seq[0] + 1)
    received = len(unique_seq)
    is_audio = np.isin(pts[first], list(audio_pts))
    order = first[is_audio]
    # RFC 3550 section 6.4.1 / appendix A.8: J += (|D| - J) / 16, in arrival order.
    arrival_order = np.sort(order)
    transit = arrival[arrival_order] * clock_rate - ts[arrival_order]
    jitters = _running_jitter(np.abs(np.diff(transit)))
    scale = 1000.0 / clock_rate
    gaps = np.diff(np.sort(arrival))
    ts_steps = np.diff(ts[order])
    seq_steps = np.diff(seq[order])
    usable = (seq_steps == 1) & (ts_steps > 0)
    ptime = float(np.median(ts_steps[usable])) * scale if usable.any() else 20.0
    return StreamAnalysis(
        order=order,
        expected=expected,
        received=received,
        duplicates=count - received,
        lost=max(expected - received, 0),
        jitter_mean_ms=float(jitters.mean()) * scale if len(jitters) else 0.0,
        jitter_max_ms=float(jitters.max()) * scale if len(jitters) else 0.0,
        jitter_final_ms=float(jitters[-1]) * scale if len(jitters) else 0.0,
        longest_gap_ms=float(gaps.max() * 1000.0) if len(gaps) else 0.0,
        ptime_ms=ptime,
    )


def _positions(
    ts: npt.NDArray[np.int64],
    times: npt.NDArray[np.float64],
    clocks: npt.NDArray[np.float64],
    start_time: float,
    rate: int,
) -> npt.NDArray[np.int64]:
    """Output sample position of each packet (in playout order) from its RTP timestamp.

    A packet whose timestamp step disagrees with its arrival step by more than
    `TIMESTAMP_JUMP_S` (or half the arrival step, for long silences) starts a new
    segment anchored on its arrival time.
    """
    half = 1 << 31
    wrap = 1 << 32
    count = len(ts)
    step_s = (((np.diff(ts) + half) % wrap) - half) / clocks[1:]
    elapsed = np.diff(times)
    jump = (step_s < -TIMESTAMP_JUMP_S) | (
        np.abs(step_s - elapsed) > np.maximum(TIMESTAMP_JUMP_S, 0.5 * np.abs(elapsed))
    )
    anchors = np.maximum.accumulate(np.where(np.concatenate(([True], jump)), np.arange(count), 0))
    ticks = ((ts - ts[anchors] + half) % wrap) - half
    positions = (times[anchors] - start_time) * rate + ticks * (rate / clocks)
    return np.round(positions).astype(np.int64)


def render(
    stream: RtpStream,
    order: npt.NDArray[np.int64],
    codecs: dict[int, CodecInfo],
) -> tuple[npt.NDArray[np.int16], int, float]:
    """Decode the packets in `order`; returns (pcm, its sample rate, start time).

    The rate is the first audio packet's decoder rate. The start time is the arrival
    time of the first packet, which places the stream on its leg's timeline (a new SSRC
    continues the leg where it arrived). G.711 is decoded for the whole stream at once;
    other codecs packet by packet, through their stateful decoders.
    """
    if len(order) == 0:
        return np.zeros(0, dtype=np.int16), 8000, 0.0
    fields = stream.fields
    times = stream.arrival[order]
    start_time = float(times.min())
    pts = fields.pt[order]
    decoders: dict[int, Decoder] = {}
    for pt in set(pts.tolist()):
        info = codecs[pt]
        decoders[pt] = get_decoder(info.name, info.clock_rate, info.channels)
    first_decoder = decoders[int(pts[0])]
    rate = first_decoder.sample_rate
    clocks = np.array([codecs[pt].clock_rate for pt in pts.tolist()], dtype=np.float64)
    positions = _positions(fields.ts[order], times, clocks, start_time, rate)
    starts = fields.starts[order]
    ends = fields.ends[order]
    keep = (positions >= 0) & (positions <= MAX_STREAM_S * rate) & (ends > starts)
    if len(decoders) == 1 and isinstance(first_decoder, G711Decoder):
        return (
            _render_table(stream, first_decoder, positions[keep], starts[keep], ends[keep]),
            rate,
            start_time,
        )
    chunks: list[tuple[int, npt.NDArray[np.int16]]] = []
    end = 0
    for index, position, pt in zip(order.tolist(), positions.tolist(), pts.tolist(), strict=True):
        decoder = decoders[pt]
        try:
            pcm = decoder.decode(stream.payload(index))
        except Exception:  # noqa: BLE001 - one undecodable payload becomes silence
            pcm = np.zeros(decoder.silence_hint(), dtype=np.int16)
        if decoder.sample_rate != rate and len(pcm):
            pcm = _interpolate(pcm, decoder.sample_rate, rate)
        if position < 0 or position > MAX_STREAM_S * rate:
            continue
        chunks.append((position, pcm))
        end = max(end, position + len(pcm))
    out = np.zeros(end, dtype=np.int16)
    for position, pcm in chunks:
        out[position : position + len(pcm)] = pcm
    return out, rate, start_time


def _render_table(
    stream: RtpStream,
    decoder: G711Decoder,
    positions: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
) -> npt.NDArray[np.int16]:
    """All payloads of a one-byte-per-sample codec, expanded and placed in one pass.

    The usual stream (equal payloads, evenly spaced in the buffer, no loss) is read
    through a strided view and written with one slice; anything else is gathered and
    scattered with index arrays.
    """
    count = len(positions)
    if count == 0:
        return np.zeros(0, dtype=np.int16)
    buf = stream.packets
    lengths = ends - starts
    size = int(lengths[0])
    if not np.all(lengths == size):
        before = np.cumsum(lengths) - lengths
        ramp = np.arange(int(lengths.sum()), dtype=np.int64)
        source = ramp + np.repeat(starts - before, lengths)
        target = ramp + np.repeat(positions - before, lengths)
        out = np.zeros(int((positions + lengths).max()), dtype=np.int16)
        out[target] = decoder.table.take(buf.take(source))
        return out
    steps = np.diff(starts)
    if count > 1 and steps[0] > 0 and np.all(steps == steps[0]):
        block = np.lib.stride_tricks.as_strided(
            buf[int(starts[0]) :], shape=(count, size), strides=(int(steps[0]), 1), writeable=False
        )
    else:
        block = buf.take(starts[:, None] + np.arange(size))
    pcm = decoder.table.take(block)
    first = int(positions[0])
    if np.all(np.diff(positions) == size) and first >= 0:
        out = np.zeros(first + count * size, dtype=np.int16)
        out[first:] = pcm.reshape(-1)
        return out
    out = np.zeros(int(positions.max()) + size, dtype=np.int16)
    out[positions[:, None] + np.arange(size)] = pcm
    return out


def _interpolate(pcm: npt.NDArray[np.int16], source: int, target: int) -> npt.NDArray[np.int16]:
    """Linear interpolation, only for a packet whose codec differs from its stream's."""
    count = max(1, int(round(len(pcm) * target / source)))
    positions = np.arange(count) * (source / target)
    result = np.interp(positions, np.arange(len(pcm)), pcm.astype(np.float64))
    out: npt.NDArray[np.int16] = np.clip(np.round(result), -32768, 32767).astype(np.int16)
    return out


def resample(pcm: npt.NDArray[np.int16], source: int, target: int) -> npt.NDArray[np.int16]:
    """Band-limited resampling of a whole leg with ffmpeg's swresample (through PyAV)."""
    if source == target or len(pcm) == 0:
        return pcm
    resampler = av.AudioResampler(format="s16", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = source
    frames = list(resampler.resample(frame)) + list(resampler.resample(None))
    if not frames:
        return np.zeros(0, dtype=np.int16)
    out = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)
    expected = int(round(len(pcm) * target / source))
    if len(out) < expected:
        out = np.concatenate([out, np.zeros(expected - len(out), dtype=np.int16)])
    return out[:expected]


def telephone_events(
    stream: RtpStream, event_pts: set[int], clock_rate: int
) -> list[tuple[str, float, float]]:
    """RFC 4733 key presses: (digit, arrival of the first packet, duration in seconds).

    All packets of one event share its RTP timestamp (RFC 4733 section 2.5.1.2); the end
    packet is sent three times, so one digit is reported per (timestamp, event).
    """
    events: dict[tuple[int, int], list[float]] = {}
    order: list[tuple[int, int]] = []
    if not event_pts:
        return []
    pts = stream.pts
    stamps = stream.fields.ts.tolist()
    arrival = stream.arrival
    for index in range(len(stream)):
        if pts[index] not in event_pts:
            continue
        try:
            event = TelephoneEvent.parse(stream.payload(index))
        except Exception:  # noqa: BLE001 - a short payload is not an event
            continue
        if event.digit is None:
            continue
        key = (stamps[index], event.event)
        entry = events.get(key)
        if entry is None:
            events[key] = [float(arrival[index]), float(event.duration)]
            order.append(key)
        else:
            entry[0] = min(entry[0], float(arrival[index]))
            entry[1] = max(entry[1], float(event.duration))
    return [
        ("0123456789*#ABCD"[key[1]], events[key][0], events[key][1] / clock_rate) for key in order
    ]
