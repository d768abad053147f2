"""One contract for every blob store: the local directory and an S3 store.

The S3 store runs against moto's server mode, an S3 EMULATOR started here as a
subprocess (no real S3-compatible server can be installed on the test machines); it
speaks the S3 REST protocol over HTTP to boto3, multipart uploads and object lock
included. The end-to-end tests store a call through the vault on SQLite and PostgreSQL
with its blobs in the emulated bucket.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from _audio import tone, wav_bytes
from _context import as_context
from _moto import free_port
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import Config, load_config, masked_values
from callvault.errors import BlobStoreError, ConfigError, ErasureRefused
from callvault.services import init_storage, listen_recording, readiness, verify_recordings
from callvault.vault import BlobLocked, BlobStore, LocalBlobStore, S3BlobStore, Vault

PART = 64 << 10  # the multipart part size the S3 store is given here
REGION = "us-east-1"
OPTIONS = FileImportOptions(
    caller="+14155550100", callee="+442071838750", direction="inbound", language="en"
)


def _client(url: str) -> Any:
    return boto3.session.Session().client("s3", endpoint_url=url, region_name=REGION)


def _bucket() -> str:
    return f"cv-test-{secrets.token_hex(6)}"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    request.getfixturevalue("aws_env")
    url = request.getfixturevalue("moto_server")
    s3 = S3BlobStore(_client(url), _bucket(), "blobs", part_size=PART, read_ahead=16 << 10)
    assert s3.ensure_ready() is True
    yield s3


def _put(store: BlobStore, key: str, data: bytes, piece: int = 10_000) -> None:
    write = store.begin_write(key)
    for start in range(0, len(data), piece):
        write.write(data[start : start + piece])
    write.commit()


def _abandon(store: BlobStore) -> None:
    """What a writer that died mid-write leaves behind, in each store's terms."""
    if isinstance(store, LocalBlobStore):
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        incoming = store.root / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        (incoming / f"{dead.pid}-abandoned.part").write_bytes(b"x" * 100)
    else:
        assert isinstance(store, S3BlobStore)
        store.client.create_multipart_upload(Bucket=store.bucket, Key="blobs/abandoned")


def _sweep_abandoned(store: BlobStore) -> int:
    # The S3 store tells an abandoned upload by its age (it cannot see the writer's pid).
    if isinstance(store, S3BlobStore):
        return store.sweep_incomplete(older_than_s=0)
    return store.sweep_incomplete()


# -- the contract --------------------------------------------------------------------


def test_written_object_reads_back_and_is_invisible_until_commit(store: BlobStore) -> None:
    data = secrets.token_bytes(5000)
    write = store.begin_write("rec1")
    write.write(data)
    with pytest.raises(FileNotFoundError):
        store.open("rec1")
    assert list(store.iter_keys()) == []
    write.commit()
    with store.open("rec1") as handle:
        assert handle.read() == data
    assert store.size("rec1") == 5000
    assert abs(store.modified_at("rec1") - time.time()) < 120


def test_abort_leaves_nothing(store: BlobStore) -> None:
    write = store.begin_write("rec1")
    write.write(secrets.token_bytes(3 * PART + 5))  # a multipart upload on S3
    write.abort()
    assert list(store.iter_keys()) == []
    with pytest.raises(FileNotFoundError):
        store.size("rec1")
    assert _sweep_abandoned(store) == 0  # the abort removed the upload itself


def test_missing_object_raises_file_not_found(store: BlobStore) -> None:
    for read in (store.open, store.size, store.modified_at):
        with pytest.raises(FileNotFoundError):
            read("absent")


def test_ranged_reads_equal_the_bytes_written(store: BlobStore) -> None:
    data = secrets.token_bytes(4 * PART + 1234)  # several parts on S3, the last short
    _put(store, "rec1", data, piece=7000)
    assert store.size("rec1") == len(data)
    offsets = [0, 1, 4095, PART - 1, PART, 2 * PART + 17, len(data) - 10, len(data) - 1]
    with store.open("rec1") as handle:
        assert handle.seekable()
        for offset in offsets:
            for length in (1, 100, 20_000):
                handle.seek(offset)
                assert handle.read(length) == data[offset : offset + length], (offset, length)
        handle.seek(-5, os.SEEK_END)
        assert handle.read() == data[-5:]
        handle.seek(len(data) + 10)
        assert handle.read(10) == b""
    with store.open("rec1") as handle:
        assert handle.read() == data


