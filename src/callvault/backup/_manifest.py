"""A backup set's manifest, its names and which sets a retention keeps (issue 21).

A target holds `objects/<blob key>` (the vault's ciphertext, shared by every set) and one
folder per set, `sets/<id>/`: the encrypted database dump, the sealed key material, the
audit chain, the erasure ledger and, written last, `manifest.json`. The manifest lists
every file of the set and every object the set needs, each with its SHA-256 and size, and
is signed with the vault's Ed25519 key; a set without one was never finished
(`BackupIncomplete`) and is never verified or restored as if it were whole.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callvault.errors import BackupError

__all__ = [
    "FORMAT",
    "MANIFEST",
    "Manifest",
    "canonical",
    "keep_sets",
    "new_set_id",
    "object_name",
    "set_created",
    "set_file",
    "set_id_of",
]

FORMAT = "callvault-backup/1"
MANIFEST = "manifest.json"
_SET_ID = re.compile(r"(\d{8}T\d{6}\.\d{6}Z)-([0-9a-f]{6})")


def new_set_id(now: datetime | None = None) -> str:
    """`20261207T134400.123456Z-1a2b3c`: sorts by time (to the microsecond: two backups
    in one second are still in order), unique by its random tail."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}"


def set_created(set_id: str) -> datetime:
    match = _SET_ID.fullmatch(set_id)
    if match is None:
        raise BackupError(f"{set_id!r} is not a backup id (such as 20261207T134400.123456Z-1a2b3c)")
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)


def set_file(set_id: str, name: str) -> str:
    return f"sets/{set_id}/{name}"


def set_id_of(name: str) -> str | None:
    """The set a target name belongs to (`sets/<id>/...`), None for any other name."""
    parts = name.split("/")
    if len(parts) >= 3 and parts[0] == "sets" and _SET_ID.fullmatch(parts[1]):
        return parts[1]
    return None


def object_name(blob_key: str) -> str:
    return f"objects/{blob_key}"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _message(body: bytes) -> bytes:
    return b"callvault-backup-manifest:" + body


@dataclass(frozen=True)
class Manifest:
    """The signed description of one backup set (`body` as written, and its signature)."""

    body: Mapping[str, Any]
    signature: str

    @property
    def set_id(self) -> str:
        return str(self.body["id"])

    @property
    def files(self) -> Mapping[str, Mapping[str, Any]]:
        return self.body["files"]  # type: ignore[no-any-return]

    @property
    def objects(self) -> Mapping[str, Mapping[str, Any]]:
        return self.body["objects"]  # type: ignore[no-any-return]

    @property
    def public_key(self) -> bytes:
        return bytes.fromhex(str(self.body["signer"]["public_key"]))

    @property
    def key_id(self) -> str:
        return str(self.body["signer"]["key_id"])

    def signed_message(self) -> bytes:
        return _message(canonical(self.body))

    def to_bytes(self) -> bytes:
        return canonical({"manifest": self.body, "signature": self.signature}) + b"\n"

    @classmethod
    def of(cls, body: Mapping[str, Any], sign: Any) -> Manifest:
        """Sign `body` with `sign(message) -> hex signature` (the vault's Signer.sign)."""
        return cls(dict(body), sign(_message(canonical(body))))

    @classmethod
    def parse(cls, data: bytes, where: str) -> Manifest:
        try:
            document = json.loads(data)
            body, signature = document["manifest"], str(document["signature"])
            if body.get("format") != FORMAT:
                raise BackupError(
                    f"{where}: format {body.get('format')!r} is not {FORMAT} (made by a "
                    "newer callvault?)"
                )
            for field in ("id", "files", "objects", "signer", "database"):
                body[field]  # noqa: B018 - present, or the manifest is not one
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackupError(f"{where} is not a readable backup manifest") from None
        return cls(body, signature)


def keep_sets(
    created: Mapping[str, datetime],
    *,
    daily: int,
    weekly: int,
    now: datetime | None = None,
) -> set[str]:
    """The set ids a retention of `daily` days and `weekly` weeks keeps: the newest set of
    each of the last `daily` days that have a set, and the newest of each of the last
    `weekly` ISO weeks that have one; the newest set is always kept."""
    del now  # the days and weeks counted are those that have backups, as restic counts
    ordered = sorted(created, key=lambda s: created[s], reverse=True)
    keep: set[str] = set(ordered[:1])
    for count, bucket in ((daily, _day), (weekly, _week)):
        seen: list[str] = []
        for set_id in ordered:
            label = bucket(created[set_id])
            if label in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(label)
            keep.add(set_id)
    return keep


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def _week(moment: datetime) -> str:
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"
