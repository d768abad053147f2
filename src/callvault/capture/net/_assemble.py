"""Stage 3 of the capture pipeline: a call's legs analysed, decoded and laid out.

Each leg's streams are put in playout order and measured (loss, jitter, E-model MOS),
decoded and resampled to one rate per call; DTMF comes from RFC 4733 packets and SIP
INFO. The offline and live captures (`CaptureSession`) and the SIPREC server all build
their `NetworkCall`s here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from callvault.capture.net._codecs import AUDIO_CODECS
from callvault.capture.net._dialog import (
    END_CAPTURE_ENDED,
    END_REJECTED,
    END_RTP_TIMEOUT,
    Dialog,
)
from callvault.capture.net._packet import format_ip
from callvault.capture.net._quality import e_model_r, mos_from_r
from callvault.capture.net._records import (
    DtmfEvent,
    Leg,
    LegQuality,
    NetworkCall,
    Party,
    StreamInfo,
)
from callvault.capture.net._rtp import STATIC_PAYLOAD_TYPES, CodecInfo
from callvault.capture.net._sip import NameAddress
from callvault.capture.net._stream import (
    MAX_STREAM_S,
    RtpStream,
    StreamAnalysis,
    analyse,
    render,
    resample,
    telephone_events,
)

__all__ = ["RTP_TIMEOUT_S", "assemble_call", "stream_codecs", "stream_info"]

#: a call whose last media came this long before the capture's end timed out
RTP_TIMEOUT_S = 30.0
TELEPHONE_EVENT = "telephone-event"


def _canonical(info: CodecInfo) -> CodecInfo:
    """Encoding names in one spelling: upper case, except `telephone-event`."""
    name = info.name.lower() if info.name.lower() == TELEPHONE_EVENT else info.name.upper()
    return info._replace(name=name)


def _party(address: NameAddress) -> Party:
    return Party(address.display_name, address.user, address.e164)


def _utc(moment: float | None) -> datetime | None:
    return datetime.fromtimestamp(moment, tz=UTC) if moment is not None else None


def stream_codecs(stream: RtpStream, dialog: Dialog | None) -> dict[int, CodecInfo]:
    codecs = dict(STATIC_PAYLOAD_TYPES)
    if dialog is not None:
        codecs.update(dialog.rtpmaps[0])
        codecs.update(dialog.rtpmaps[1])
    codecs = {pt: _canonical(info) for pt, info in codecs.items()}
    # A dynamic type no SDP describes, whose payloads are all 4 bytes, is taken for
    # RFC 4733 events (section 2.3: a 4-byte payload per event).
    sizes: dict[int, set[int]] = defaultdict(set)
    if any(pt >= 96 and pt not in codecs for pt in set(stream.pts)):
        for index, pt in enumerate(stream.pts):
            if pt >= 96 and pt not in codecs:
                sizes[pt].add(stream.payload_size(index))
    for pt, seen in sizes.items():
        if seen == {4}:
            codecs[pt] = CodecInfo(TELEPHONE_EVENT, 8000)
    return codecs


def stream_info(
    stream: RtpStream, codecs: dict[int, CodecInfo], call_id: str | None, channel: int | None
) -> StreamInfo:
    counts = Counter(stream.pts)
    pts = sorted(counts)
    names = tuple(codecs[pt].name if pt in codecs else f"PT{pt}" for pt in pts)
    events = sum(
        n for pt, n in counts.items() if pt in codecs and codecs[pt].name == TELEPHONE_EVENT
    )
    return StreamInfo(
        src=format_ip(stream.src),
        src_port=stream.sport,
        dst=format_ip(stream.dst),
        dst_port=stream.dport,
        ssrc=stream.ssrc,
        payload_types=tuple(pts),
        codecs=names,
        packets=len(stream),
        telephone_event_packets=events,
        first_time=float(stream.arrival[0]),
        last_time=float(stream.arrival[-1]),
        call_id=call_id,
        channel=channel,
    )


def assemble_call(
    dialog: Dialog | None,
    legs: dict[int, list[RtpStream]],
    codecs_of: dict[int, dict[int, CodecInfo]],
    info_of: dict[int, StreamInfo],
    *,
    skipped: Counter[str],
    capture_end: float,
    copies: Sequence[RtpStream] = (),
) -> NetworkCall:
    """One call from its legs; `copies` (relayed copies of its streams) are listed
    in its streams but not decoded. Streams that cannot be used are counted in
    `skipped`; `capture_end` is the time of the capture's last packet."""
    legs = {ch: sorted(streams, key=lambda s: s.arrival[0]) for ch, streams in legs.items()}
    rendered: dict[int, list[tuple[npt.NDArray[np.int16], int, float]]] = {0: [], 1: []}
    qualities: dict[int, LegQuality | None] = {}
    leg_codecs: dict[int, tuple[str | None, tuple[int, ...]]] = {}
    events: list[DtmfEvent] = []
    raw_events: list[tuple[str, float, float | None, str, int | None]] = []
    for channel, streams in legs.items():
        figures: list[tuple[StreamAnalysis, str]] = []
        codec_names: list[str] = []
        pts_used: set[int] = set()
        for stream in streams:
            codecs = codecs_of[id(stream)]
            audio = {
                pt for pt in set(stream.pts) if pt in codecs and codecs[pt].name in AUDIO_CODECS
            }
            event_pts = {
                pt for pt in set(stream.pts) if pt in codecs and codecs[pt].name == TELEPHONE_EVENT
            }
            event_clock = min((codecs[pt].clock_rate for pt in event_pts), default=8000)
            for digit, start, seconds in telephone_events(stream, event_pts, event_clock):
                raw_events.append((digit, start, seconds, "rfc4733", channel))
            if not audio:
                stream.release()
                continue
            counts = Counter(stream.pts)
            primary = max(audio, key=lambda pt: counts[pt])
            clock = codecs[primary].clock_rate
            analysis = analyse(stream, audio, clock)
            figures.append((analysis, codecs[primary].name.upper()))
            codec_names.append(codecs[primary].name.upper())
            pts_used |= audio
            try:
                rendered[channel].append(render(stream, analysis.order, codecs))
            except Exception:  # noqa: BLE001 - a stream that cannot be decoded
                skipped["undecodable stream"] += 1
            stream.release()  # decoded: its packets are no longer needed
        qualities[channel] = _leg_quality(figures)
        leg_codecs[channel] = (
            max(set(codec_names), key=codec_names.count) if codec_names else None,
            tuple(sorted(pts_used)),
        )
    if dialog is not None:
        for digit, when, info_duration, side in dialog.dtmf:
            raw_events.append((digit, when, info_duration, "sip-info", side))
    all_rendered = [item for items in rendered.values() for item in items if len(item[0])]
    rate = max((item[1] for item in all_rendered), default=8000)
    t0 = min((item[2] for item in all_rendered), default=None)
    pcm_legs: list[Leg] = []
    for channel in (0, 1):
        pieces = rendered[channel]
        if not pieces and not legs[channel]:
            continue
        placed: list[tuple[int, npt.NDArray[np.int16]]] = []
        end = 0
        for pcm, native, start in pieces:
            if not len(pcm) or t0 is None:
                continue
            offset = int(round((start - t0) * rate))
            if offset > MAX_STREAM_S * rate:
                skipped["stream too far from the call start"] += 1
                continue
            pcm = resample(pcm, native, rate)
            placed.append((offset, pcm))
            end = max(end, offset + len(pcm))
        out = np.zeros(end, dtype=np.int16)
        for offset, pcm in placed:
            out[offset : offset + len(pcm)] = pcm
        codec, pts = leg_codecs.get(channel, (None, ()))
        pcm_legs.append(
            Leg(
                channel=channel,
                codec=codec,
                payload_types=pts,
                sample_rate=rate,
                pcm=out,
                ssrcs=tuple(dict.fromkeys(s.ssrc for s in legs[channel])),
                quality=qualities.get(channel),
            )
        )
    reference: float | None = dialog.started_at if dialog is not None else t0
    for digit, when, length, source, channel_of in sorted(raw_events, key=lambda e: e[1]):
        events.append(
            DtmfEvent(
                digit=digit,
                start=round(when - reference, 6) if reference is not None else 0.0,
                duration=length,
                source=source,
                channel=channel_of,
            )
        )
    streams_info = tuple(info_of[id(s)] for s in (*legs[0], *legs[1], *copies) if id(s) in info_of)
    if dialog is None:
        last = max((s.last_time for s in streams_info), default=None)
        first = min((s.first_time for s in streams_info), default=None)
        return NetworkCall(
            call_id=None,
            caller=Party(),
            callee=Party(),
            user_agents=(),
            started_at=_utc(first),
            answered_at=None,
            ended_at=_utc(last),
            end_reason=(
                END_RTP_TIMEOUT
                if last is not None and capture_end - last > RTP_TIMEOUT_S
                else END_CAPTURE_ENDED
            ),
            legs=tuple(pcm_legs),
            dtmf=tuple(events),
            streams=streams_info,
            sample_rate=rate,
            audio_started_at=_utc(t0),
        )
    end_reason = dialog.end_reason
    ended_at = dialog.ended_at
    if end_reason is None:
        if dialog.pending_error is not None:
            end_reason = f"{END_REJECTED}:{dialog.pending_error}"
        else:
            last_media = max((s.last_time for s in streams_info), default=dialog.last_time)
            last_seen = max(last_media, dialog.last_time)
            ended_at = last_seen
            end_reason = (
                END_RTP_TIMEOUT if capture_end - last_seen > RTP_TIMEOUT_S else END_CAPTURE_ENDED
            )
    agents = tuple(dialog.user_agents[side] for side in sorted(dialog.user_agents))
    return NetworkCall(
        call_id=dialog.call_id,
        caller=_party(dialog.caller),
        callee=_party(dialog.callee),
        user_agents=agents,
        started_at=_utc(dialog.started_at),
        answered_at=_utc(dialog.answered_at),
        ended_at=_utc(ended_at),
        end_reason=end_reason,
        legs=tuple(pcm_legs),
        dtmf=tuple(events),
        streams=streams_info,
        sample_rate=rate,
        audio_started_at=_utc(t0),
    )


def _leg_quality(figures: list[tuple[StreamAnalysis, str]]) -> LegQuality | None:
    usable = [(a, c) for a, c in figures if a.received]
    if not usable:
        return None
    expected = sum(a.expected for a, _ in usable)
    received = sum(a.received for a, _ in usable)
    lost = sum(a.lost for a, _ in usable)
    loss = 100.0 * lost / expected if expected else 0.0
    weights = [a.received for a, _ in usable]
    jitter = float(np.average([a.jitter_mean_ms for a, _ in usable], weights=weights))
    codec = usable[0][1]
    ptime = usable[0][0].ptime_ms
    r = e_model_r(codec, loss, jitter, ptime)
    return LegQuality(
        packets_expected=expected,
        packets_received=received,
        packets_lost=lost,
        duplicates=sum(a.duplicates for a, _ in usable),
        loss_percent=round(loss, 3),
        jitter_ms=round(jitter, 3),
        max_jitter_ms=round(max(a.jitter_max_ms for a, _ in usable), 3),
        longest_gap_ms=round(max(a.longest_gap_ms for a, _ in usable), 3),
        r_factor=round(r, 2),
        mos=round(mos_from_r(r), 2),
    )