def test_iter_keys_and_idempotent_delete(store: BlobStore) -> None:
    for key in ("aa1", "ab2", "zz3"):
        _put(store, key, key.encode())
    assert sorted(store.iter_keys()) == ["aa1", "ab2", "zz3"]
    store.delete("ab2")
    store.delete("ab2")
    store.delete("never-stored")
    assert sorted(store.iter_keys()) == ["aa1", "zz3"]
    with pytest.raises(FileNotFoundError):
        store.open("ab2")


def test_invalid_keys_are_refused(store: BlobStore) -> None:
    for key in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(ValueError, match="invalid blob key"):
            store.begin_write(key)


def test_sweep_incomplete_keeps_writes_in_progress(store: BlobStore) -> None:
    live = store.begin_write("rec1")
    live.write(secrets.token_bytes(2 * PART))
    # Ours, and in progress: kept (on S3 because this process is writing it; moto, the
    # emulator, reports every upload as begun in 2010, so age alone would not keep it).
    assert store.sweep_incomplete() == 0
    _abandon(store)
    assert _sweep_abandoned(store) >= 1
    if isinstance(store, LocalBlobStore):  # a live writer's file is never taken
        live.write(b"more")
    live.commit()
    assert store.size("rec1") == 2 * PART + (4 if isinstance(store, LocalBlobStore) else 0)


def test_protect_is_a_documented_no_op_without_object_lock(store: BlobStore) -> None:
    _put(store, "rec1", b"ciphertext")
    assert store.has_object_lock() is False
    store.protect("rec1", retain_until=datetime.now(UTC) + timedelta(days=1), legal_hold=True)
    assert store.deletion_block("rec1") is None
    store.delete("rec1")
    assert list(store.iter_keys()) == []


# -- S3 only ---------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_env")
def test_a_range_read_fetches_only_what_it_needs(moto_server: str) -> None:
    s3 = S3BlobStore(_client(moto_server), _bucket(), "", part_size=PART, read_ahead=16 << 10)
    s3.ensure_ready()
    data = secrets.token_bytes(300_000)
    _put(s3, "rec1", data)
    fetched: list[str] = []
    s3.client.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: fetched.append(params["headers"]["Range"])
    )
    with s3.open("rec1") as handle:
        handle.seek(200_000)
        assert handle.read(100) == data[200_000:200_100]
        assert handle.read(100) == data[200_100:200_200]  # from the read-ahead buffer
    assert fetched == [f"bytes=200000-{200_000 + (16 << 10) - 1}"]
    fetched.clear()
    with s3.open("rec1") as handle:
        handle.seek(1000)
        assert handle.read() == data[1000:]
    assert fetched == [f"bytes=1000-{len(data) - 1}"]  # one GET, not one per 8 KiB


@pytest.mark.usefixtures("aws_env")
def test_store_errors_name_the_setting_and_no_credential(moto_server: str) -> None:
    missing = S3BlobStore(_client(moto_server), _bucket())
    with pytest.raises(BlobStoreError) as info:
        list(missing.iter_keys())
    assert "does not exist" in str(info.value)
    assert "CALLVAULT_BLOB_STORE" in str(info.value)
    down = S3BlobStore(_client(f"http://127.0.0.1:{free_port()}"), "some-bucket")
    down.client.meta.config.retries = {"max_attempts": 0}
    with pytest.raises(BlobStoreError) as info:
        down.size("rec1")
    assert "CALLVAULT_S3_ENDPOINT_URL" in str(info.value)
    assert "testing-secret" not in str(info.value)


