"""A call's audio with speakers' voices anonymised (issue 22).

What a listener hears (the redacted audio), with the voice of the chosen speakers moved
by the method CALLVAULT_VOICE_METHOD names (`callvault.media.transform_voice`: McAdams
formant shifting, pitch and formant transformation, or both). Each speaker gets their
own parameters, derived from a secret of the vault with the call and the speaker: the
same person sounds the same throughout a call and on every read, and the parameters
cannot be recomputed (and the shift undone) by someone without the keys.

Who is a speaker: on a call with a party per channel, the party of each leg
(`speakers_by_channel`: agent, customer, caller, callee); on a mixed (mono) call, each
diarized speaker label of the stored transcript, whose utterances' time spans are
anonymised.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callvault.analysis import Transcript
from callvault.config import Config
from callvault.errors import InputError
from callvault.media import (
    VoiceParameters,
    WavSource,
    decode_pcm,
    transform_voice,
    voice_parameters,
)
from callvault.services._context import Context
from callvault.services._speakers import speakers_by_channel
from callvault.services.calls import export_destination, write_wav
from callvault.vault import CallRecord, Vault

__all__ = [
    "ANONYMIZED_ACTION",
    "AnonymizedWav",
    "anonymized_audio",
    "anonymized_wav",
    "listener_anonymizes",
    "wav_bytes",
    "write_anonymized_audio",
]

ANONYMIZED_ACTION = "recording.anonymized"
# How long, and how many bytes of, anonymised WAVs a process keeps for a player's seeks.
CACHE_SECONDS = 300.0
CACHE_BYTES = 256 << 20
# Seconds of audio around each utterance of a mono call that are anonymised with it
# (word timings are approximate), and of the cross-fade at each end.
SPAN_MARGIN = 0.1
FADE = 0.01
# The roles that hear voices as they are whatever CALLVAULT_VOICE_ANONYMIZE says.
CLEAR_VOICE_ROLES = frozenset({"compliance"})


@dataclass(frozen=True)
class VoiceUnit:
    """One speaker to anonymise: a whole channel, or spans of a mono channel."""

    key: str  # what the voice parameters are derived from: a participant, leg or speaker label
    role: str  # agent, customer, caller, callee, or the speaker label on a mono call
    label: str
    channel: int
    spans: tuple[tuple[float, float], ...] | None  # None: the whole channel


def anonymized_audio(
    ctx: Context,
    call_id: str,
    *,
    speaker_role: str | None,
    purpose: str | None,
    actor: str | None = None,
) -> tuple[np.ndarray, int]:
    """The call's audio as a listener hears it, with the voice of `speaker_role`
    (agent, customer, caller, callee or a speaker label of a mono call) or, with None,
    of every speaker anonymised: float32, shape (channels, samples), and the rate. The
    read is audited as `recording.anonymized`. An unknown role is an InputError that
    lists the roles of the call."""
    return _anonymized(ctx, call_id, speaker_role=speaker_role, purpose=purpose, actor=actor)


def write_anonymized_audio(
    ctx: Context,
    call_id: str,
    out: Path,
    *,
    speaker_role: str | None,
    purpose: str | None,
    overwrite: bool = False,
) -> tuple[int, float]:
    """`anonymized_audio` written to `out` as 16-bit PCM WAV (0600, renamed into place
    when complete). Returns (bytes written, seconds of audio)."""
    target = export_destination(ctx.vault, out, overwrite=overwrite)
    samples, rate = anonymized_audio(ctx, call_id, speaker_role=speaker_role, purpose=purpose)
    return write_wav(target, _to_int16(samples), rate), samples.shape[1] / rate


def listener_anonymizes(config: Config, role: str | None) -> str | None:
    """Whose voice a listener in `role` hears anonymised under CALLVAULT_VOICE_ANONYMIZE:
    None (nobody), or customer, agent or all."""
    mode = config.voice_anonymize
    if mode == "off" or role in CLEAR_VOICE_ROLES:
        return None
    return mode


class AnonymizedWav:
    """An anonymised call as a 16-bit WAV in memory, read like the stored recording
    (`size`, `iter_range`, `iter_chunks`) so the API streams it the same way."""

    container = "wav"

    def __init__(self, data: bytes, chunk_size: int = 1 << 16) -> None:
        self._data = data
        self.size = len(data)
        self.chunk_size = chunk_size

    def iter_chunks(self) -> Iterator[bytes]:
        return self.iter_range(0, self.size)

    def iter_range(self, offset: int, length: int) -> Iterator[bytes]:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        end = min(self.size, offset + length)
        for start in range(offset, end, self.chunk_size):
            yield self._data[start : min(end, start + self.chunk_size)]


def anonymized_wav(
    ctx: Context, call_id: str, mode: str, *, actor: str | None, purpose: str | None
) -> AnonymizedWav:
    """The call as a listener under CALLVAULT_VOICE_ANONYMIZE `mode` hears it (customer:
    every party but the agent; agent; all). Fails closed: when the call's speakers are
    not known (a mono call without a transcript, a call without an agent), every voice
    is anonymised.

    A player asks again for each seek (an HTTP range); the anonymised WAV of a call is
    kept in this process's memory for `CACHE_SECONDS`, so a seek does not transform the
    whole call again. Every request still opens the recording through the vault (audited
    `recording.anonymized`, refused once the call is erased or restricted), and the
    cached copy is used only while the recording, its transcript, the method and the
    mode are the ones it was made from."""
    vault = ctx.vault
    record = vault.calls.get_call(call_id, actor=actor, purpose=purpose)
    info = vault.transcripts.transcript_info(call_id)
    with vault.calls.open_recording(
        call_id, action=ANONYMIZED_ACTION, actor=actor, purpose=purpose
    ) as reader:
        key = (
            call_id,
            record.recording.id,
            record.recording.ciphertext_sha256,
            mode,
            ctx.config.voice_method,
            info.created_at.isoformat() if info is not None else "",
        )
        data = _WAVS.get(key)
        if data is None:
            pcm, rate = decode_pcm(reader.as_file(), name=f"recording of call {call_id}")
    if data is None:
        samples = _transform(ctx, record, pcm, rate, None, mode, actor=actor, purpose=purpose)
        data = wav_bytes(samples, rate)
        _WAVS.put(key, data)
    return AnonymizedWav(data, vault.config.chunk_size)


class _WavCache:
    """Anonymised WAVs by what they were made from, for `CACHE_SECONDS`, at most
    `CACHE_BYTES` in all (the oldest go first); in memory only, never on disk."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, ...], tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            for old in [k for k, (until, _) in self._entries.items() if until <= now]:
                del self._entries[old]
            found = self._entries.get(key)
            return None if found is None else found[1]

    def put(self, key: tuple[str, ...], data: bytes) -> None:
        if len(data) > CACHE_BYTES:
            return
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (time.monotonic() + CACHE_SECONDS, data)
            while sum(len(d) for _, d in self._entries.values()) > CACHE_BYTES:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_WAVS = _WavCache()


