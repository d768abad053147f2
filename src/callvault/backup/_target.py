"""Where backups are written: a local directory or an S3 bucket, behind one small base.

A backup target only ever holds ciphertext and signed manifests; it needs no trust, but
it must never show a half-written object as if it were whole (issue 21):

- `put` is atomic. A directory writes a temporary file beside the final name, fsyncs it
  and renames it; S3 shows an object (a multipart upload included) only once complete.
- `put_new` creates and never overwrites, for the append-only parts of a backup (erasure
  ledger entries, audit anchors): a directory links the temporary file to its final
  name, S3 is asked with `If-None-Match: *`.
- `sweep` removes what a killed writer left: temporary files, abandoned multipart uploads.

Names are relative '/'-separated paths of `[A-Za-z0-9._-]` parts, none empty, `.` or
`..`, none starting with '.', so a name never escapes the target and never looks like a
temporary file.
"""

from __future__ import annotations

import abc
import contextlib
import io
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from callvault.config import mask_url
from callvault.errors import BackupError

__all__ = ["BackupTarget", "LocalTarget", "S3Target", "check_name", "open_target"]

log = logging.getLogger("callvault.backup")

PIECE = 1 << 20  # streamed copies move 1 MiB at a time
DEFAULT_PART_SIZE = 8 << 20
FILE_MODE = 0o600
KEPT_MODE = 0o400  # what put_new creates: append-only entries are never rewritten
DIR_MODE = 0o700

_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_TEMP = re.compile(r"\..+\.\d+-[0-9a-f]+\.tmp")


def check_name(name: str) -> str:
    """`name` when it is a valid object name, else ValueError saying why."""
    parts = name.split("/")
    if not name or not all(_PART.fullmatch(part) and part != ".." for part in parts):
        raise ValueError(
            f"{name[:80]!r} is not a backup object name: expected '/'-separated parts of "
            "letters, digits, '.', '_' or '-', none empty or starting with '.'"
        )
    return name


def _check_prefix(prefix: str) -> str:
    # A prefix is a name, a name with a trailing '/', or nothing ("sets/", "objects/ab").
    if prefix:
        check_name(prefix.removesuffix("/"))
    return prefix


