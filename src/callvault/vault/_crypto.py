"""Envelope encryption and signatures.

* A key-encryption key (KEK) lives in a file of its own (mode 0600) in the key ring.
* Each recording has a random 256-bit data key (DEK), stored only wrapped: AES-256-GCM
  under the KEK, with the recording id and KEK id as associated data.
* A blob (an object encrypted under a DEK) is a 24-byte header followed by chunks of
  AES-256-GCM ciphertext. The chunk key is derived with HKDF from the DEK and a random
  salt in the header, so one DEK can encrypt many blobs (audio, transcript) without
  ever repeating a nonce. Each chunk's nonce is its index plus a last-chunk flag, and
  the header and recording id are associated data, so chunks cannot be reordered,
  dropped, truncated or moved to another recording without failing authentication
  (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár, 2015).
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import struct
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from callvault.errors import ConfigError, IntegrityError
from callvault.vault._fs import atomic_write, fsync_dir

__all__ = [
    "BLOB_HEADER_SIZE",
    "TAG_SIZE",
    "BlobEncryptor",
    "BlobReader",
    "KeyRing",
    "SealedBlob",
    "Signer",
    "ciphertext_size",
    "new_data_key",
    "seal_stream",
    "unwrap_data_key",
    "wrap_data_key",
]

MAGIC = b"CVB1"
BLOB_HEADER_SIZE = 24  # magic (4) | chunk size, big-endian (4) | HKDF salt (16)
TAG_SIZE = 16  # AES-GCM authentication tag
_DEK_AAD = b"callvault/dek/v1"
_BLOB_INFO = b"callvault/blob/v1"
SEARCH_KEY_FILE = "search.key"
BOARD_KEY_FILE = "live.key"


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap_data_key(kek: bytes, kek_id: str, recording_id: str, dek: bytes) -> bytes:
    nonce = os.urandom(12)
    aad = b"|".join((_DEK_AAD, recording_id.encode(), kek_id.encode()))
    return nonce + AESGCM(kek).encrypt(nonce, dek, aad)


def unwrap_data_key(kek: bytes, kek_id: str, recording_id: str, wrapped: bytes) -> bytes:
    aad = b"|".join((_DEK_AAD, recording_id.encode(), kek_id.encode()))
    try:
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], aad)
    except InvalidTag:
        raise IntegrityError(
            f"recording {recording_id}: its wrapped data key does not authenticate under "
            f"key-encryption key {kek_id}"
        ) from None


def ciphertext_size(plaintext_size: int, chunk_size: int) -> int:
    chunks = max(1, -(-plaintext_size // chunk_size))
    return BLOB_HEADER_SIZE + plaintext_size + chunks * TAG_SIZE


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _chunk_cipher(dek: bytes, salt: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_BLOB_INFO).derive(dek)
    return AESGCM(key)


class BlobEncryptor:
    """Encrypts a stream of plaintext into chunks; feed with `update`, end with `finalize`.

    Plaintext is buffered only up to one chunk. Hashing is left to `seal_stream`, which
    runs it on another core: SHA-256 is several times slower than AES-GCM here.
    """

    def __init__(self, dek: bytes, recording_id: str, chunk_size: int) -> None:
        salt = secrets.token_bytes(16)
        self.header = MAGIC + struct.pack(">I", chunk_size) + salt
        self._aad = self.header + recording_id.encode()
        self._cipher = _chunk_cipher(dek, salt)
        self.chunk_size = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self.plain_size = 0

    def _seal(self, chunk: bytes | memoryview, last: bool) -> bytes:
        out = self._cipher.encrypt(_nonce(self._index, last), chunk, self._aad)
        self._index += 1
        return out

    def update(self, data: bytes) -> Iterator[bytes]:
        """Yield the ciphertext of every chunk that is certainly not the last one.

        Full chunks are sealed straight from `data`; only the tail (at most one chunk,
        possibly the last of the blob) is copied into a buffer until more data or
        `finalize` shows whether it is the last.
        """
        self.plain_size += len(data)
        size = self.chunk_size
        view = memoryview(data)
        pos = 0
        if self._buffer:
            pos = min(len(view), size - len(self._buffer))
            self._buffer += view[:pos]
            if pos == len(view):
                return
            yield self._seal(bytes(self._buffer), last=False)
            self._buffer = bytearray()
        full = (len(view) - pos - 1) // size
        for start in range(pos, pos + full * size, size):
            yield self._seal(view[start : start + size], last=False)
        self._buffer = bytearray(view[pos + full * size :])

    def finalize(self) -> bytes:
        return self._seal(bytes(self._buffer), last=True)


@dataclass(frozen=True)
class SealedBlob:
    """What `seal_stream` wrote: size and SHA-256 of the plaintext and of the ciphertext."""

    sha256: str
    size: int
    ciphertext_sha256: str
    ciphertext_size: int


def seal_stream(
    source: BinaryIO,
    encryptor: BlobEncryptor,
    write: Callable[[bytes], object],
    *,
    read_size: int = 1 << 20,
) -> SealedBlob:
    """Encrypt `source` into `write` and hash the plaintext and the ciphertext.

    The plaintext is hashed on a second thread while this one encrypts, hashes and writes
    the ciphertext: hashlib releases the GIL, and SHA-256 is the slowest step on a CPU
    with AES-NI. At most three blocks are in flight.
    """
    plain, cipher = hashlib.sha256(), hashlib.sha256(encryptor.header)
    write(encryptor.header)
    pending: deque[Future[None]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="callvault-hash") as pool:
        while data := source.read(read_size):
            pending.append(pool.submit(plain.update, data))
            for block in encryptor.update(data):
                cipher.update(block)
                write(block)
            if len(pending) > 2:
                pending.popleft().result()
        last = encryptor.finalize()
        cipher.update(last)
        write(last)
        for future in pending:
            future.result()
    size = encryptor.plain_size
    return SealedBlob(
        plain.hexdigest(),
        size,
        cipher.hexdigest(),
        ciphertext_size(size, encryptor.chunk_size),
    )


class BlobReader:
    """Random access to the plaintext of one blob, decrypting only the chunks needed."""

    def __init__(self, handle: BinaryIO, size: int, dek: bytes, recording_id: str) -> None:
        header = handle.read(BLOB_HEADER_SIZE)
        if len(header) != BLOB_HEADER_SIZE or header[:4] != MAGIC:
            raise IntegrityError(f"recording {recording_id}: the blob header is damaged")
        (self.chunk_size,) = struct.unpack_from(">I", header, 4)
        if self.chunk_size <= 0:
            raise IntegrityError(f"recording {recording_id}: the blob header is damaged")
        self._handle = handle
        self._aad = header + recording_id.encode()
        self._cipher = _chunk_cipher(dek, header[8:24])
        self._recording_id = recording_id
        body = size - BLOB_HEADER_SIZE
        stride = self.chunk_size + TAG_SIZE
        self.chunks = max(1, -(-body // stride))
        self.size = body - self.chunks * TAG_SIZE
        if self.size < 0:
            raise IntegrityError(f"recording {recording_id}: the blob is truncated")

    def _chunk(self, index: int) -> bytes:
        stride = self.chunk_size + TAG_SIZE
        self._handle.seek(BLOB_HEADER_SIZE + index * stride)
        sealed = self._handle.read(stride)
        last = index == self.chunks - 1
        try:
            return self._cipher.decrypt(_nonce(index, last), sealed, self._aad)
        except InvalidTag:
            raise IntegrityError(
                f"recording {self._recording_id}: chunk {index} of the blob fails "
                "authentication (the ciphertext was changed or damaged)"
            ) from None

    def iter_chunks(self) -> Iterator[bytes]:
        for index in range(self.chunks):
            yield self._chunk(index)

    def as_file(self, *, close_handle: bool = False) -> BinaryIO:
        """A read-only, seekable file over the plaintext, decrypting chunk by chunk;
        closing it closes the ciphertext's handle too when `close_handle`."""
        raw = _PlainFile(self, close_handle=close_handle)
        return io.BufferedReader(raw, buffer_size=self.chunk_size)

    def iter_range(self, offset: int, length: int) -> Iterator[bytes]:
        """Plaintext bytes [offset, offset + length), clipped to the end of the blob, one
        decrypted chunk at a time: a response streams a blob of any size holding one
        chunk in memory. Each chunk is authenticated before any of it is yielded, so a
        changed chunk ends the stream with IntegrityError before its bytes go out."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        end = min(offset + length, self.size)
        if offset >= end:
            return
        first, last = offset // self.chunk_size, (end - 1) // self.chunk_size
        for index in range(first, last + 1):
            data = self._chunk(index)
            base = index * self.chunk_size
            yield data[max(offset - base, 0) : end - base]

    def read_range(self, offset: int, length: int) -> bytes:
        """Plaintext bytes [offset, offset + length), clipped to the end of the blob."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        first, last = offset // self.chunk_size, (end - 1) // self.chunk_size
        data = b"".join(self._chunk(i) for i in range(first, last + 1))
        start = offset - first * self.chunk_size
        return data[start : start + (end - offset)]


