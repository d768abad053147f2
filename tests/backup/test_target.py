"""One contract for both backup targets: a local directory and an S3 bucket (moto's
server mode, an S3 emulator; see conftest.py)."""

from __future__ import annotations

import os
import secrets
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from callvault.backup import BackupTarget, LocalTarget, S3Target, open_target
from callvault.errors import BackupError

REGION = "us-east-1"
PART = 5 << 20  # the smallest part boto3's transfer manager sends


def _bucket() -> str:
    return f"cv-backup-{secrets.token_hex(6)}"


def _s3_target(url: str, prefix: str = "backups/eu") -> S3Target:
    bucket = _bucket()
    boto3.session.Session().client("s3", endpoint_url=url, region_name=REGION).create_bucket(
        Bucket=bucket
    )
    target = open_target(f"s3://{bucket}/{prefix}", s3_endpoint_url=url, s3_region=REGION)
    assert isinstance(target, S3Target)
    target.part_size = PART
    return target


@pytest.fixture(params=["local", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> BackupTarget:
    if request.param == "local":
        return open_target(str(tmp_path / "backups" / "site1"))
    request.getfixturevalue("aws_env")
    return _s3_target(request.getfixturevalue("moto_server"))


def _leftovers(target: BackupTarget) -> list[str]:
    """What a writer may have left that `list` does not show."""
    if isinstance(target, LocalTarget):
        return sorted(p.name for p in target.root.rglob("*") if p.is_file())
    assert isinstance(target, S3Target)
    answer = target.client.list_multipart_uploads(Bucket=target.bucket)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


class _Failing:
    """A source that gives `good` bytes and then fails, as a disk or a pipe can."""

    def __init__(self, good: int) -> None:
        self.left = good

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError("the source failed halfway")
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return b"x" * size


# -- the contract --------------------------------------------------------------------


def test_put_reads_back_and_overwrites(target: BackupTarget) -> None:
    assert target.put("sets/one/manifest.json", b"first") == 5
    assert target.read("sets/one/manifest.json") == b"first"
    assert target.put("sets/one/manifest.json", b"second!") == 7
    assert target.read("sets/one/manifest.json") == b"second!"
    assert target.size("sets/one/manifest.json") == 7
    assert target.exists("sets/one/manifest.json")
    assert not target.exists("sets/one/other")


def test_streams_in_and_out(target: BackupTarget, tmp_path: Path) -> None:
    data = secrets.token_bytes(2 * PART + 12345)  # a multipart upload on S3
    path = tmp_path / "source"
    path.write_bytes(data)
    with path.open("rb") as source:
        assert target.put("objects/ab/cd", source) == len(data)
    assert target.size("objects/ab/cd") == len(data)
    with target.open("objects/ab/cd") as handle:
        first = handle.read(1000)
        rest = handle.read()
    assert first + rest == data
    assert list(target.list()) == ["objects/ab/cd"]


def test_list_is_sorted_recursive_and_by_prefix(target: BackupTarget) -> None:
    names = ["sets/b/manifest", "objects/zz", "sets/a/manifest", "sets.x", "objects/a/b/c"]
    names += ["sets0", "objects/a.b", "objects/a-b/c"]
    for name in names:
        target.put(name, name.encode())
    assert list(target.list()) == sorted(names)
    assert sorted(names)[:4] == ["objects/a-b/c", "objects/a.b", "objects/a/b/c", "objects/zz"]
    assert list(target.list("sets/")) == ["sets/a/manifest", "sets/b/manifest"]
    assert list(target.list("objects/a/")) == ["objects/a/b/c"]
    assert list(target.list("objects/a")) == ["objects/a-b/c", "objects/a.b", "objects/a/b/c"]
    assert list(target.list("nothing/")) == []


def test_delete_is_quiet_when_absent(target: BackupTarget) -> None:
    target.put("sets/a", b"1")
    target.delete("sets/a")
    target.delete("sets/a")
    assert list(target.list()) == []


def test_put_new_refuses_an_existing_name(target: BackupTarget) -> None:
    target.put_new("ledger/000001", b"entry")
    with pytest.raises(FileExistsError, match="ledger/000001 already exists"):
        target.put_new("ledger/000001", b"another")
    assert target.read("ledger/000001") == b"entry"
    assert _leftovers(target) in (["000001"], [])


@pytest.mark.parametrize(
    "name", ["", "/abs", "a//b", "a/../b", "..", ".hidden", "a/.tmp", "a b", "a/", "é", "a\\b"]
)
def test_invalid_names_are_refused(target: BackupTarget, name: str) -> None:
    for call in (
        lambda: target.put(name, b"x"),
        lambda: target.put_new(name, b"x"),
        lambda: target.read(name),
        lambda: target.exists(name),
        lambda: target.delete(name),
    ):
        with pytest.raises(ValueError, match="is not a backup object name"):
            call()


def test_missing_object_raises_file_not_found(target: BackupTarget) -> None:
    reads: list[Callable[[str], Any]] = [target.open, target.size, target.read]
    for read in reads:
        with pytest.raises(FileNotFoundError, match="sets/absent is not in the backup at "):
            read("sets/absent")


@pytest.mark.parametrize("size", [1000, PART + 1000])
def test_a_failed_source_leaves_nothing_visible(target: BackupTarget, size: int) -> None:
    target.put("sets/a", b"old")
    with pytest.raises(OSError, match="the source failed halfway"):
        target.put("sets/a", _Failing(size))  # type: ignore[arg-type]
    assert target.read("sets/a") == b"old"
    with pytest.raises(OSError, match="the source failed halfway"):
        target.put("sets/b", _Failing(size))  # type: ignore[arg-type]
    assert list(target.list()) == ["sets/a"]
    assert _leftovers(target) in (["a"], [])  # the writer cleaned up after itself
    assert target.sweep(older_than_s=0) == 0


_WRITER = """
import sys, time
from callvault.backup import open_target
target = open_target(sys.argv[1], s3_endpoint_url=sys.argv[2] or None, s3_region="us-east-1")
target.part_size = 5 << 20
class Slow:
    sent = 0
    def read(self, size=-1):
        if self.sent >= 6 << 20:
            print("stalled", flush=True)
            time.sleep(600)
        size = min(size if size > 0 else 1 << 20, 1 << 20)
        self.sent += size
        return b"x" * size
target.put("sets/big", Slow())
"""


def test_a_killed_writer_leaves_nothing_listed_and_sweep_removes_it(
    target: BackupTarget,
) -> None:
    endpoint = target.client.meta.endpoint_url if isinstance(target, S3Target) else ""
    # The environment carries the emulator's dummy credentials (the aws_env fixture).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    with subprocess.Popen(
        [sys.executable, "-c", _WRITER, target.url, endpoint],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "stalled\n"
            deadline = time.monotonic() + 30
            while not _leftovers(target):  # on S3, the first part is on its way
                assert time.monotonic() < deadline, "the writer left nothing to sweep"
                time.sleep(0.1)
        finally:
            writer.send_signal(signal.SIGKILL)
    assert list(target.list()) == []
    if isinstance(target, LocalTarget):
        # Too young: it could be a writer still at work. (moto dates every multipart
        # upload 2010-11-10, so on S3 the age is not tested here.)
        assert target.sweep() == 0
    assert target.sweep(older_than_s=0) == 1
    assert _leftovers(target) == []


# -- the local directory ---------------------------------------------------------------


def test_local_files_and_directories_are_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        target = open_target(str(tmp_path / "a" / "b"))
        target.put("sets/x/manifest", b"m")
        target.put_new("ledger/1", b"e")
    finally:
        os.umask(old)
    assert isinstance(target, LocalTarget)
    for directory in [tmp_path / "a", target.root, target.root / "sets", target.root / "sets/x"]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((target.root / "sets/x/manifest").stat().st_mode) == 0o600
    assert stat.S_IMODE((target.root / "ledger/1").stat().st_mode) == 0o400


def test_local_list_never_shows_temporary_files(tmp_path: Path) -> None:
    target = open_target(str(tmp_path))
    assert isinstance(target, LocalTarget)
    target.put("sets/a", b"1")
    (target.root / "sets" / ".a.123-abcd.tmp").write_bytes(b"half")
    assert list(target.list()) == ["sets/a"]
    assert target.sweep() == 0
    assert target.sweep(older_than_s=0) == 1
    assert sorted(p.name for p in (target.root / "sets").iterdir()) == ["a"]


# -- choosing a target ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("backups", "a backup directory must be an absolute path"),
        ("./backups", "a backup directory must be an absolute path"),
        ("ftp://host/x", "a backup goes to an absolute directory or s3://bucket/prefix"),
        ("s3://No_Such", "the bucket name must be 3 to 63 lowercase letters"),
        ("s3://bucket/../x", "is not a backup object name"),
    ],
)
def test_open_target_refuses_what_it_cannot_use(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_target(url)


def test_a_missing_bucket_is_named(moto_server: str, aws_env: None) -> None:
    with pytest.raises(BackupError) as caught:
        open_target("s3://cv-no-such-bucket/x", s3_endpoint_url=moto_server, s3_region=REGION)
    assert str(caught.value) == (
        "checking the bucket in s3://cv-no-such-bucket/x: the bucket 'cv-no-such-bucket' "
        f"does not exist in the object store at {moto_server}; create it, or check --to / "
        "CALLVAULT_BACKUP_TO and CALLVAULT_S3_ENDPOINT_URL"
    )
    target = S3Target("cv-no-such-bucket", "x", endpoint_url=moto_server, region=REGION)
    with pytest.raises(BackupError, match="the bucket 'cv-no-such-bucket' does not exist"):
        target.put("sets/a", b"1")
    with pytest.raises(BackupError, match="the bucket 'cv-no-such-bucket' does not exist"):
        list(target.list())


def test_an_unreachable_endpoint_is_named(aws_env: None) -> None:
    with socket_port() as port:
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(BackupError) as caught:
            open_target("s3://cv-bucket", s3_endpoint_url=url, s3_region=REGION)
    assert str(caught.value) == (
        f"checking the bucket in s3://cv-bucket: cannot reach the object store at {url}; "
        "check CALLVAULT_S3_ENDPOINT_URL and that the store is running"
    )
    assert "testing-secret" not in str(caught.value)


def test_missing_credentials_are_named(
    moto_server: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _s3_target(moto_server)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    bare = S3Target(target.bucket, endpoint_url=moto_server, region=REGION)
    with pytest.raises(BackupError, match="no credentials for the object store at "):
        bare.put("sets/a", b"1")


class socket_port:  # noqa: N801 - used as a context manager, like a function
    """A port nothing listens on, held bound (not listening) while in use."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return int(self._sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