def test_blob_store_setting_is_checked(tmp_path: Path) -> None:
    assert load_config(env={}, data_dir=tmp_path).effective_blob_store == (
        f"file://{tmp_path / 'blobs'}"
    )
    for bad in ("s3://A", "ftp://x", "file://relative/path", "/srv/blobs"):
        with pytest.raises(ConfigError, match="CALLVAULT_BLOB_STORE"):
            load_config(env={"CALLVAULT_BLOB_STORE": bad})
    ok = load_config(
        env={
            "CALLVAULT_BLOB_STORE": "s3://calls.eu-1/tenant/a",
            "CALLVAULT_S3_ENDPOINT_URL": "https://key:hunter2@minio.internal:9000",
            "CALLVAULT_S3_OBJECT_LOCK": "Compliance",
        }
    )
    assert ok.blob_store == "s3://calls.eu-1/tenant/a"
    assert ok.s3_object_lock == "compliance"
    shown = {setting.name: text for setting, text in masked_values(ok)}
    assert shown["s3_endpoint_url"] == "https://key:****@minio.internal:9000"
    assert shown["blob_store"] == "s3://calls.eu-1/tenant/a"


# -- end to end through the vault, on SQLite and PostgreSQL -------------------------


@pytest.fixture
def s3_config(config: Config, moto_server: str, aws_env: None) -> Callable[..., Config]:
    def make(**overrides: Any) -> Config:
        return dataclasses.replace(
            config,
            blob_store=f"s3://{_bucket()}/calls",
            s3_endpoint_url=moto_server,
            s3_region=REGION,
            chunk_size=16 << 10,
            **overrides,
        )

    return make


def _wav() -> bytes:
    return wav_bytes(tone(2.0, 16000, 2, seed=7), 16000)


def _objects(vault: Vault) -> dict[str, bytes]:
    store = vault.store
    assert isinstance(store, S3BlobStore)
    found = {}
    for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket):
        for item in page.get("Contents", []):
            body = store.client.get_object(Bucket=store.bucket, Key=item["Key"])["Body"]
            found[item["Key"]] = body.read()
    return found


