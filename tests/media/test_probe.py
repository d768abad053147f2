"""The media prober: what it reports for every supported format, and how it refuses bad audio."""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from _audio import FORMATS, encode, encode_with, silent_flac, tone, wav_bytes, with_declared_frames
from callvault.errors import InputError, RecordingTooLong, UnsupportedMedia
from callvault.media import SUPPORTED_CODECS, AudioInfo, probe_audio

NAME = "call.bin"
NOT_AUDIO = (
    f"{NAME}: not a recognised audio file; callvault imports WAV, FLAC, MP3, OGG/Opus, "
    "M4A/AAC and WebM"
)

# kind: (container, codecs FFmpeg may name for it), as documented in docs/json.md
EXPECTED: dict[str, tuple[str, set[str]]] = {
    "wav-pcm": ("wav", {"pcm_s16le"}),
    "wav-alaw": ("wav", {"pcm_alaw"}),
    "wav-mulaw": ("wav", {"pcm_mulaw"}),
    "flac": ("flac", {"flac"}),
    "mp3": ("mp3", {"mp3", "mp3float"}),
    "ogg-opus": ("ogg", {"opus", "libopus"}),
    "m4a-aac": ("mov,mp4,m4a,3gp,3g2,mj2", {"aac"}),
    "webm-opus": ("matroska,webm", {"opus", "libopus"}),
}
LOSSLESS = {"wav-pcm", "wav-alaw", "wav-mulaw", "flac"}
# The encoders behind these kinds take at most two channels.
STEREO_ONLY = {"mp3", "ogg-opus", "webm-opus"}
CORRUPT_FIX = "; copy the complete file again or convert it to WAV or FLAC"
TRUNCATED = (
    rf"{re.escape(NAME)}: the audio is truncated or corrupt: the file announces \d+\.\d s "
    r"but only \d+\.\d s can be decoded; copy the complete file again"
)


def probe(data: bytes, name: str = NAME) -> AudioInfo:
    return probe_audio(lambda: io.BytesIO(data), name=name, size=len(data))


def refusal(data: bytes, name: str = NAME) -> str:
    with pytest.raises(UnsupportedMedia) as caught:
        probe(data, name)
    message = str(caught.value)
    assert "\n" not in message
    return message


def wav_with_chunk(samples: np.ndarray, rate: int, chunk_id: bytes, payload: bytes) -> bytes:
    """A WAV with an extra chunk between `fmt ` and `data` (word-aligned as RIFF requires)."""
    plain = wav_bytes(samples, rate)
    extra = chunk_id + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
    body = plain[12:36] + extra + plain[36:]  # `fmt ` is bytes 12..36 of the wave module's WAV
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def garble_middle(data: bytes) -> bytes:
    """The file with its middle third replaced by (seeded) random bytes."""
    third = len(data) // 3
    noise = np.random.default_rng(1).integers(0, 256, third, dtype=np.uint8).tobytes()
    return data[:third] + noise + data[2 * third :]


# -- what the prober reports ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "channels"),
    [(k, ch) for k in sorted(FORMATS) for ch in (1, 2, 3) if ch <= 2 or k not in STEREO_ONLY],
)
def test_every_supported_format_is_described(kind: str, channels: int) -> None:
    container, codecs = EXPECTED[kind]
    rate = FORMATS[kind][3]
    info = probe(encode(kind, 0.5, channels))
    assert info.container == container
    assert info.codec in codecs and info.codec in SUPPORTED_CODECS
    assert (info.sample_rate, info.channels) == (rate, channels)
    if kind in LOSSLESS:
        assert info.frames == rate // 2
        assert info.duration_s == 0.5
    else:  # lossy encoders pad to whole frames
        assert info.duration_s == pytest.approx(0.5, abs=0.05)


