"""A backup to an S3 bucket (moto's server mode, an S3 emulator: no real S3 can run here)
and a restore from it, with the vault itself on the local directory (SQLite)."""

from __future__ import annotations

import secrets
from pathlib import Path

import boto3

from _audio import tone, wav_bytes
from _context import as_context
from callvault.capture import FileImportOptions, import_bytes
from callvault.config import load_config
from callvault.services import create_backup, list_backups, restore_backup, verify_backup
from callvault.vault import Vault

REGION = "us-east-1"


def test_backup_to_s3_and_restore_from_it(tmp_path: Path, moto_server: str, aws_env: None) -> None:
    bucket = f"cv-backup-{secrets.token_hex(5)}"
    boto3.session.Session().client(
        "s3", endpoint_url=moto_server, region_name=REGION
    ).create_bucket(Bucket=bucket)
    settings = {
        "s3_endpoint_url": moto_server,
        "s3_region": REGION,
        "backup_passphrase": "correct horse battery staple",
    }
    config = load_config(env={}, data_dir=tmp_path / "data", **settings)
    target = f"s3://{bucket}/callvault/eu"
    opts = FileImportOptions(caller="+14155550100", started_at="2026-03-01T09:30:00Z")
    with Vault.open(config) as vault:
        call = vault.calls.store_call(
            import_bytes(wav_bytes(tone(0.5, 8000, 2, 1), 8000), "a.wav", opts)
        ).call_id
        with vault.calls.open_recording(call) as reader:
            audio = b"".join(reader.iter_chunks())
        full = create_backup(as_context(vault), to=target)
        inc = create_backup(as_context(vault), to=target, incremental=True)
    assert (full.objects_copied, inc.objects_copied) == (1, 0)
    assert [s.complete for s in list_backups(config, target)] == [True, True]
    assert all(r.ok for r in verify_backup(config, target, all_sets=True))
    restored = load_config(env={}, data_dir=tmp_path / "restored", **settings)
    done = restore_backup(restored, target)
    assert done.set_id == inc.set_id and done.audit_ok
    with Vault.open(restored) as vault, vault.calls.open_recording(call) as reader:
        assert b"".join(reader.iter_chunks()) == audio
