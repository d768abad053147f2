"""Anchored audit checkpoints (issue 21): write the chain's head where the vault cannot
rewrite it, and prove later that the chain still extends every anchored checkpoint.

A place is an append-only directory or an S3 bucket with object lock (`audit_anchor_to`
or `--to`); an RFC 3161 timestamp authority (`audit_anchor_tsa` or `--tsa`) countersigns
the checkpoint, its token kept next to it, or in `<data_dir>/anchors/` when no place is
set. `serve` and the workers anchor every `audit_anchor_every` seconds (task
`audit.anchor`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callvault.backup import (
    AnchorPlace,
    TsaClient,
    anchor_name,
    open_anchor_place,
    read_anchors,
    verify_timestamp,
)
from callvault.errors import AnchorError, ConfigError
from callvault.jobs import Progress, TaskRegistry
from callvault.services._context import Context
from callvault.vault import Checkpoint

__all__ = [
    "ANCHOR_TASK",
    "AnchorCheck",
    "AnchorReport",
    "AnchorResult",
    "anchor_audit",
    "register_anchor_task",
    "verify_anchors",
]

log = logging.getLogger("callvault.services")

ANCHOR_TASK = "audit.anchor"


@dataclass(frozen=True)
class AnchorResult:
    """What `anchor_audit` did: `written` False when the head had not moved."""

    written: bool
    seq: int
    hash: str
    location: str
    name: str | None
    timestamped: bool
    message: str


@dataclass(frozen=True)
class AnchorCheck:
    """One anchored checkpoint and whether the chain still extends it."""

    name: str
    seq: int | None
    at: str | None
    ok: bool
    timestamped_at: str | None = None
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnchorReport:
    source: str
    checkpoints: tuple[AnchorCheck, ...]
    faults: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.faults


def _place(ctx: Context, to: str | None) -> AnchorPlace:
    config = ctx.config
    location = to or config.audit_anchor_to or str(config.data_dir / "anchors")
    return open_anchor_place(
        location,
        endpoint_url=config.s3_endpoint_url,
        region=config.s3_region,
        retain_days=config.audit_anchor_retain_days,
    )


def _chain_pem(ctx: Context) -> bytes:
    path = ctx.config.audit_anchor_tsa_cert
    if path is None:
        raise ConfigError(
            "audit_anchor_tsa_cert is not set: a timestamp needs the authority's "
            "certificate chain (CALLVAULT_AUDIT_ANCHOR_TSA_CERT)"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read audit_anchor_tsa_cert {path}: {exc.strerror}") from None


def anchor_audit(
    ctx: Context, *, to: str | None = None, tsa: str | None = None, force: bool = False
) -> AnchorResult:
    """Anchor a checkpoint of the chain's head to `to` (default `audit_anchor_to`), with a
    timestamp from `tsa` (default `audit_anchor_tsa`). Nothing is written when the
    newest checkpoint at that place is of the same head, unless `force`."""
    config = ctx.config
    to = to or config.audit_anchor_to
    tsa = tsa or config.audit_anchor_tsa
    if not to and not tsa:
        raise ConfigError(
            "nowhere to anchor: give --to DIR|s3://bucket or --tsa URL, or set "
            "audit_anchor_to or audit_anchor_tsa"
        )
    place = _place(ctx, to)
    checkpoint = ctx.vault.audit_checkpoint()
    if not force:
        newest = _newest(place)
        if newest is not None and (newest.seq, newest.hash) == (checkpoint.seq, checkpoint.hash):
            return AnchorResult(
                False,
                checkpoint.seq,
                checkpoint.hash,
                place.location,
                None,
                False,
                f"the audit head (entry {checkpoint.seq}) has not moved since the last "
                f"checkpoint at {place.location}; nothing written",
            )
    data = checkpoint.to_json()
    token = TsaClient(tsa, _chain_pem(ctx)).timestamp(data) if tsa else None
    name = anchor_name(checkpoint.seq, datetime.fromisoformat(checkpoint.at))
    place.put(name, data, token)
    log.info("audit checkpoint of entry %d anchored at %s", checkpoint.seq, place.location)
    return AnchorResult(
        True,
        checkpoint.seq,
        checkpoint.hash,
        place.location,
        name,
        token is not None,
        f"anchored entry {checkpoint.seq} at {place.location}/{name}"
        + (" (timestamped)" if token is not None else ""),
    )


def _newest(place: AnchorPlace) -> Checkpoint | None:
    names = place.names()
    if not names:
        return None
    try:
        return Checkpoint.from_json(place.read(names[-1]).checkpoint)
    except AnchorError:
        return None  # an unreadable newest anchor: write a fresh one


def verify_anchors(ctx: Context, source: str) -> AnchorReport:
    """Check every checkpoint anchored at `source` against the chain: its signature, its
    timestamp (when it has one and `audit_anchor_tsa_cert` is set) and that the chain
    still has exactly its hash at its seq; plus the chain's own check."""
    config = ctx.config
    stored = read_anchors(source, endpoint_url=config.s3_endpoint_url, region=config.s3_region)
    # Tokens are checked where the authority's chain is configured, else only listed.
    chain_pem = _chain_pem(ctx) if config.audit_anchor_tsa_cert else None
    parsed: list[tuple[str, Checkpoint]] = []
    notes: dict[str, list[str]] = {}
    stamps: dict[str, str] = {}
    faults: list[str] = []
    for data, token, name in stored:
        try:
            checkpoint = Checkpoint.from_json(data)
        except AnchorError as exc:
            notes[name] = [f"{name}: {exc}"]
            continue
        parsed.append((name, checkpoint))
        if token is not None and chain_pem is not None:
            try:
                stamps[name] = verify_timestamp(token, data, chain_pem).isoformat()
            except AnchorError as exc:
                notes.setdefault(name, []).append(f"{name}: {exc}")
    by_checkpoint = {checkpoint: name for name, checkpoint in parsed}
    for fault in ctx.vault.check_anchors([checkpoint for _, checkpoint in parsed]):
        if fault.checkpoint is None:
            faults.append(fault.message)
        else:
            name = by_checkpoint[fault.checkpoint]
            notes.setdefault(name, []).append(f"{name}: {fault.message}")
    by_name = dict(parsed)
    checks = []
    for _, _, name in stored:
        found = by_name.get(name)
        messages = tuple(notes.get(name, ()))
        faults.extend(messages)
        checks.append(
            AnchorCheck(
                name,
                found.seq if found else None,
                found.at if found else None,
                not messages,
                stamps.get(name),
                messages,
            )
        )
    if not stored:
        faults.append(f"no audit checkpoint is anchored at {source}")
    return AnchorReport(source, tuple(checks), tuple(faults))


def register_anchor_task(registry: TaskRegistry, ctx: Context) -> None:
    """Add the periodic `audit.anchor` job (every `audit_anchor_every` seconds, in the
    maintenance queue) when an anchor place or a timestamp authority is configured."""
    if not (ctx.config.audit_anchor_to or ctx.config.audit_anchor_tsa):
        return

    def anchor(payload: Mapping[str, Any], progress: Progress) -> None:
        result = anchor_audit(ctx)
        progress(1.0, "anchored" if result.written else "head unchanged")

    registry.register(ANCHOR_TASK, anchor, queue="maintenance")
    registry.every(ANCHOR_TASK, ctx.config.audit_anchor_every)