def test_a_file_on_disk_is_opened_afresh_for_each_pass(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    path.write_bytes(wav_bytes(tone(0.25, 8000, 2), 8000))
    opened: list[int] = []

    def open_source() -> io.BufferedReader:
        opened.append(1)
        return open(path, "rb")

    info = probe_audio(open_source, name=str(path), size=path.stat().st_size)
    assert info == AudioInfo("wav", "pcm_s16le", 8000, 2, 2000)
    assert info.duration_s == 0.25
    assert len(opened) == 2  # header check, then the full decode


def test_wav_with_a_streaming_data_size_is_decoded_to_its_end() -> None:
    data = bytearray(wav_bytes(tone(0.5, 8000, 1), 8000))
    data[4:8] = data[40:44] = struct.pack("<I", 0xFFFFFFFF)  # size unknown when it was written
    assert probe(bytes(data)).frames == 4000


@pytest.mark.parametrize("payload", [b"abc", b"abcd"], ids=["odd-chunk", "even-chunk"])
def test_wav_with_extra_chunks_before_data(payload: bytes) -> None:
    data = wav_with_chunk(tone(0.5, 8000, 1), 8000, b"JUNK", payload)
    assert probe(data).frames == 4000
    assert refusal(data[:-100]) == (
        f"{NAME}: the WAV file is truncated (100 bytes of audio data are missing); "
        "copy the complete file again"
    )


def test_unsupported_media_is_an_input_error() -> None:
    with pytest.raises(InputError):
        probe(b"")


# -- refusals --------------------------------------------------------------------------


def test_empty_file() -> None:
    assert refusal(b"") == f"{NAME}: the file is empty; give a recording with audio in it"


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is a text file and not audio\n" * 20,
        np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        b"\0" * 4096,
        b"RIFF",
        wav_bytes(tone(0.1, 8000, 1), 8000)[:20],  # cut inside the header
        encode("flac", 0.5)[:10],
        encode("mp3", 0.5)[:100],
    ],
    ids=["text", "random", "zeros", "riff-only", "wav-header-cut", "flac-cut", "mp3-cut"],
)
def test_bytes_that_are_not_audio(data: bytes) -> None:
    assert refusal(data) == NOT_AUDIO


def test_the_message_names_the_input() -> None:
    assert refusal(b"plain text", name="/calls/2026/a.mp3").startswith("/calls/2026/a.mp3: ")


