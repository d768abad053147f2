"""A backup's key material sealed to a recovery key, in the age format (pyrage, issue 21).

A backup holds only ciphertext; what opens it (the vault's wrapped data keys and the
key that wraps them) travels in the backup sealed to a recovery key that the vault
itself does not hold: age X25519 recipients (`age1...`, from `callvault backup keygen`),
a passphrase (age's scrypt recipient), or both. age is authenticated encryption (a
header MAC and ChaCha20-Poly1305 payload chunks), so a damaged or altered file is
refused, never opened as garbage.

age's scrypt recipient must be the only recipient of a file (age spec, "scrypt
recipient stanza"), so a key sealed both ways is two age files: one per method.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage  # type: ignore[import-untyped]  # pyrage ships no type information

from callvault.errors import BackupError, RecoveryKeyError

__all__ = [
    "RecoveryKey",
    "generate_identity",
    "open_sealed",
    "read_identities",
    "seal",
    "write_identity",
]

X25519 = "x25519"
SCRYPT = "scrypt"
_SECRET_PREFIX = "AGE-SECRET-KEY-1"
_NO_KEY = (
    "no recovery key is configured for backups: set CALLVAULT_BACKUP_RECIPIENT (the age1... "
    "recipient that `callvault backup keygen` prints) or CALLVAULT_BACKUP_PASSPHRASE"
)
_NO_OPENER = "set CALLVAULT_BACKUP_IDENTITY to the identity file or CALLVAULT_BACKUP_PASSPHRASE"


@dataclass(frozen=True)
class RecoveryKey:
    """How a backup's key material is sealed: to age recipients, a passphrase, or both."""

    recipients: tuple[str, ...] = ()
    passphrase: str | None = None

    def __post_init__(self) -> None:
        if not self.recipients and not self.passphrase:
            raise RecoveryKeyError(_NO_KEY)
        for recipient in self.recipients:
            _recipient(recipient)

    @classmethod
    def from_config(cls, recipients: Sequence[str], passphrase: str | None) -> RecoveryKey:
        return cls(tuple(recipients), passphrase or None)

    def describe(self) -> dict[str, Any]:
        """What the manifest records of the key: the recipients, whether a passphrase was
        used; never the passphrase."""
        return {"recipients": list(self.recipients), "passphrase": self.passphrase is not None}

    def __repr__(self) -> str:  # the passphrase never reaches a log or a traceback
        return f"RecoveryKey(recipients={self.recipients!r}, passphrase={bool(self.passphrase)})"


def _recipient(text: str) -> Any:
    try:
        return pyrage.x25519.Recipient.from_str(text)
    except pyrage.RecipientError:
        raise RecoveryKeyError(
            f"{text[:12]!r}... is not an age X25519 recipient (age1...); check "
            "CALLVAULT_BACKUP_RECIPIENT"
        ) from None


def seal(data: bytes, key: RecoveryKey) -> list[tuple[str, bytes]]:
    """`data` as age files, one per method of `key`: ("x25519", to every recipient) and
    ("scrypt", to the passphrase)."""
    sealed = []
    if key.recipients:
        recipients = [_recipient(text) for text in key.recipients]
        sealed.append((X25519, bytes(pyrage.encrypt(data, recipients))))
    if key.passphrase:
        sealed.append((SCRYPT, bytes(pyrage.passphrase.encrypt(data, key.passphrase))))
    return sealed


def open_sealed(
    sealed: Mapping[str, bytes], *, identity_file: Path | None, passphrase: str | None
) -> bytes:
    """The data `seal` sealed, opened with the identity file (the "x25519" file) or the
    passphrase (the "scrypt" file), whichever is given and opens it."""
    if identity_file is None and not passphrase:
        raise RecoveryKeyError(f"opening the backup's key material needs a key: {_NO_OPENER}")
    tried = []
    if identity_file is not None:
        if X25519 in sealed:
            identities = read_identities(identity_file)
            opened = _decrypt(lambda: pyrage.decrypt(sealed[X25519], identities))
            if opened is not None:
                return opened
            tried.append(f"the identity file {str(identity_file)!r}")
        elif not passphrase:
            raise RecoveryKeyError(
                "this backup is sealed with a passphrase only, not to an age recipient; "
                "set CALLVAULT_BACKUP_PASSPHRASE"
            )
    if passphrase:
        if SCRYPT in sealed:
            opened = _decrypt(lambda: pyrage.passphrase.decrypt(sealed[SCRYPT], passphrase))
            if opened is not None:
                return opened
            tried.append("the passphrase")
        elif not tried:
            raise RecoveryKeyError(
                "this backup is sealed to an age recipient only, not with a passphrase; "
                "set CALLVAULT_BACKUP_IDENTITY to the identity file"
            )
    raise RecoveryKeyError(
        f"{' and '.join(tried)} does not open this backup's key material (a different "
        "recovery key, or the sealed file is damaged)"
    )


def _decrypt(call: Any) -> bytes | None:
    """What `call` decrypts, or None when age refuses (wrong key, or altered ciphertext:
    age tells them apart only by its message, so both are "does not open")."""
    try:
        return bytes(call())
    except pyrage.DecryptError:
        return None


def generate_identity() -> tuple[str, str]:
    """(identity file text, recipient): a new X25519 identity, written as age-keygen
    writes it, with "# created:" and "# public key:" comment lines."""
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"# created: {created}\n# public key: {recipient}\n{identity}\n"
    return text, recipient


def write_identity(path: Path) -> str:
    """Create `path` (mode 0600, never over an existing file) holding a new identity;
    returns its recipient, for CALLVAULT_BACKUP_RECIPIENT."""
    text, recipient = generate_identity()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise BackupError(
            f"{str(path)!r} already exists: an identity file is never overwritten (the "
            "backups sealed to it would be lost); choose another path"
        ) from None
    except OSError as exc:
        raise BackupError(
            f"cannot create the identity file {str(path)!r}: {exc.strerror}"
        ) from None
    try:
        os.fchmod(fd, 0o600)  # the umask only takes bits away; set exactly 0600
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return recipient


def read_identities(path: Path) -> list[Any]:
    """The X25519 identities in an age identity file (comments and blank lines skipped)."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise RecoveryKeyError(
            f"the identity file {str(path)!r} does not exist; check CALLVAULT_BACKUP_IDENTITY"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not an age identity file"
        raise RecoveryKeyError(f"cannot read the identity file {str(path)!r}: {why}") from None
    identities = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if not line.startswith(_SECRET_PREFIX):
                raise pyrage.IdentityError
            identities.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise RecoveryKeyError(
                f"the identity file {str(path)!r} is not an age identity file: line {number} "
                f"is not an {_SECRET_PREFIX}... key"
            ) from None
    if not identities:
        raise RecoveryKeyError(f"the identity file {str(path)!r} holds no age identity")
    return identities
