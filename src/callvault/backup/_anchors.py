"""The places an audit checkpoint is anchored, out of the vault's reach (issue 21).

- `AnchorSink`: an append-only directory. Each checkpoint is a file of its own
  (`audit-anchor-<seq:012d>-<yyyymmddThhmmssZ>.json`), created under a name that must not
  exist yet (hard link from a temporary file: O_EXCL semantics, and the file appears
  whole), mode 0400, the directory fsynced. The code never overwrites; for a directory
  that the vault's own user cannot rewrite either, mark it `chattr +a` (Linux, append
  only) or use a WORM mount.
- `S3AnchorSink`: an S3 bucket with object lock. Refused unless the bucket has an object
  lock configuration; each object is put in COMPLIANCE mode until now + retain days, so
  not even the account's root can delete or overwrite that version before then.
- `TsaClient`: an RFC 3161 timestamp authority countersigns the SHA-256 of the
  checkpoint's canonical JSON; the token (DER TimeStampResp, `.tsr`) lies next to the
  checkpoint.

This module handles bytes: `services.anchors` makes and checks the checkpoints.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from callvault.errors import AnchorError

__all__ = [
    "AnchorPlace",
    "AnchorSink",
    "S3AnchorSink",
    "StoredAnchor",
    "TsaClient",
    "anchor_name",
    "open_anchor_place",
    "read_anchors",
    "verify_timestamp",
]

log = logging.getLogger("callvault.backup")

_NAME = re.compile(r"audit-anchor-(\d{12})-(\d{8}T\d{6}Z)\.json")
# RFC 3161 section 3.4: the media types of a request and a response over HTTP.
TSQ_TYPE = "application/timestamp-query"
TSR_TYPE = "application/timestamp-reply"
TSA_TIMEOUT_S = 10.0
_MAX_ANCHOR = 1 << 20


def anchor_name(seq: int, at: datetime) -> str:
    """The file or object name of the checkpoint of entry `seq` made at `at`."""
    return f"audit-anchor-{seq:012d}-{at.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"


def _token_name(name: str) -> str:
    return name.removesuffix(".json") + ".tsr"


@dataclass(frozen=True)
class StoredAnchor:
    """One checkpoint as a place keeps it: its JSON, its timestamp token if any."""

    name: str
    checkpoint: bytes
    token: bytes | None


class AnchorPlace(ABC):
    """Somewhere checkpoints are added and never replaced."""

    location: str

    @abstractmethod
    def put(self, name: str, checkpoint: bytes, token: bytes | None = None) -> None:
        """Add the checkpoint `name` (and its token); AnchorError if `name` exists."""

    @abstractmethod
    def names(self) -> list[str]:
        """The checkpoints' names, oldest (lowest seq) first."""

    @abstractmethod
    def read(self, name: str) -> StoredAnchor: ...

    def iter_anchors(self) -> list[StoredAnchor]:
        return [self.read(name) for name in self.names()]


def _sorted_names(names: Sequence[str]) -> list[str]:
    return sorted(name for name in names if _NAME.fullmatch(name))


