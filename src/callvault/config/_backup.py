"""The settings of backups, the erasure ledger's mirror and audit anchoring (issue 21)."""

from __future__ import annotations

from pathlib import Path

from callvault.config._values import (
    Setting,
    check_s3_url,
    http_host,
    parse_int_range,
    parse_optional_path,
    parse_seconds,
)

__all__ = ["BACKUP_SETTINGS", "parse_location", "parse_recipients"]


def parse_location(raw: str) -> str:
    """An absolute directory or `s3://bucket[/prefix]`, as given."""
    if raw.startswith("s3://"):
        return check_s3_url(raw, "backups/eu")
    if "://" in raw:
        raise ValueError("expected an absolute directory or s3://bucket[/prefix]")
    if not Path(raw).is_absolute():
        raise ValueError("the directory must be an absolute path, such as /srv/backups")
    return raw


def parse_recipients(raw: str) -> tuple[str, ...]:
    """age recipients (`age1...`), separated by commas."""
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    for name in names:
        if not (name.startswith("age1") and name[4:].isalnum()):
            raise ValueError(
                f"{name[:12]!r}... is not an age recipient (age1...; `callvault backup keygen` "
                "makes an identity and prints its recipient)"
            )
    return names


def _parse_tsa(raw: str) -> str:
    if http_host(raw) is None:
        raise ValueError("expected the http:// or https:// URL of an RFC 3161 timestamp authority")
    return raw


BACKUP_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "backup_to",
        "Where `callvault backup create` writes when --to is not given: an absolute "
        "directory or s3://bucket[/prefix].",
        parse_location,
        None,
    ),
    Setting(
        "backup_recipient",
        "age recipients (age1..., separated by commas) that a backup's key material is "
        "sealed to; restore needs a matching identity file (CALLVAULT_BACKUP_IDENTITY).",
        parse_recipients,
        tuple,
    ),
    Setting(
        "backup_passphrase",
        "Passphrase (scrypt) that a backup's key material is sealed with, instead of or "
        "besides an age recipient; restore needs it again.",
        str,
        None,
        secret=True,
    ),
    Setting(
        "backup_identity",
        "The age identity file (AGE-SECRET-KEY-1...) that opens backups sealed to its "
        "recipient; read by restore and `backup verify --keys` only. Keep it off this "
        "machine otherwise.",
        parse_optional_path,
        None,
    ),
    Setting(
        "backup_keep_daily",
        "Backups `callvault backup prune` keeps: the newest of each of the last N days.",
        parse_int_range(0, 3650),
        lambda: 7,
    ),
    Setting(
        "backup_keep_weekly",
        "Backups `callvault backup prune` keeps besides: the newest of each of the last M weeks.",
        parse_int_range(0, 520),
        lambda: 4,
    ),
    Setting(
        "erasure_ledger_to",
        "A second place (absolute directory or s3://bucket[/prefix]) that every entry of "
        "the erasure ledger is copied to, apart from the data and the backups.",
        parse_location,
        None,
    ),
    Setting(
        "audit_anchor_to",
        "Where audit checkpoints are anchored: an append-only directory or an S3 bucket "
        "with object lock (s3://bucket[/prefix]).",
        parse_location,
        None,
    ),
    Setting(
        "audit_anchor_tsa",
        "URL of an RFC 3161 timestamp authority that countersigns each audit checkpoint.",
        _parse_tsa,
        None,
    ),
    Setting(
        "audit_anchor_tsa_cert",
        "PEM file with the timestamp authority's certificate chain (its root last), used "
        "to verify its timestamps.",
        parse_optional_path,
        None,
    ),
    Setting(
        "audit_anchor_every",
        "Seconds between audit checkpoints made by `serve` and workers when an anchor is "
        "configured (60 to 604800).",
        parse_seconds(60, 604800),
        lambda: 3600.0,
    ),
    Setting(
        "audit_anchor_retain_days",
        "Days an anchored checkpoint is locked in an S3 bucket with object lock (compliance mode).",
        parse_int_range(1, 36500),
        lambda: 3650,
    ),
)