class BackupTarget(abc.ABC):
    """A place that keeps the objects of backup sets, under names (see `check_name`)."""

    url: str  # as given, for messages; never holds a credential

    @abc.abstractmethod
    def put(self, name: str, source: BinaryIO | bytes) -> int:
        """Store `source` under `name`, replacing any object there, atomically: a reader
        sees the old object or the whole new one. Returns the number of bytes written."""

    @abc.abstractmethod
    def put_new(self, name: str, data: bytes) -> None:
        """Create `name` holding `data`; FileExistsError when it exists (never overwrites)."""

    @abc.abstractmethod
    def exists(self, name: str) -> bool: ...

    @abc.abstractmethod
    def size(self, name: str) -> int:
        """Bytes in `name`; FileNotFoundError when absent."""

    @abc.abstractmethod
    def open(self, name: str) -> BinaryIO:
        """A stream of `name`'s bytes, read as it is consumed; FileNotFoundError when absent."""

    def read(self, name: str) -> bytes:
        with self.open(name) as handle:
            return handle.read()

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """The names under `prefix`, sorted, at any depth; never a temporary object."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove `name`; nothing happens when it is absent."""

    @abc.abstractmethod
    def sweep(self, older_than_s: float = 3600) -> int:
        """Remove what writers killed mid-write left behind, once older than
        `older_than_s` (longer than any put takes); returns how many were removed."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def _as_stream(source: BinaryIO | bytes) -> BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source


# -- a local directory -------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private_dir(path: Path) -> None:
    """Create `path` and missing parents as 0700 directories, whatever the umask."""
    missing = []
    for directory in (path, *path.parents):
        if directory.is_dir():
            break
        missing.append(directory)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, DIR_MODE)


def _walk_sorted(directory: Path, base: str) -> Iterator[str]:
    """The files under `directory` as `base`-prefixed names in sorted order, one directory
    in memory at a time: a directory `a` sorts as "a/", so its files come where their
    names sort (after "a.x", before "a0"). Dot files (temporary files, and anything
    callvault did not write) are skipped."""
    try:
        entries = [e for e in os.scandir(directory) if not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return
    keyed = sorted(
        (e.name + "/" if e.is_dir(follow_symlinks=False) else e.name, e) for e in entries
    )
    for key, entry in keyed:
        if key.endswith("/"):
            yield from _walk_sorted(Path(entry.path), base + key)
        elif entry.is_file(follow_symlinks=False):
            yield base + key


class LocalTarget(BackupTarget):
    """Objects as files under one directory (a mounted disk, a NAS share)."""

    def __init__(self, directory: Path | str) -> None:
        root = Path(directory)
        if not root.is_absolute():
            raise ValueError(
                f"{str(directory)!r}: a backup directory must be an absolute path, "
                "such as /srv/backups"
            )
        try:
            _private_dir(root)
        except OSError as exc:
            raise BackupError(
                f"cannot create the backup directory {str(root)!r}: {exc.strerror}"
            ) from None
        if not root.is_dir():
            raise BackupError(f"the backup location {str(root)!r} is not a directory")
        self.root = root
        self.url = str(directory)

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*check_name(name).split("/"))

    def _temp_for(self, path: Path, mode: int) -> tuple[Path, BinaryIO]:
        _private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)  # the umask only takes bits away; set exactly `mode`
            return tmp, os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise

    def put(self, name: str, source: BinaryIO | bytes) -> int:
        path = self._path(name)
        stream = _as_stream(source)
        tmp, out = self._temp_for(path, FILE_MODE)
        written = 0
        try:
            with out:
                # A failing source raises as it is; a failing target (a full disk, an
                # unmounted share) becomes a BackupError that names the target.
                while piece := stream.read(PIECE):
                    with self._writing(name):
                        out.write(piece)
                    written += len(piece)
                with self._writing(name):
                    out.flush()
                    os.fsync(out.fileno())
            with self._writing(name):
                os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return written

    @contextlib.contextmanager
    def _writing(self, name: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise BackupError(
                f"cannot write {name} to the backup directory {self.url}: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None

    def put_new(self, name: str, data: bytes) -> None:
        path = self._path(name)
        tmp, out = self._temp_for(path, FILE_MODE)
        try:
            with out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
                os.fchmod(out.fileno(), KEPT_MODE)
            # link(2) fails when the name exists, where rename(2) would replace it.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(f"{name} already exists in {self.url}") from None
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int:
        path = self._path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{name} is not in the backup at {self.url}")
        return path.stat().st_size

    def open(self, name: str) -> BinaryIO:
        path = self._path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{name} is not in the backup at {self.url}")
        return path.open("rb")

    def list(self, prefix: str = "") -> Iterator[str]:
        _check_prefix(prefix)
        # Walk only the directory the prefix names, not the whole target.
        folder, _, _ = prefix.rpartition("/")
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        base = f"{folder}/" if folder else ""
        for name in _walk_sorted(start, base):
            if name.startswith(prefix):
                yield name

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)

    def sweep(self, older_than_s: float = 3600) -> int:
        cutoff = time.time() - older_than_s
        removed = 0
        for directory, _, files in os.walk(self.root):
            for file in files:
                path = Path(directory, file)
                if not _TEMP.fullmatch(file):
                    continue
                try:
                    if path.stat().st_mtime <= cutoff:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:  # its writer finished or another sweep took it
                    continue
        if removed:
            log.info("removed %d temporary files left in the backup target", removed)
        return removed


# -- an S3 bucket ----------------------------------------------------------------------


_MISSING = {"404", "NoSuchKey", "NotFound"}
# A conditional create that found the object: 412, or 409 when writes raced.
_EXISTS = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


class _Body(io.RawIOBase):
    """A boto StreamingBody as a raw stream, so it can be buffered and closed as a file."""

    def __init__(self, body: Any, target: S3Target, name: str) -> None:
        self._body = body
        self._target = target
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        from botocore.exceptions import BotoCoreError

        try:
            data = self._body.read(len(buffer))
        except BotoCoreError as exc:  # the connection broke mid-object
            self._target._fail(exc, f"reading {self._name}")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class _Counted(io.RawIOBase):
    """Counts what the uploader reads from a source, and gives it whole reads; not
    seekable, so the uploader reads it once, in order, and never asks for its length."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # The uploader takes a short read for the end of the stream; a pipe or a socket
        # returns short reads anywhere, so read until `size` bytes or the real end.
        data = self._source.read(size)
        if size > 0 and data and len(data) < size:
            pieces = [data]
            got = len(data)
            while got < size and (more := self._source.read(size - got)):
                pieces.append(more)
                got += len(more)
            data = b"".join(pieces)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class S3Target(BackupTarget):
    """Objects under `<prefix>/` of one bucket of an S3-compatible store. Credentials come
    only from boto3's standard chain (environment, profile, instance role)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        client: Any = None,
    ) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.endpoint_url = endpoint_url
        self.part_size = part_size
        self.client = client or boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region
        )
        self._where = f"the object store at {mask_url(endpoint_url)}" if endpoint_url else "S3"

    def _key(self, name: str) -> str:
        check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _fail(self, exc: Exception, doing: str) -> NoReturn:
        """A BackupError naming the bucket and the setting to check, never a credential."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        head = f"{doing} in {self.url}"
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code == "NoSuchBucket":
                raise BackupError(
                    f"{head}: the bucket {self.bucket!r} does not exist in {self._where}; "
                    "create it, or check --to / CALLVAULT_BACKUP_TO and CALLVAULT_S3_ENDPOINT_URL"
                ) from None
            if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}:
                raise BackupError(
                    f"{head}: {self._where} refused access to the bucket {self.bucket!r} "
                    f"({code}); check the credentials (AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and their permissions"
                ) from None
            raise BackupError(
                f"{head}: {self._where} answered {code or 'an error'}; check --to / "
                "CALLVAULT_BACKUP_TO, CALLVAULT_S3_ENDPOINT_URL and CALLVAULT_S3_REGION"
            ) from None
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            raise BackupError(
                f"{head}: no credentials for {self._where}; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            ) from None
        if isinstance(exc, EndpointConnectionError):
            raise BackupError(
                f"{head}: cannot reach {self._where}; check CALLVAULT_S3_ENDPOINT_URL and "
                "that the store is running"
            ) from None
        raise BackupError(
            f"{head}: {self._where} failed ({type(exc).__name__}); check "
            "CALLVAULT_S3_ENDPOINT_URL and CALLVAULT_S3_REGION"
        ) from None

    def _call(self, doing: str, method: Any, name: str | None = None, **kwargs: Any) -> Any:
        """`method(**kwargs)`; a missing object is FileNotFoundError, any other failure of
        the store a BackupError."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**kwargs)
        except ClientError as exc:
            if name is not None and _code(exc) in _MISSING:
                raise FileNotFoundError(f"{name} is not in the backup at {self.url}") from None
            self._fail(exc, doing)
        except BotoCoreError as exc:
            self._fail(exc, doing)

    def check(self) -> None:
        """BackupError unless the bucket exists and can be reached with these credentials."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            # HEAD answers carry no error body: a bare 404 is the missing bucket.
            if _code(exc) in {"404", "NotFound"}:
                exc.response["Error"]["Code"] = "NoSuchBucket"
            self._fail(exc, "checking the bucket")
        except BotoCoreError as exc:
            self._fail(exc, "checking the bucket")

    def put(self, name: str, source: BinaryIO | bytes) -> int:
        from boto3.exceptions import S3UploadFailedError
        from boto3.s3.transfer import TransferConfig

        key = self._key(name)
        counted = _Counted(_as_stream(source))
        # upload_fileobj sends one PUT below the threshold and a multipart upload above
        # it; S3 shows neither until it is complete, and a failed multipart upload is
        # aborted by the transfer manager (what a killed process leaves, `sweep` aborts).
        config = TransferConfig(
            multipart_threshold=self.part_size, multipart_chunksize=self.part_size
        )
        try:
            self._call(
                f"storing {name}",
                self.client.upload_fileobj,
                Fileobj=counted,
                Bucket=self.bucket,
                Key=key,
                Config=config,
            )
        except S3UploadFailedError as exc:  # boto3's wrapper around the store's answer
            answer = exc.__cause__ or exc.__context__
            self._fail(answer if isinstance(answer, Exception) else exc, f"storing {name}")
        return counted.count

    def put_new(self, name: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self._key(name)
        try:
            # S3 conditional writes (2024), honoured by moto and MinIO: the store refuses
            # the PUT when the key exists, so two writers never both "create" an entry.
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if _code(exc) in _EXISTS:
                raise FileExistsError(f"{name} already exists in {self.url}") from None
            self._fail(exc, f"storing {name}")
        except BotoCoreError as exc:
            self._fail(exc, f"storing {name}")

    def _head(self, name: str) -> Any:
        return self._call(
            f"reading {name}",
            self.client.head_object,
            name,
            Bucket=self.bucket,
            Key=self._key(name),
        )

    def exists(self, name: str) -> bool:
        try:
            self._head(name)
        except FileNotFoundError:
            return False
        return True

    def size(self, name: str) -> int:
        return int(self._head(name)["ContentLength"])

    def open(self, name: str) -> BinaryIO:
        answer = self._call(
            f"reading {name}", self.client.get_object, name, Bucket=self.bucket, Key=self._key(name)
        )
        return io.BufferedReader(_Body(answer["Body"], self, name), PIECE)

    def _pages(self, doing: str, operation: str, **kwargs: Any) -> Iterator[Any]:
        """The pages of a listing, fetched as they are consumed."""
        from botocore.exceptions import BotoCoreError, ClientError

        pages = iter(self.client.get_paginator(operation).paginate(**kwargs))
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, doing)
            yield page

    def list(self, prefix: str = "") -> Iterator[str]:
        _check_prefix(prefix)
        strip = f"{self.prefix}/" if self.prefix else ""
        # ListObjectsV2 returns keys in ascending UTF-8 order; names are ASCII, so that
        # is Python's sort order and a listing streams without being held in memory.
        pages = self._pages(
            "listing objects", "list_objects_v2", Bucket=self.bucket, Prefix=strip + prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield str(item["Key"]).removeprefix(strip)

    def delete(self, name: str) -> None:
        self._call(
            f"deleting {name}", self.client.delete_object, Bucket=self.bucket, Key=self._key(name)
        )

    def sweep(self, older_than_s: float = 3600) -> int:
        cutoff = time.time() - older_than_s
        pages = self._pages(
            "listing unfinished uploads",
            "list_multipart_uploads",
            Bucket=self.bucket,
            Prefix=f"{self.prefix}/" if self.prefix else "",
        )
        removed = 0
        for page in pages:
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() > cutoff:
                    continue
                self._call(
                    "aborting an unfinished upload",
                    self.client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                )
                removed += 1
        if removed:
            log.info("aborted %d unfinished uploads in the backup target", removed)
        return removed


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def open_target(
    url: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> BackupTarget:
    """The target `url` names: `s3://bucket[/prefix]` or an absolute directory. A directory
    is created (0700) when missing; a bucket must exist and be reachable."""
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise ValueError(
                f"{url!r}: the bucket name must be 3 to 63 lowercase letters, digits, dots "
                "or hyphens"
            )
        if prefix.strip("/"):
            _check_prefix(prefix.strip("/"))
        target = S3Target(bucket, prefix, endpoint_url=s3_endpoint_url, region=s3_region)
        target.check()
        return target
    if "://" in url:
        raise ValueError(f"{url!r}: a backup goes to an absolute directory or s3://bucket/prefix")
    if not Path(url).is_absolute():
        raise ValueError(
            f"{url!r}: a backup directory must be an absolute path, such as /srv/backups"
        )
    return LocalTarget(url)
