"""What a network capture yields: calls with per-leg audio, streams, DTMF and statistics."""

from __future__ import annotations

import hashlib
import io
import wave
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt

from callvault.capture._records import (
    CapturedCall,
    Direction,
    DtmfSpan,
    LegFacts,
    NetworkFacts,
    Participant,
)
from callvault.capture.files import FileImportOptions, import_bytes, parse_e164
from callvault.errors import CaptureError, InputError

__all__ = [
    "CaptureResult",
    "CaptureStats",
    "DtmfEvent",
    "Leg",
    "LegQuality",
    "NetworkCall",
    "Party",
    "StreamInfo",
]


@dataclass(frozen=True)
class Party:
    """One end of a call as SIP names it (From or To)."""

    display_name: str | None = None
    user: str | None = None
    e164: str | None = None


@dataclass(frozen=True)
class StreamInfo:
    """One RTP stream (one SSRC between two transport addresses), as tshark counts them."""

    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    payload_types: tuple[int, ...]
    codecs: tuple[str, ...]  # encoding names per payload type, e.g. ("PCMA", "telephone-event")
    packets: int
    telephone_event_packets: int
    first_time: float
    last_time: float
    call_id: str | None  # the SIP dialog it was mapped to, None if found by heuristics
    channel: int | None  # 0 = caller's voice, 1 = callee's voice


@dataclass(frozen=True)
class LegQuality:
    """Network quality of one leg (all its streams together).

    `jitter_ms` is the mean, and `max_jitter_ms` the maximum, of the RFC 3550 running
    interarrival jitter estimate; `mos` is the E-model estimate (see `_quality`).
    """

    packets_expected: int
    packets_received: int
    packets_lost: int
    duplicates: int
    loss_percent: float
    jitter_ms: float
    max_jitter_ms: float
    longest_gap_ms: float
    r_factor: float
    mos: float


@dataclass(frozen=True, eq=False)
class Leg:
    """The audio one party sent: channel 0 is the caller, channel 1 the callee."""

    channel: int
    codec: str | None
    payload_types: tuple[int, ...]
    sample_rate: int
    pcm: npt.NDArray[np.int16]
    ssrcs: tuple[int, ...]
    quality: LegQuality | None


@dataclass(frozen=True)
class DtmfEvent:
    """A DTMF key press: `start` is seconds from the call start, `duration` in seconds."""

    digit: str
    start: float
    duration: float | None
    source: str  # "rfc4733" or "sip-info"
    channel: int | None


@dataclass(frozen=True, eq=False)
class NetworkCall:
    """One call found in a capture: SIP dialog metadata plus decoded audio per leg.

    A call found only from RTP (no SIP seen) has `call_id` None and empty parties.
    Times are aware UTC datetimes; `audio_started_at` is the moment sample 0 of every
    leg's `pcm` stands for. `end_reason` is one of "bye_caller", "bye_callee",
    "cancelled", "rejected:<status>" (a final error response to the INVITE; 401/407
    challenges do not count), "rtp_timeout" (no SIP end and nothing heard for 30 s
    before the capture ended) or "capture_ended" (no SIP end before the capture ended).
    """

    call_id: str | None
    caller: Party
    callee: Party
    user_agents: tuple[str, ...]
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    legs: tuple[Leg, ...]
    dtmf: tuple[DtmfEvent, ...]
    streams: tuple[StreamInfo, ...]
    sample_rate: int
    audio_started_at: datetime | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def dtmf_digits(self) -> str:
        return "".join(event.digit for event in self.dtmf)

    def stereo_pcm(self) -> npt.NDArray[np.int16]:
        """(samples, 2) int16: channel 0 the caller, 1 the callee, the shorter one padded."""
        channels = [np.zeros(0, dtype=np.int16), np.zeros(0, dtype=np.int16)]
        for leg in self.legs:
            if leg.channel in (0, 1):
                channels[leg.channel] = leg.pcm
        length = max(len(channels[0]), len(channels[1]))
        out = np.zeros((length, 2), dtype=np.int16)
        out[: len(channels[0]), 0] = channels[0]
        out[: len(channels[1]), 1] = channels[1]
        return out

    def to_wav_bytes(self) -> bytes:
        """A stereo 16-bit PCM WAV at `sample_rate` (channel 0 caller, channel 1 callee)."""
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            out.writeframes(self.stereo_pcm().astype("<i2").tobytes())
        return buffer.getvalue()

    def network_facts(self, source: str = "pcap") -> NetworkFacts:
        """What the vault keeps of this call besides its audio. DTMF spans are in seconds
        of the audio (sample 0 of the legs), the times redaction mutes; digits are left
        out."""
        shift = 0.0
        if self.started_at is not None and self.audio_started_at is not None:
            shift = (self.audio_started_at - self.started_at).total_seconds()
        return NetworkFacts(
            source=source,
            sip_call_id=self.call_id,
            user_agents=self.user_agents,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            end_reason=self.end_reason,
            legs=tuple(
                LegFacts(
                    leg.channel,
                    leg.codec,
                    asdict(leg.quality) if leg.quality is not None else None,
                )
                for leg in self.legs
            ),
            dtmf=tuple(
                DtmfSpan(event.channel, max(0.0, event.start - shift), event.duration, event.source)
                for event in self.dtmf
            ),
        )

    def to_captured_call(
        self,
        *,
        source_name: str | None = None,
        direction: Direction | None = None,
        source: str = "pcap",
    ) -> CapturedCall:
        """This call as the ingest pipeline's `CapturedCall` (stereo WAV, caller on 0).

        Phone numbers are passed on only when they are valid E.164 numbers; display names
        become the participants' names. A call without decoded audio (a cancelled or
        rejected call) is a `CaptureError`: there is nothing to store. The direction is
        unknown from a capture alone, so the caller may say it.
        """
        if not any(len(leg.pcm) for leg in self.legs):
            raise CaptureError(
                "this network call has no decoded audio to store (no RTP stream of a "
                f"supported codec was mapped to it; end reason: {self.end_reason}); "
                "check that the capture holds its media"
            )
        # A Call-ID can carry host names or numbers: the default name is a digest of it.
        digest = hashlib.sha256((self.call_id or repr(self.streams[:1])).encode()).hexdigest()
        name = source_name or f"net-call-{digest[:16]}.wav"
        started = self.started_at or self.audio_started_at
        options = FileImportOptions(
            caller=_valid_e164(self.caller.e164),
            callee=_valid_e164(self.callee.e164),
            direction=direction,
            started_at=started.isoformat() if started is not None else None,
        )
        captured = import_bytes(self.to_wav_bytes(), name, options)
        names = {"caller": self.caller.display_name, "callee": self.callee.display_name}
        participants: tuple[Participant, ...] = tuple(
            replace(p, name=p.name or names.get(p.role)) for p in captured.participants
        )
        return replace(captured, participants=participants, network=self.network_facts(source))


def _valid_e164(number: str | None) -> str | None:
    if number is None:
        return None
    try:
        return parse_e164(number, option="caller/callee")
    except InputError:
        return None


@dataclass(frozen=True)
class CaptureStats:
    """Counts over all files read; `skipped` maps a reason to how many were dropped."""

    files: int
    packets: int
    datagrams: int
    sip_messages: int
    rtp_packets: int
    rtcp_packets: int
    malformed: int
    skipped: dict[str, int]


@dataclass(frozen=True, eq=False)
class CaptureResult:
    calls: tuple[NetworkCall, ...]
    streams: tuple[StreamInfo, ...]
    stats: CaptureStats
