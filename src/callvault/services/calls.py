"""Use cases on stored calls: export the original audio."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from callvault.errors import InputError
from callvault.vault import Vault

__all__ = ["call_document", "export_audio"]


def export_audio(
    vault: Vault, call_id: str, out: Path, *, purpose: str | None, overwrite: bool = False
) -> int:
    """Decrypt a call's original audio bit-exact to `out`; return the byte count.

    Refuses a destination inside the data directory: plaintext audio never lands there.
    """
    target = out.expanduser().resolve()
    data_dir = vault.config.data_dir.expanduser().resolve()
    if target == data_dir or data_dir in target.parents:
        raise InputError(
            f"{out}: is inside the data directory, which holds only ciphertext; export "
            "somewhere else"
        )
    if target.exists() and not overwrite:
        raise InputError(f"{out}: already exists; pass --force to replace it")
    if not target.parent.is_dir():
        raise InputError(f"{out}: the directory {target.parent} does not exist")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    written = 0
    try:
        with vault.open_recording(call_id, action="recording.export", purpose=purpose) as reader:
            with open(tmp, "xb") as handle:
                for chunk in reader.iter_chunks():
                    handle.write(chunk)
                    written += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return written


def call_document(vault: Vault, call_id: str, *, purpose: str | None) -> dict[str, Any]:
    """`show --json`: the call's record plus its transcript (null until processed)."""
    from callvault.services.process import transcript_json

    document = vault.get_call(call_id, purpose=purpose).to_json()
    stored = vault.read_transcript(call_id, purpose=purpose)
    document["transcript"] = transcript_json(stored) if stored is not None else None
    return document