def _anonymized(
    ctx: Context,
    call_id: str,
    *,
    speaker_role: str | None,
    purpose: str | None,
    actor: str | None,
) -> tuple[np.ndarray, int]:
    vault = ctx.vault
    record = vault.calls.get_call(call_id, actor=actor, purpose=purpose)
    with vault.calls.open_recording(
        call_id, action=ANONYMIZED_ACTION, actor=actor, purpose=purpose
    ) as reader:
        pcm, rate = decode_pcm(reader.as_file(), name=f"recording of call {call_id}")
    samples = _transform(ctx, record, pcm, rate, speaker_role, None, actor=actor, purpose=purpose)
    return samples, rate


def _transform(
    ctx: Context,
    record: CallRecord,
    pcm: np.ndarray,
    rate: int,
    speaker_role: str | None,
    mode: str | None,
    *,
    actor: str | None,
    purpose: str | None,
) -> np.ndarray:
    """`pcm` (int16, channels x samples) with the chosen speakers' voices anonymised."""
    vault = ctx.vault
    units = _units(vault, record, pcm.shape[0], actor=actor, purpose=purpose)
    chosen = _choose(units, speaker_role, mode)
    secret = _voice_secret(vault)
    heard = pcm.astype(np.float32) / 32768.0
    out = heard.copy()
    method = ctx.config.voice_method
    for unit in chosen:
        params = voice_parameters(_seed(secret, record.id, unit.key))
        if unit.spans is None:
            out[unit.channel] = transform_voice(heard[unit.channel], rate, params, method=method)
            continue
        for start, end in unit.spans:
            _anonymize_span(
                heard[unit.channel], out[unit.channel], rate, (start, end), params, method
            )
    return out