def test_a_call_round_trips_through_the_object_store(s3_config: Callable[..., Config]) -> None:
    config = s3_config()
    info = init_storage(config)
    assert info.blobs_created is True
    assert info.blobs == config.blob_store
    assert init_storage(config).blobs_created is False  # the bucket exists already
    wav = _wav()
    with Vault.open(config) as vault:
        ctx = as_context(vault)
        stored = vault.calls.store_call(import_bytes(wav, "call.wav", OPTIONS))
        objects = _objects(vault)
        assert list(objects) == [f"calls/{stored.recording_id}"]
        # Only ciphertext reaches the store: no header, no run of samples.
        for body in objects.values():
            assert b"RIFF" not in body and b"WAVE" not in body
            for start in (44, 1000, len(wav) // 2):
                assert wav[start : start + 32] not in body
        # What HTTP Range playback reads: a byte range, decrypted chunk by chunk.
        with listen_recording(ctx, stored.call_id) as reader:
            assert reader.size == len(wav)
            for offset in (0, 16 << 10, 70_000, len(wav) - 50):
                assert reader.read_range(offset, 500) == wav[offset : offset + 500]
        assert [r.ok for r in verify_recordings(ctx)] == [True]
        assert readiness(ctx)["blobs"] == "ok"
        # An orphan (a crash between the put and the commit) is collected by gc.
        _put(vault.store, "orphan1", b"unreadable ciphertext")
        report = vault.collect_garbage(min_age_s=0)
        assert report.orphaned_blobs == ("orphan1",)
        assert sorted(vault.store.iter_keys()) == [stored.recording_id]
        # A changed object fails verify.
        assert isinstance(vault.store, S3BlobStore)
        _put(vault.store, stored.recording_id, b"tampered")
        [result] = verify_recordings(ctx)
        assert not result.ok


def test_readiness_reports_a_missing_bucket(s3_config: Callable[..., Config]) -> None:
    config = s3_config()
    with Vault.open(config) as vault:
        store = vault.store
        assert isinstance(store, S3BlobStore)
        store.client.delete_bucket(Bucket=store.bucket)
        assert readiness(as_context(vault))["blobs"] == "unavailable"


def test_legal_hold_sets_the_object_lock(s3_config: Callable[..., Config]) -> None:
    config = s3_config(s3_object_lock="governance")
    with Vault.open(config) as vault:
        store = vault.store
        assert isinstance(store, S3BlobStore)
        assert store.has_object_lock() is True
        assert readiness(as_context(vault))["blobs"] == "ok"
        stored = vault.calls.store_call(import_bytes(_wav(), "call.wav", OPTIONS))
        name = f"calls/{stored.recording_id}"

        def status() -> str:
            head = store.client.head_object(Bucket=store.bucket, Key=name)
            return str(head.get("ObjectLockLegalHoldStatus", "OFF"))

        assert status() == "OFF"
        hold = vault.holds.add_hold(stored.call_id, reason="litigation 2026-17")
        assert status() == "ON"
        with pytest.raises(ErasureRefused):
            vault.calls.delete_call(stored.call_id, reason="request")
        vault.holds.release_hold(hold.id, reason="settled")
        assert status() == "OFF"
        # A retention date set in the store itself refuses the erasure before anything
        # is destroyed: the call stays whole and readable.
        store.protect(
            stored.recording_id,
            retain_until=datetime.now(UTC) + timedelta(days=1),
            legal_hold=False,
        )
        with pytest.raises(ErasureRefused, match="object-lock retention"):
            vault.calls.delete_call(stored.call_id, reason="request")
        assert [r.ok for r in verify_recordings(as_context(vault))] == [True]


def test_erasure_removes_every_version_on_a_lock_enabled_bucket(
    s3_config: Callable[..., Config],
) -> None:
    config = s3_config(s3_object_lock="governance")
    with Vault.open(config) as vault:
        store = vault.store
        assert isinstance(store, S3BlobStore)
        stored = vault.calls.store_call(import_bytes(_wav(), "call.wav", OPTIONS))
        vault.calls.delete_call(stored.call_id, reason="request")
        versions = store.client.list_object_versions(Bucket=store.bucket)
        assert versions.get("Versions", []) == []
        assert versions.get("DeleteMarkers", []) == []


def test_mifid_retention_sets_the_objects_retain_until(
    s3_config: Callable[..., Config],
) -> None:
    config = s3_config(s3_object_lock="compliance")
    with Vault.open(config) as vault:
        store = vault.store
        assert isinstance(store, S3BlobStore)
        stored = vault.calls.store_call(import_bytes(_wav(), "call.wav", OPTIONS))
        name = f"calls/{stored.recording_id}"
        until = datetime(2033, 1, 31, 12, 0, tzinfo=UTC)
        vault.holds.set_retention(stored.call_id, "mifid-7y", until)
        # HEAD, not GetObjectRetention: moto (the emulator) answers that one with a 500.
        head = store.client.head_object(Bucket=store.bucket, Key=name)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] == until
        assert "object-lock retention (COMPLIANCE)" in str(
            store.deletion_block(stored.recording_id)
        )


def test_a_subject_hold_locks_the_blobs_of_the_subjects_calls(
    s3_config: Callable[..., Config],
) -> None:
    config = s3_config(s3_object_lock="governance")
    with Vault.open(config) as vault:
        store = vault.store
        assert isinstance(store, S3BlobStore)
        first = vault.calls.store_call(import_bytes(_wav(), "a.wav", OPTIONS))
        hold = vault.holds.add_hold(subject=OPTIONS.caller, reason="regulator inquiry")
        # A call of the subject stored while the hold is active is locked at once.
        later = wav_bytes(tone(1.0, 16000, 2, seed=8), 16000)
        second = vault.calls.store_call(import_bytes(later, "b.wav", OPTIONS))
        for rid in (first.recording_id, second.recording_id):
            answer = store.client.get_object_legal_hold(Bucket=store.bucket, Key=f"calls/{rid}")
            assert answer["LegalHold"]["Status"] == "ON"
        vault.holds.release_hold(hold.id, reason="closed")
        answer = store.client.get_object_legal_hold(
            Bucket=store.bucket, Key=f"calls/{first.recording_id}"
        )
        assert answer["LegalHold"]["Status"] == "OFF"


