from __future__ import annotations

import io
import os

import pytest

from callvault.errors import IntegrityError
from callvault.vault._crypto import (
    BLOB_HEADER_SIZE,
    BlobEncryptor,
    BlobReader,
    ciphertext_size,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
)


def seal(data: bytes, dek: bytes, rid: str = "rec1", chunk: int = 4096, step: int = 1000) -> bytes:
    enc = BlobEncryptor(dek, rid, chunk)
    out = [enc.header]
    for start in range(0, len(data), step):
        out.extend(enc.update(data[start : start + step]))
    out.append(enc.finalize())
    return b"".join(out)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096, 50_000])
def test_round_trip_and_size(size: int) -> None:
    data, dek = os.urandom(size), new_data_key()
    blob = seal(data, dek)
    assert len(blob) == ciphertext_size(size, 4096)
    reader = BlobReader(io.BytesIO(blob), len(blob), dek, "rec1")
    assert reader.size == size
    assert b"".join(reader.iter_chunks()) == data


def test_any_byte_range_decrypts_only_needed_chunks() -> None:
    data, dek = os.urandom(40_000), new_data_key()
    blob = seal(data, dek)
    reader = BlobReader(io.BytesIO(blob), len(blob), dek, "rec1")
    for offset, length in [(0, 1), (4095, 2), (8192, 4096), (39_999, 10), (12_345, 20_000)]:
        assert reader.read_range(offset, length) == data[offset : offset + length]
    assert reader.read_range(40_000, 5) == b""
    # Damage chunk 0: a range inside chunk 5 still decrypts, one touching chunk 0 does not.
    damaged = bytearray(blob)
    damaged[BLOB_HEADER_SIZE + 10] ^= 1
    reader = BlobReader(io.BytesIO(bytes(damaged)), len(damaged), dek, "rec1")
    assert reader.read_range(5 * 4096, 100) == data[5 * 4096 : 5 * 4096 + 100]
    with pytest.raises(IntegrityError, match="chunk 0 of the blob fails authentication"):
        reader.read_range(0, 10)


def test_ciphertext_does_not_contain_plaintext() -> None:
    data = b"RIFF" + b"secret-audio-pattern" * 1000
    blob = seal(data, new_data_key())
    assert b"secret-audio-pattern" not in blob


@pytest.mark.parametrize(
    "tamper",
    ["flip-body", "truncate-chunk", "drop-last-chunk", "swap-chunks", "other-recording"],
)
def test_tampering_is_detected(tamper: str) -> None:
    data, dek = os.urandom(3 * 4096 + 100), new_data_key()
    blob = bytearray(seal(data, dek))
    stride = 4096 + 16
    rid = "rec1"
    if tamper == "flip-body":
        blob[-1] ^= 0x80
    elif tamper == "truncate-chunk":
        del blob[-5:]
    elif tamper == "drop-last-chunk":
        del blob[BLOB_HEADER_SIZE + 3 * stride :]
    elif tamper == "swap-chunks":
        a = blob[BLOB_HEADER_SIZE : BLOB_HEADER_SIZE + stride]
        b = blob[BLOB_HEADER_SIZE + stride : BLOB_HEADER_SIZE + 2 * stride]
        blob[BLOB_HEADER_SIZE : BLOB_HEADER_SIZE + 2 * stride] = b + a
    else:
        rid = "rec2"
    reader = BlobReader(io.BytesIO(bytes(blob)), len(blob), dek, rid)
    with pytest.raises(IntegrityError, match="fails authentication"):
        b"".join(reader.iter_chunks())


def test_wrapped_key_is_bound_to_recording_and_kek() -> None:
    kek, dek = os.urandom(32), new_data_key()
    wrapped = wrap_data_key(kek, "kek-a", "rec1", dek)
    assert unwrap_data_key(kek, "kek-a", "rec1", wrapped) == dek
    with pytest.raises(IntegrityError, match="recording rec2: its wrapped data key does not"):
        unwrap_data_key(kek, "kek-a", "rec2", wrapped)
    with pytest.raises(IntegrityError):
        unwrap_data_key(kek, "kek-b", "rec1", wrapped)
    with pytest.raises(IntegrityError):
        unwrap_data_key(os.urandom(32), "kek-a", "rec1", wrapped)


def test_same_key_two_blobs_use_different_chunk_keys() -> None:
    # One data key encrypts audio and, later, the transcript: the random salt in each
    # header gives each blob its own chunk key, so counter nonces never repeat under one key.
    dek, data = new_data_key(), b"\0" * 5000
    first, second = seal(data, dek), seal(data, dek)
    assert first[BLOB_HEADER_SIZE:] != second[BLOB_HEADER_SIZE:]


def test_seal_stream_hashes_plaintext_and_ciphertext() -> None:
    import hashlib

    from callvault.vault._crypto import seal_stream

    data, dek = os.urandom(3_000_000), new_data_key()
    out = io.BytesIO()
    sealed = seal_stream(
        io.BytesIO(data), BlobEncryptor(dek, "r", 65536), out.write, read_size=99_999
    )
    blob = out.getvalue()
    assert sealed.sha256 == hashlib.sha256(data).hexdigest()
    assert sealed.size == len(data)
    assert sealed.ciphertext_sha256 == hashlib.sha256(blob).hexdigest()
    assert sealed.ciphertext_size == len(blob) == ciphertext_size(len(data), 65536)
    assert b"".join(BlobReader(io.BytesIO(blob), len(blob), dek, "r").iter_chunks()) == data


def test_plaintext_file_view_reads_and_seeks() -> None:
    data, dek = os.urandom(30_000), new_data_key()
    blob = seal(data, dek)
    view = BlobReader(io.BytesIO(blob), len(blob), dek, "rec1").as_file()
    assert view.read(10) == data[:10]
    view.seek(-100, io.SEEK_END)
    assert view.read() == data[-100:]
    view.seek(4090)
    assert view.read(20) == data[4090:4110]
    assert view.tell() == 4110
    view.seek(0)
    assert view.read() == data