def _units(
    vault: Vault, record: CallRecord, channels: int, *, actor: str | None, purpose: str | None
) -> list[VoiceUnit]:
    """The speakers of the call: one per channel with a known party; on a mono call (or
    channels with no party) the diarized speakers of the transcript; with neither, the
    whole of each channel as one unknown voice."""
    speakers = speakers_by_channel(record)
    legs = {leg.channel: leg for leg in record.legs}
    units: list[VoiceUnit] = []
    if channels > 1 and len(speakers) == channels:
        for channel in range(channels):
            speaker = speakers[channel]
            leg = legs[channel]
            key = f"party:{leg.participant_id or leg.id}"
            units.append(VoiceUnit(key, speaker.role, speaker.label, channel, None))
        return units
    stored = vault.transcripts.read_transcript(record.id, actor=actor, purpose=purpose)
    transcript = Transcript.from_json(stored) if stored is not None else None
    spans: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for u in transcript.utterances if transcript is not None else ():
        channel = u.channel if u.channel is not None and u.channel < channels else 0
        spans.setdefault((channel, u.speaker), []).append((u.start, u.end))
    labels_of = Counter(channel for channel, _ in spans)
    for (channel, label), found in sorted(spans.items()):
        party = speakers.get(channel)
        role = party.role if party is not None and channels > 1 else label
        # The only speaker of a channel: the whole channel, speech missed by ASR too.
        where = None if labels_of[channel] == 1 else tuple(found)
        units.append(VoiceUnit(f"speaker:{channel}:{label}", role, label, channel, where))
    if not units:
        units = [
            VoiceUnit(f"channel:{channel}", "unknown", "unknown", channel, None)
            for channel in range(channels)
        ]
    return units


def _choose(units: list[VoiceUnit], speaker_role: str | None, mode: str | None) -> list[VoiceUnit]:
    if mode is not None:
        if mode == "all":
            return units
        if mode == "customer":
            agents = [u for u in units if u.role == "agent"]
            # Without an identified agent every voice may be a customer's: all anonymised.
            return [u for u in units if u.role != "agent"] if agents else units
        chosen = [u for u in units if u.role == "agent"]
        return chosen or units
    if speaker_role is None:
        return units
    chosen = [u for u in units if speaker_role in (u.role, u.label)]
    if not chosen:
        present = sorted(({u.role for u in units} | {u.label for u in units}) - {"unknown"})
        raise InputError(
            f"--speaker {speaker_role!r}: the call has no such speaker; its speakers are "
            f"{', '.join(present) or 'not known (process the call first)'}"
        )
    return chosen


def _voice_secret(vault: Vault) -> bytes:
    """A key for voice coefficients only, derived from the vault's search secret."""
    return hmac.new(vault.search_key, b"callvault voice anonymisation v1", hashlib.sha256).digest()


def _seed(secret: bytes, call_id: str, key: str) -> bytes:
    return hmac.new(secret, f"{call_id}\x00{key}".encode(), hashlib.sha256).digest()


def _anonymize_span(
    source: np.ndarray,
    target: np.ndarray,
    rate: int,
    span: tuple[float, float],
    params: VoiceParameters,
    method: str,
) -> None:
    """Anonymise `span` (seconds, with a margin) of `source` into `target`, cross-faded
    into the audio around it. From `source`, the audio as heard: where two speakers'
    spans overlap, neither is anonymised twice."""
    first = max(0, int((span[0] - SPAN_MARGIN) * rate))
    last = min(source.shape[0], int(np.ceil((span[1] + SPAN_MARGIN) * rate)))
    if last <= first:
        return
    moved = transform_voice(source[first:last], rate, params, method=method)
    weight = np.ones(last - first, dtype=np.float32)
    fade = min(int(FADE * rate), (last - first) // 2)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        weight[:fade] = ramp
        weight[-fade:] = ramp[::-1]
    target[first:last] = target[first:last] * (1.0 - weight) + moved * weight


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """Anonymised samples (float32, channels x samples, in [-1, 1]) as 16-bit PCM WAV
    bytes, as the API serves them and a training export writes them."""
    buffer = io.BytesIO()
    source = WavSource(_to_int16(samples), rate)
    while block := source.read(1 << 20):
        buffer.write(block)
    return buffer.getvalue()


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)