class _PlainFile(io.RawIOBase):
    def __init__(self, reader: BlobReader, *, close_handle: bool = False) -> None:
        self._reader = reader
        self._pos = 0
        self._close_handle = close_handle

    def close(self) -> None:
        if self._close_handle and not self.closed:
            self._reader._handle.close()
        super().close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._reader.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        data = self._reader.read_range(self._pos, len(buffer))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class KeyRing:
    """Key-encryption keys on disk: `<dir>/<kek_id>.key` (32 raw bytes, mode 0600) and
    `<dir>/current` naming the one new data keys are wrapped under."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def _check_id(kek_id: str) -> str:
        if not (kek_id.startswith("kek-") and kek_id[4:].isalnum()):
            raise ConfigError(f"key ring: {kek_id!r} is not a key-encryption key id")
        return kek_id

    def exists(self) -> bool:
        return (self.directory / "current").is_file()

    def create_key(self) -> str:
        """Write a new KEK file (not yet current) and return its id."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        kek_id = f"kek-{secrets.token_hex(8)}"
        atomic_write(self.directory / f"{kek_id}.key", secrets.token_bytes(32))
        return kek_id

    def set_current(self, kek_id: str) -> None:
        atomic_write(self.directory / "current", kek_id.encode() + b"\n", mode=0o600)

    def current_id(self) -> str:
        try:
            return self._check_id((self.directory / "current").read_text().strip())
        except FileNotFoundError:
            raise ConfigError(
                f"no key-encryption key in {self.directory}; run `callvault init`"
            ) from None

    def key(self, kek_id: str) -> bytes:
        path = self.directory / f"{self._check_id(kek_id)}.key"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"key-encryption key {kek_id} is missing from {self.directory}; restore it "
                "from your key backup"
            ) from None
        if len(data) != 32:
            raise ConfigError(f"key-encryption key file {path} is damaged (not 32 bytes)")
        return data

    def key_ids(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("kek-*.key"))

    def search_key(self) -> bytes:
        """The search index's secret (`<dir>/search.key`, 32 bytes, mode 0600), created
        on first use and never replaced: the blind index's tokens and the wrapping of its
        per-call keys derive from it (``callvault.search``), so a new one would orphan
        the whole index. Key rotation leaves it alone; it never goes into the database."""
        return self._secret(SEARCH_KEY_FILE, "search key")

    def board_key(self) -> bytes:
        """The live board's data key (`<dir>/live.key`, 32 bytes, mode 0600), created on
        first use like `search_key`: the words of calls in progress are sealed under it
        (AES-256-GCM, ``vault._live``) in every process that shares this key ring (the
        recorder, the monitors, each `serve`). Board rows live for minutes (pruned after
        `live_keep_minutes`), so key rotation leaves it alone; it never goes into the
        database."""
        return self._secret(BOARD_KEY_FILE, "live board key")

    def _secret(self, name: str, what: str) -> bytes:
        path = self.directory / name
        if not path.exists():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(secrets.token_bytes(32))
                    handle.flush()
                    os.fsync(handle.fileno())
                # A link, not a rename: of two processes creating it at once, one wins
                # and both then read the winner's key.
                os.link(tmp, path)
                fsync_dir(self.directory)
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        data = path.read_bytes()
        if len(data) != 32:
            raise ConfigError(f"{what} file {path} is damaged (not 32 bytes)")
        return data

    def destroy(self, kek_id: str) -> None:
        path = self.directory / f"{self._check_id(kek_id)}.key"
        if path.exists():
            # Overwrite before unlinking; on copy-on-write or journalled file systems this
            # is best effort, which is why data keys are only ever stored wrapped.
            with open(path, "r+b") as handle:
                handle.write(b"\0" * 32)
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()
            fsync_dir(self.directory)


class Signer:
    """The Ed25519 key that signs manifests and the audit head."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def create(cls, path: Path) -> Signer:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, pem)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        atomic_write(path.with_suffix(".pub"), public, mode=0o644)
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> Signer:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise ConfigError(f"signing key {path} is missing; run `callvault init`") from None
        except ValueError:
            raise ConfigError(f"signing key {path} is damaged") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"signing key {path} is not an Ed25519 key")
        return cls(key)

    def sign(self, message: bytes) -> str:
        return self._private.sign(message).hex()

    def public_key_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 public key (what a backup manifest names its signer by)."""
        return self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def verify(self, message: bytes, signature_hex: str) -> bool:
        try:
            self.public_key.verify(bytes.fromhex(signature_hex), message)
        except (InvalidSignature, ValueError):
            return False
        return True