@pytest.mark.parametrize("channels", [1, 2])
def test_truncated_wav(channels: int) -> None:
    data = wav_bytes(tone(0.5, 8000, channels), 8000)
    half = data[: len(data) // 2]
    missing = len(data) - len(half)
    assert refusal(half) == (
        f"{NAME}: the WAV file is truncated ({missing} bytes of audio data are missing); "
        "copy the complete file again"
    )


@pytest.mark.parametrize("kind", ["wav-alaw", "wav-mulaw"])
def test_truncated_companded_wav(kind: str) -> None:
    data = encode(kind, 0.5, 2)
    message = refusal(data[: len(data) // 2])
    assert re.fullmatch(
        rf"{NAME}: the WAV file is truncated \(\d+ bytes of audio data are missing\); "
        "copy the complete file again",
        message,
    )


def test_wav_header_without_its_samples() -> None:
    data = wav_bytes(tone(0.5, 8000, 1), 8000)
    assert refusal(data[:44]) == (
        f"{NAME}: the WAV file is truncated (8000 bytes of audio data are missing); "
        "copy the complete file again"
    )


def test_wav_missing_its_last_byte() -> None:
    data = wav_bytes(tone(0.5, 8000, 1), 8000)
    assert "(1 bytes of audio data are missing)" in refusal(data[:-1])


def test_truncated_wav_with_a_large_chunk_before_data() -> None:
    data = wav_with_chunk(tone(1.0, 8000, 1), 8000, b"JUNK", b"\0" * 70_000)
    assert probe(data).frames == 8000
    assert refusal(data[:-8000]) == (
        f"{NAME}: the WAV file is truncated (8000 bytes of audio data are missing); "
        "copy the complete file again"
    )


def test_truncated_flac() -> None:
    data = encode("flac", 1.0, 2)
    message = refusal(data[: len(data) // 2])
    assert re.fullmatch(
        rf"{NAME}: the audio is corrupt and cannot be decoded past \d+\.\d s" + CORRUPT_FIX, message
    )


@pytest.mark.parametrize("kind", ["ogg-opus", "m4a-aac"])
def test_truncated_ogg_and_m4a_cannot_be_opened(kind: str) -> None:
    # OGG needs its last page and MP4 its `moov` box (written at the end) to be opened.
    data = encode(kind, 1.0, 2)
    assert refusal(data[: len(data) // 2]) == NOT_AUDIO


@pytest.mark.parametrize("kind", ["mp3", "webm-opus"])
def test_truncated_mp3_and_webm(kind: str) -> None:
    # The container still announces the full length (Xing header, Segment Duration).
    data = encode(kind, 1.0, 2)
    assert re.fullmatch(TRUNCATED, refusal(data[: len(data) // 2]))


@pytest.mark.parametrize(
    "data",
    [
        wav_bytes(np.zeros((0, 1), dtype="<i2"), 8000),
        wav_bytes(np.zeros((0, 2), dtype="<i2"), 8000),
        encode("flac", 0.0),
    ],
    ids=["wav-mono", "wav-stereo", "flac"],
)
def test_valid_header_without_samples(data: bytes) -> None:
    assert len(data) > 0
    assert refusal(data) == (
        f"{NAME}: the recording contains no audio samples; check that it was recorded and "
        "copied completely"
    )


@pytest.mark.parametrize("codec", ["adpcm_ms", "adpcm_ima_wav", "g726"])
def test_unsupported_codec(codec: str) -> None:
    assert codec not in SUPPORTED_CODECS
    assert refusal(encode_with(codec)) == (
        f"{NAME}: the audio codec {codec!r} is not supported; convert it to WAV (PCM) or FLAC first"
    )


def test_file_without_an_audio_stream() -> None:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        picture = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        for packet in stream.encode(picture.reformat(format="yuv420p")):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    assert refusal(buffer.getvalue()) == (
        f"{NAME}: the file has no audio stream; give a recording with sound in it"
    )


@pytest.mark.parametrize("kind", ["mp3", "m4a-aac"])
def test_corrupt_audio_is_refused(kind: str) -> None:
    message = refusal(garble_middle(encode(kind, 1.0, 2)))
    assert re.fullmatch(
        rf"{NAME}: the audio is corrupt and cannot be decoded past \d+\.\d s" + CORRUPT_FIX, message
    )


@pytest.mark.parametrize("where", ["garbage-middle", "ff-run"])
@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_corrupt_audio_is_refused_cleanly_or_imported(kind: str, where: str) -> None:
    """Corruption is either refused with UnsupportedMedia or survives decoding; never a crash."""
    data = encode(kind, 1.0, 2)
    if where == "garbage-middle":
        data = garble_middle(data)
    else:
        middle = len(data) // 2
        data = data[:middle] + b"\xff" * 64 + data[middle + 64 :]
    try:
        info = probe(data)
    except UnsupportedMedia as exc:
        assert str(exc).startswith(f"{NAME}: ") and "\n" not in str(exc)
    else:
        assert (info.sample_rate, info.channels) == (FORMATS[kind][3], 2)
        assert info.frames > 0


@pytest.mark.parametrize("kind", ["flac", "ogg-opus", "webm-opus"])
def test_corrupt_audio_that_loses_most_of_its_duration_is_refused(kind: str) -> None:
    # Decoders conceal the damage; the shortfall against the announced length gives it away.
    assert re.fullmatch(TRUNCATED, refusal(garble_middle(encode(kind, 1.0, 2))))


# -- the duration limit (issue 17: ten hours of silence in 6.9 MB) -------------------------


class _Counting(io.BytesIO):
    """Remembers how far into the file anything was read."""

    furthest = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.furthest = max(self.furthest, self.tell())
        return data


LIMIT_TAIL = "(5 s, CALLVAULT_MAX_DURATION); split the recording or raise CALLVAULT_MAX_DURATION"


def test_a_header_announcing_more_than_the_limit_is_refused_before_decoding() -> None:
    data = silent_flac(10 * 3600)
    opened: list[_Counting] = []

    def source() -> _Counting:
        opened.append(_Counting(data))
        return opened[-1]

    with pytest.raises(RecordingTooLong) as info:
        probe_audio(source, name=NAME, size=len(data), max_seconds=5)
    assert str(info.value) == (
        f"{NAME}: the file announces 10:00:00 of audio, longer than the limit of 0:00:05 "
        f"{LIMIT_TAIL}; nothing was stored"
    )
    assert isinstance(info.value, InputError) and info.value.limit_s == 5
    assert opened[-1].furthest < len(data) // 10  # refused from the header, not decoded


@pytest.mark.parametrize("declared", [0, 8000], ids=["no-length", "one-second-lie"])
def test_audio_past_the_limit_is_refused_while_decoding(declared: int) -> None:
    data = with_declared_frames(silent_flac(3600), declared)
    opened: list[_Counting] = []

    def source() -> _Counting:
        opened.append(_Counting(data))
        return opened[-1]

    with pytest.raises(RecordingTooLong) as info:
        probe_audio(source, name=NAME, size=len(data), max_seconds=5)
    assert str(info.value) == (
        f"{NAME}: the audio goes on past the limit of 0:00:05 {LIMIT_TAIL}; nothing was stored"
    )
    assert opened[-1].furthest < len(data) // 10  # decoding stopped at the limit


def test_a_recording_at_the_limit_is_accepted() -> None:
    data = silent_flac(5)
    info = probe_audio(lambda: io.BytesIO(data), name=NAME, size=len(data), max_seconds=5)
    assert info.duration_s == 5