class AnchorSink(AnchorPlace):
    """An append-only directory of checkpoint files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    def put(self, name: str, checkpoint: bytes, token: bytes | None = None) -> None:
        if not _NAME.fullmatch(name):
            raise AnchorError(f"{name!r} is not the name of an audit checkpoint")
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise AnchorError(f"cannot create the anchor directory {self.path}: {exc}") from None
        # The token first: a checkpoint file only ever appears with its token in place.
        if token is not None:
            self._create(_token_name(name), token)
        self._create(name, checkpoint)
        self._sync_dir()

    def _create(self, name: str, data: bytes) -> None:
        target = self.path / name
        temp = self.path / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            # link() fails when the name exists, whatever the file's mode: a checkpoint
            # is never replaced, not even by this process.
            os.link(temp, target)
        except FileExistsError:
            raise AnchorError(
                f"{target} exists already; an anchored checkpoint is never overwritten"
            ) from None
        except OSError as exc:
            raise AnchorError(f"cannot write {target}: {exc.strerror or exc}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

    def _sync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def names(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return _sorted_names([entry.name for entry in self.path.iterdir()])

    def read(self, name: str) -> StoredAnchor:
        try:
            data = (self.path / name).read_bytes()
        except OSError as exc:
            raise AnchorError(f"cannot read {self.path / name}: {exc.strerror or exc}") from None
        token_path = self.path / _token_name(name)
        token = token_path.read_bytes() if token_path.is_file() else None
        return StoredAnchor(name, data, token)


class S3AnchorSink(AnchorPlace):
    """A bucket with object lock; every checkpoint locked in compliance mode."""

    def __init__(self, client: Any, bucket: str, prefix: str, *, retain_days: int) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.retain_days = retain_days
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def ensure_locked(self) -> None:
        """AnchorError unless the bucket has object lock enabled."""
        from botocore.exceptions import ClientError

        try:
            found = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise AnchorError(
                f"bucket {self.bucket} has no object lock ({code}): anchors need a bucket "
                "created with object lock enabled"
            ) from None
        enabled = found.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            raise AnchorError(
                f"bucket {self.bucket} has no object lock: anchors need a bucket created "
                "with object lock enabled"
            )

    def put(self, name: str, checkpoint: bytes, token: bytes | None = None) -> None:
        from botocore.exceptions import ClientError

        if not _NAME.fullmatch(name):
            raise AnchorError(f"{name!r} is not the name of an audit checkpoint")
        self.ensure_locked()
        until = datetime.now(UTC) + timedelta(days=self.retain_days)
        items = [(_token_name(name), token)] if token is not None else []
        items.append((name, checkpoint))
        for item, body in items:
            key = self._key(item)
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentMD5=_content_md5(body),
                    ObjectLockMode="COMPLIANCE",
                    ObjectLockRetainUntilDate=until,
                    # Conditional write: refused when the key exists (a new version
                    # would not replace the locked one, but would shadow it).
                    IfNoneMatch="*",
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in {"PreconditionFailed", "ConditionalRequestConflict"}:
                    raise AnchorError(
                        f"{self.location}/{item} exists already; an anchored checkpoint is "
                        "never overwritten"
                    ) from None
                raise AnchorError(f"cannot put {self.location}/{item}: {code}") from None

    def names(self) -> list[str]:
        found: list[str] = []
        prefix = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(obj["Key"][len(prefix) :] for obj in page.get("Contents", []))
        return _sorted_names(found)

    def read(self, name: str) -> StoredAnchor:
        from botocore.exceptions import ClientError

        def get(item: str) -> bytes | None:
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self._key(item))["Body"]
                return bytes(body.read(_MAX_ANCHOR))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                    return None
                raise AnchorError(f"cannot read {self.location}/{item}") from None

        data = get(name)
        if data is None:
            raise AnchorError(f"{self.location}/{name} is missing")
        return StoredAnchor(name, data, get(_token_name(name)))


def _content_md5(body: bytes) -> str:
    import base64

    # Object lock requires an integrity header on PutObject (S3 API reference).
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def open_anchor_place(
    location: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    retain_days: int = 3650,
) -> AnchorPlace:
    """The place `location` names: an absolute directory or `s3://bucket[/prefix]`."""
    if location.startswith("s3://"):
        import boto3

        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None
        )
        return S3AnchorSink(client, bucket, prefix, retain_days=retain_days)
    if "://" in location or not Path(location).is_absolute():
        raise AnchorError(
            f"{location!r} is not an anchor place: expected an absolute directory or "
            "s3://bucket[/prefix]"
        )
    return AnchorSink(Path(location))


def read_anchors(
    source: str, *, endpoint_url: str | None = None, region: str | None = None
) -> list[tuple[bytes, bytes | None, str]]:
    """Every checkpoint kept at `source` (a directory or s3://...), oldest first, as
    (checkpoint JSON, timestamp token or None, name)."""
    place = open_anchor_place(source, endpoint_url=endpoint_url, region=region)
    return [(item.checkpoint, item.token, item.name) for item in place.iter_anchors()]


def _load_chain(pem: bytes) -> tuple[list[x509.Certificate], x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise AnchorError("the timestamp authority's certificate file is not PEM") from None
    if not certs:
        raise AnchorError("the timestamp authority's certificate file holds no certificate")
    return certs[:-1], certs[-1]


def verify_timestamp(
    token: bytes, data: bytes, chain_pem: bytes, *, nonce: int | None = None
) -> datetime:
    """The time an RFC 3161 token (a DER TimeStampResp) vouches for `data` (the SHA-256 of
    it), after checking it is granted, signed by a timestamping certificate that chains to
    the last certificate of `chain_pem`, and (when given) carries `nonce`."""
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    intermediates, root = _load_chain(chain_pem)
    try:
        response = decode_timestamp_response(token)
    except ValueError:
        raise AnchorError("the timestamp token is not an RFC 3161 response") from None
    builder = VerifierBuilder(roots=[root], intermediates=list(intermediates), nonce=nonce)
    try:
        builder.build().verify(response, hashlib.sha256(data).digest())
    except VerificationError as exc:
        raise AnchorError(f"the timestamp token does not verify: {exc}") from None
    except ValueError as exc:
        raise AnchorError(f"the timestamp token does not verify: {exc}") from None
    return response.tst_info.gen_time


class TsaClient:
    """An RFC 3161 timestamp authority over HTTP (`url`), its chain in `chain_pem`."""

    def __init__(self, url: str, chain_pem: bytes, *, timeout: float = TSA_TIMEOUT_S) -> None:
        self.url = url
        self.chain_pem = chain_pem
        self.timeout = timeout

    def timestamp(self, data: bytes) -> bytes:
        """A verified token (DER TimeStampResp) over the SHA-256 of `data`."""
        from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

        request = (
            TimestampRequestBuilder()
            .data(data)
            .hash_algorithm(HashAlgorithm.SHA256)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        http = urllib.request.Request(
            self.url,
            data=request.as_bytes(),
            headers={"Content-Type": TSQ_TYPE, "Accept": TSR_TYPE},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as reply:  # noqa: S310
                token = bytes(reply.read(_MAX_ANCHOR))
        except urllib.error.HTTPError as exc:
            raise AnchorError(f"the timestamp authority answered HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AnchorError(f"the timestamp authority cannot be reached: {reason}") from None
        self._check_granted(token)
        verify_timestamp(token, data, self.chain_pem, nonce=request.nonce)
        return token

    @staticmethod
    def _check_granted(token: bytes) -> None:
        from rfc3161_client import PKIStatus, decode_timestamp_response

        try:
            response = decode_timestamp_response(token)
        except ValueError:
            raise AnchorError(
                "the timestamp authority's answer is not an RFC 3161 response"
            ) from None
        if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
            text = "; ".join(response.status_string) or f"status {response.status}"
            raise AnchorError(f"the timestamp authority refused the request: {text}")
