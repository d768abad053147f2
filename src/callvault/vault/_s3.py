"""Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...), over boto3.

Objects live under `<prefix>/<key>` of one bucket. What is handed to the store is already
ciphertext (`seal_blob`), so the store never sees plaintext. Credentials come only from
boto3's standard chain (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, a profile, an
instance role); callvault has no setting for them and never names them in a message.

- A write is buffered: a small object is one PUT, a large one a multipart upload whose
  parts go up as they fill; either way nothing is visible until `commit` (issue 19).
- `open` returns a seekable stream that fetches byte ranges (ranged GETs, read ahead by
  `read_ahead` bytes), so decrypting a byte range reads only the chunks it needs.
- Object lock (S3 Object Lock: legal hold, retention in GOVERNANCE or COMPLIANCE mode)
  is applied by `protect` when the bucket has it enabled; a locked object cannot be
  deleted, and `deletion_block` says so before an erasure destroys anything.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, NoReturn

from callvault.config import Config, mask_url
from callvault.errors import BlobStoreError
from callvault.vault._store import BlobLocked, BlobStore, BlobWrite, check_key

__all__ = ["S3BlobStore", "open_s3_store"]

log = logging.getLogger("callvault.vault")

DEFAULT_PART_SIZE = 8 << 20
DEFAULT_READ_AHEAD = 1 << 20
# S3 refuses parts under 5 MiB except the last (the multipart upload limits).
_MIN_PART_SIZE = 5 << 20

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
# What stores answer when a bucket has no object lock, or they do not implement it.
_NO_LOCK = {
    "ObjectLockConfigurationNotFoundError",
    "InvalidRequest",
    "NotImplemented",
    "MethodNotAllowed",
}


def split_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket[/prefix]`; the prefix without slashes at its ends."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix.strip("/")


class _S3Errors:
    """Turns boto's exceptions into callvault errors that name the setting to check and
    never a credential (ids of the bucket and the key only)."""

    def __init__(self, bucket: str, endpoint: str | None) -> None:
        self.bucket = bucket
        self.where = f"the object store at {endpoint}" if endpoint else "the object store"

    def raise_for(self, exc: Exception, doing: str) -> NoReturn:
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "NoSuchBucket" or (code == "404" and doing == "checking the bucket"):
                raise BlobStoreError(
                    f"{doing}: the bucket {self.bucket!r} does not exist in {self.where}; "
                    "run `callvault init`, or check CALLVAULT_BLOB_STORE"
                ) from None
            if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}:
                raise BlobStoreError(
                    f"{doing}: {self.where} refused access to bucket {self.bucket!r} "
                    f"({code}); check the credentials (AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and their permissions"
                ) from None
            raise BlobStoreError(
                f"{doing}: {self.where} answered {code or 'an error'} for bucket "
                f"{self.bucket!r}; check CALLVAULT_BLOB_STORE, CALLVAULT_S3_ENDPOINT_URL "
                "and CALLVAULT_S3_REGION"
            ) from None
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            raise BlobStoreError(
                f"{doing}: no credentials for the object store; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            ) from None
        if isinstance(exc, EndpointConnectionError):
            raise BlobStoreError(
                f"{doing}: cannot reach {self.where}; check CALLVAULT_S3_ENDPOINT_URL and "
                "that the store is running"
            ) from None
        raise BlobStoreError(
            f"{doing}: {self.where} failed ({type(exc).__name__}); check "
            "CALLVAULT_S3_ENDPOINT_URL and CALLVAULT_S3_REGION"
        ) from None


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class _S3Write(BlobWrite):
    """A buffered write: one PUT when small, a multipart upload once a part is full."""

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._store = store
        self._key = key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._open = True

    def write(self, data: bytes) -> None:
        assert self._open, "write after commit or abort"
        self._buffer += data
        size = self._store.part_size
        while len(self._buffer) >= size:
            self._upload_part(bytes(self._buffer[:size]))
            del self._buffer[:size]

    def _upload_part(self, body: bytes) -> None:
        store = self._store
        if self._upload_id is None:
            started = store._call(
                "starting an upload",
                store.client.create_multipart_upload,
                Bucket=store.bucket,
                Key=store._name(self._key),
            )
            self._upload_id = str(started["UploadId"])
            store._live.add(self._upload_id)
        number = len(self._parts) + 1
        answer = store._call(
            "uploading a part",
            store.client.upload_part,
            Bucket=store.bucket,
            Key=store._name(self._key),
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self) -> None:
        assert self._open, "commit after commit or abort"
        store = self._store
        try:
            if self._upload_id is None:
                store._call(
                    "storing a blob",
                    store.client.put_object,
                    Bucket=store.bucket,
                    Key=store._name(self._key),
                    Body=bytes(self._buffer),
                )
            else:
                if self._buffer or not self._parts:
                    self._upload_part(bytes(self._buffer))
                store._call(
                    "completing an upload",
                    store.client.complete_multipart_upload,
                    Bucket=store.bucket,
                    Key=store._name(self._key),
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except BaseException:
            self.abort()
            raise
        self._open = False
        self._buffer = bytearray()
        if self._upload_id is not None:
            store._live.discard(self._upload_id)

    def abort(self) -> None:
        self._open = False
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._store._live.discard(upload_id)
            try:
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self._store._name(self._key), UploadId=upload_id
                )
            except Exception:  # `gc` (sweep_incomplete) aborts it later
                log.warning("could not abort the upload of blob %s", self._key)


class _RangedReader(io.RawIOBase):
    """A seekable raw stream over one object: each read is a ranged GET (RFC 9110 §14)."""

    def __init__(self, store: S3BlobStore, key: str, size: int, etag: str | None) -> None:
        self._store, self._key, self._size, self._etag = store, key, size, etag
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readall(self) -> bytes:
        # RawIOBase.readall would fetch 8 KiB per request; the rest is one ranged GET.
        if self._pos >= self._size:
            return b""
        data = self._store._get_range(self._key, self._pos, self._size - 1, self._etag)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._size or not len(view):
            return 0
        end = min(self._pos + len(view), self._size) - 1
        data = self._store._get_range(self._key, self._pos, end, self._etag)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


class S3BlobStore(BlobStore):
    """Objects in one bucket of an S3-compatible store, under `prefix/` (no fan-out).

    `client` is a boto3 S3 client; `part_size` the multipart part size (at least 5 MiB
    on real stores; a test emulator may allow less), `read_ahead` how much a read of
    `open`'s stream fetches at least, `lock_mode` the object-lock retention mode.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        part_size: int = DEFAULT_PART_SIZE,
        read_ahead: int = DEFAULT_READ_AHEAD,
        lock_mode: str = "GOVERNANCE",
        endpoint: str | None = None,
    ) -> None:
        if part_size < 1:
            raise ValueError("part_size must be positive")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        self.read_ahead = read_ahead
        self.lock_mode = lock_mode
        self._errors = _S3Errors(bucket, endpoint)
        self._lock_enabled: bool | None = None
        # Multipart uploads this process is writing: never swept, whatever their age.
        self._live: set[str] = set()

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    # -- naming and errors -------------------------------------------------------------

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, doing: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except Exception as exc:
            if isinstance(exc, BlobStoreError):
                raise
            self._errors.raise_for(exc, doing)

    def _head(self, key: str) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = self.client.head_object(
                Bucket=self.bucket, Key=self._name(key)
            )
        except Exception as exc:
            if _code(exc) in _MISSING:
                # A HEAD's 404 has no body to say whether the object or the bucket is
                # missing: a missing bucket is the operator's to fix, not a lost blob.
                self._call("checking the bucket", self.client.head_bucket, Bucket=self.bucket)
                raise FileNotFoundError(f"blob {key} is not in the object store") from None
            self._errors.raise_for(exc, f"reading blob {key}")
        return answer

    def _get_range(self, key: str, first: int, last: int, etag: str | None) -> bytes:
        extra = {"IfMatch": etag} if etag else {}
        try:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=self._name(key), Range=f"bytes={first}-{last}", **extra
            )
            return bytes(answer["Body"].read())
        except Exception as exc:
            if _code(exc) in _MISSING:
                raise FileNotFoundError(f"blob {key} is not in the object store") from None
            self._errors.raise_for(exc, f"reading blob {key}")

    # -- the bucket --------------------------------------------------------------------

    def ensure_ready(self, *, object_lock: bool = False) -> bool:
        """Create the bucket when it is missing (with object lock when asked); return
        whether it was created. An existing bucket is used as it is."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except Exception as exc:
            if _code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                self._errors.raise_for(exc, "checking the bucket")
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if object_lock:
            kwargs["ObjectLockEnabledForBucket"] = True
        try:
            self.client.create_bucket(**kwargs)
        except Exception as exc:
            if _code(exc) not in {"BucketAlreadyOwnedByYou"}:
                self._errors.raise_for(exc, "creating the bucket")
            return False
        self._lock_enabled = None
        return True

    def check_writable(self) -> None:
        """Raise BlobStoreError unless a small object can be stored and removed; on a
        bucket with object lock only that the bucket answers (HEAD), since a default
        retention would keep every probe."""
        if self.lock_enabled():
            self._call("checking the store", self.client.head_bucket, Bucket=self.bucket)
            return
        # A blob key never starts with ".", so `iter_keys` and `gc` never see the probe.
        probe = f"{self.prefix}/.readyz" if self.prefix else ".readyz"
        self._call(
            "checking the store", self.client.put_object, Bucket=self.bucket, Key=probe, Body=b""
        )
        self._delete_name(probe, "checking the store")

    def lock_enabled(self) -> bool:
        """Whether the bucket has S3 Object Lock enabled (asked once)."""
        if self._lock_enabled is None:
            try:
                answer = self.client.get_object_lock_configuration(Bucket=self.bucket)
                config = answer.get("ObjectLockConfiguration", {})
                self._lock_enabled = config.get("ObjectLockEnabled") == "Enabled"
            except Exception as exc:
                if _code(exc) not in _NO_LOCK:
                    self._errors.raise_for(exc, "checking the bucket's object lock")
                self._lock_enabled = False
        return self._lock_enabled

    # -- BlobStore ---------------------------------------------------------------------

    def begin_write(self, key: str) -> BlobWrite:
        check_key(key)
        return _S3Write(self, key)

    def open(self, key: str) -> BinaryIO:
        head = self._head(key)
        raw = _RangedReader(self, key, int(head["ContentLength"]), head.get("ETag"))
        return io.BufferedReader(raw, buffer_size=self.read_ahead)

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def modified_at(self, key: str) -> float:
        stamp: datetime = self._head(key)["LastModified"]
        return stamp.timestamp()

    def delete(self, key: str) -> None:
        self._delete_name(self._name(key), f"deleting blob {key}", key=key)

    def _delete_name(self, name: str, doing: str, *, key: str | None = None) -> None:
        if not self.lock_enabled():
            self._call(doing, self.client.delete_object, Bucket=self.bucket, Key=name)
            return
        # A lock-enabled bucket is versioned: a plain delete only hides the object behind
        # a delete marker. Every version is removed, so erasure and `gc` remove the data.
        pages = self.client.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=name
        )
        try:
            for page in pages:
                for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    if version["Key"] != name:
                        continue
                    try:
                        self.client.delete_object(
                            Bucket=self.bucket, Key=name, VersionId=version["VersionId"]
                        )
                    except Exception as exc:
                        if _code(exc) == "AccessDenied":
                            raise BlobLocked(
                                f"blob {key or name} is under object lock in the object store "
                                "and was not deleted"
                            ) from None
                        raise
        except BlobLocked:
            raise
        except Exception as exc:
            self._errors.raise_for(exc, doing)

    def iter_keys(self) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    key = str(item["Key"])[len(start) :]
                    if key and "/" not in key and not key.startswith("."):
                        yield key
        except Exception as exc:
            self._errors.raise_for(exc, "listing blobs")

    def sweep_incomplete(self, older_than_s: float = 3600) -> int:
        """Abort multipart uploads under the prefix begun more than `older_than_s` ago
        (a younger one may belong to a write in progress in another process) and not
        being written by this process."""
        start = f"{self.prefix}/" if self.prefix else ""
        cutoff = time.time() - older_than_s
        aborted = 0
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=start
        )
        try:
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["UploadId"] in self._live:
                        continue
                    if upload["Initiated"].timestamp() > cutoff:
                        continue
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        except Exception as exc:
            self._errors.raise_for(exc, "removing unfinished uploads")
        return aborted

    # -- object lock -------------------------------------------------------------------

    def has_object_lock(self) -> bool:
        return self.lock_enabled()

    def protect(self, key: str, *, retain_until: datetime | None, legal_hold: bool) -> None:
        if not self.lock_enabled():
            return
        name = self._name(key)
        self._call(
            f"setting the legal hold of blob {key}",
            self.client.put_object_legal_hold,
            Bucket=self.bucket,
            Key=name,
            LegalHold={"Status": "ON" if legal_hold else "OFF"},
        )
        if retain_until is not None:
            self._call(
                f"setting the retention of blob {key}",
                self.client.put_object_retention,
                Bucket=self.bucket,
                Key=name,
                Retention={"Mode": self.lock_mode, "RetainUntilDate": retain_until},
            )

    def deletion_block(self, key: str) -> str | None:
        if not self.lock_enabled():
            return None
        try:
            head = self._head(key)
        except FileNotFoundError:
            return None
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            return "an object-lock legal hold in the object store"
        until = head.get("ObjectLockRetainUntilDate")
        if isinstance(until, datetime) and until > datetime.now(UTC):
            mode = head.get("ObjectLockMode", self.lock_mode)
            return f"object-lock retention ({mode}) until {until.isoformat()} in the object store"
        return None


def open_s3_store(config: Config) -> S3BlobStore:
    """The S3 store that `config.blob_store` (`s3://bucket[/prefix]`) names; credentials
    come from boto3's chain (environment, profile, instance role)."""
    import boto3
    from botocore.config import Config as BotoConfig

    bucket, prefix = split_s3_url(config.effective_blob_store)
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=config.s3_endpoint_url or None,
        region_name=config.s3_region or None,
        config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"}),
    )
    mode = "COMPLIANCE" if config.s3_object_lock == "compliance" else "GOVERNANCE"
    endpoint = mask_url(config.s3_endpoint_url) if config.s3_endpoint_url else None
    return S3BlobStore(client, bucket, prefix, lock_mode=mode, endpoint=endpoint)