def test_a_file_url_puts_the_blobs_in_that_directory(config: Config, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "blobs"
    custom = dataclasses.replace(config, blob_store=f"file://{elsewhere}")
    info = init_storage(custom)
    assert info.blobs_created is True
    assert (elsewhere.stat().st_mode & 0o777) == 0o700
    with Vault.open(custom) as vault:
        stored = vault.calls.store_call(import_bytes(_wav(), "call.wav", OPTIONS))
        assert sorted(p.name for p in elsewhere.rglob("*") if p.is_file()) == [stored.recording_id]
        assert not (config.data_dir / "blobs").exists()
        assert [r.ok for r in verify_recordings(as_context(vault))] == [True]


@pytest.mark.usefixtures("aws_env")
def test_the_commands_work_against_the_object_store(
    moto_server: str, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    from click.testing import CliRunner, Result

    from callvault.cli import cli

    bucket = _bucket()
    env = {
        "CALLVAULT_DATA_DIR": str(tmp_path / "data"),
        "CALLVAULT_DATABASE_URL": request.getfixturevalue("pg_url")
        if backend == "postgresql"
        else "",
        "CALLVAULT_ACTOR": "test:cli",
        "CALLVAULT_BLOB_STORE": f"s3://{bucket}/calls",
        "CALLVAULT_S3_ENDPOINT_URL": moto_server,
        "CALLVAULT_S3_REGION": REGION,
    }

    def run(*args: str, **extra: str) -> Result:
        return CliRunner().invoke(cli, list(args), env={**env, **extra})

    first = run("init")
    assert first.exit_code == 0, first.output
    assert f"blob store: s3://{bucket}/calls (created)" in first.output
    assert "(exists already)" in run("init").output
    wav = tmp_path / "call.wav"
    wav.write_bytes(_wav())
    assert run("ingest", "--consent", "pre-call-notice", str(wav)).exit_code == 0
    verified = run("verify", "--all")
    assert verified.exit_code == 0, verified.output
    swept = run("gc")
    assert swept.exit_code == 0, swept.output
    assert "removed 0 unfinished write(s) and 0 orphaned blob(s)" in swept.output
    # A store that cannot be reached: a message naming the setting, no traceback.
    down = run("verify", "--all", CALLVAULT_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    assert down.exit_code == 1
    assert "CALLVAULT_S3_ENDPOINT_URL" in down.output
    assert "Traceback" not in down.output
    assert "testing-secret" not in down.output


@pytest.mark.usefixtures("aws_env")
def test_a_locked_object_is_not_deleted_silently(moto_server: str) -> None:
    s3 = S3BlobStore(_client(moto_server), _bucket(), "p")
    s3.ensure_ready(object_lock=True)
    _put(s3, "rec1", b"ciphertext")
    s3.protect("rec1", retain_until=None, legal_hold=True)
    assert s3.deletion_block("rec1") == "an object-lock legal hold in the object store"
    with pytest.raises(BlobLocked, match="rec1 is under object lock"):
        s3.delete("rec1")
    assert list(s3.iter_keys()) == ["rec1"]
    s3.protect("rec1", retain_until=None, legal_hold=False)
    assert s3.deletion_block("rec1") is None
    s3.delete("rec1")
    assert s3.client.list_object_versions(Bucket=s3.bucket).get("Versions", []) == []


def test_gc_keeps_a_locked_orphan_for_later(s3_config: Callable[..., Config]) -> None:
    config = s3_config(s3_object_lock="governance")
    with Vault.open(config) as vault:
        store = vault.store
        _put(store, "orphan1", b"keyless ciphertext")
        _put(store, "orphan2", b"keyless ciphertext")
        store.protect("orphan1", retain_until=None, legal_hold=True)
        report = vault.collect_garbage(min_age_s=0)
        assert report.orphaned_blobs == ("orphan2",)
        assert list(store.iter_keys()) == ["orphan1"]


@pytest.mark.usefixtures("aws_env")
def test_a_missing_bucket_is_not_a_missing_blob(moto_server: str) -> None:
    s3 = S3BlobStore(_client(moto_server), _bucket())
    for read in (s3.open, s3.size, s3.modified_at):
        with pytest.raises(BlobStoreError, match="does not exist.*run `callvault init`"):
            read("rec1")
