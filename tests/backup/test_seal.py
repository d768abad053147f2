"""Sealing a backup's key material to a recovery key (age X25519 recipients, a scrypt
passphrase) and opening it again. age's scrypt takes about a second each way, so the
passphrase cases share one sealed copy."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import pytest

from callvault.backup import (
    RecoveryKey,
    generate_identity,
    open_sealed,
    read_identities,
    seal,
    write_identity,
)
from callvault.errors import BackupError, RecoveryKeyError

DATA = secrets.token_bytes(200)  # stands for the wrapped key material of a backup


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    """Two identity files and their recipients."""
    folder = tmp_path_factory.mktemp("keys")
    one, two = folder / "one.txt", folder / "two.txt"
    return one, two, write_identity(one), write_identity(two)


@pytest.fixture(scope="module")
def both(keys: tuple[Path, Path, str, str]) -> dict[str, bytes]:
    """DATA sealed to both recipients and to a passphrase."""
    _, _, first, second = keys
    return dict(seal(DATA, RecoveryKey((first, second), "correct horse")))


def test_either_recipient_opens_what_is_sealed_to_both(
    keys: tuple[Path, Path, str, str], both: dict[str, bytes]
) -> None:
    one, two, _, _ = keys
    assert sorted(both) == ["scrypt", "x25519"]
    assert both["x25519"].startswith(b"age-encryption.org/v1\n")
    assert DATA not in both["x25519"] and DATA not in both["scrypt"]
    for identity in (one, two):
        assert open_sealed(both, identity_file=identity, passphrase=None) == DATA


def test_the_passphrase_opens_it(both: dict[str, bytes]) -> None:
    assert open_sealed(both, identity_file=None, passphrase="correct horse") == DATA


def test_recipients_only_and_passphrase_only(keys: tuple[Path, Path, str, str]) -> None:
    one, two, first, _ = keys
    sealed = dict(seal(DATA, RecoveryKey((first,), None)))
    assert list(sealed) == ["x25519"]
    assert open_sealed(sealed, identity_file=one, passphrase=None) == DATA
    with pytest.raises(RecoveryKeyError) as caught:
        open_sealed(sealed, identity_file=two, passphrase=None)
    assert str(caught.value) == (
        f"the identity file {str(two)!r} does not open this backup's key material (a "
        "different recovery key, or the sealed file is damaged)"
    )
    with pytest.raises(RecoveryKeyError, match="sealed to an age recipient only"):
        open_sealed(sealed, identity_file=None, passphrase="correct horse")


def test_a_wrong_passphrase_is_refused_and_a_right_identity_still_opens(
    keys: tuple[Path, Path, str, str], both: dict[str, bytes]
) -> None:
    one, two, _, _ = keys
    with pytest.raises(RecoveryKeyError) as caught:
        open_sealed(both, identity_file=None, passphrase="wrong horse")
    assert str(caught.value) == (
        "the passphrase does not open this backup's key material (a different recovery "
        "key, or the sealed file is damaged)"
    )
    # Given both, the one that fits opens it.
    assert open_sealed(both, identity_file=one, passphrase="wrong horse") == DATA
    only_scrypt = {"scrypt": both["scrypt"]}
    with pytest.raises(RecoveryKeyError, match="sealed with a passphrase only"):
        open_sealed(only_scrypt, identity_file=two, passphrase=None)


def test_nothing_to_open_it_with(both: dict[str, bytes]) -> None:
    with pytest.raises(RecoveryKeyError) as caught:
        open_sealed(both, identity_file=None, passphrase=None)
    assert str(caught.value) == (
        "opening the backup's key material needs a key: set CALLVAULT_BACKUP_IDENTITY to "
        "the identity file or CALLVAULT_BACKUP_PASSPHRASE"
    )


def test_altered_ciphertext_never_opens(keys: tuple[Path, Path, str, str]) -> None:
    one, _, first, _ = keys
    sealed = seal(DATA, RecoveryKey((first,), None))[0][1]
    for offset in (len(sealed) - 5, len(sealed) // 2, 60):  # payload, header stanza
        damaged = bytearray(sealed)
        damaged[offset] ^= 0x01
        with pytest.raises(RecoveryKeyError, match="does not open this backup"):
            open_sealed({"x25519": bytes(damaged)}, identity_file=one, passphrase=None)
    with pytest.raises(RecoveryKeyError, match="does not open this backup"):
        open_sealed({"x25519": sealed[:-20]}, identity_file=one, passphrase=None)


def test_a_recovery_key_needs_a_recipient_or_a_passphrase() -> None:
    message = (
        "no recovery key is configured for backups: set CALLVAULT_BACKUP_RECIPIENT (the "
        "age1... recipient that `callvault backup keygen` prints) or "
        "CALLVAULT_BACKUP_PASSPHRASE"
    )
    with pytest.raises(RecoveryKeyError) as caught:
        RecoveryKey.from_config((), None)
    assert str(caught.value) == message
    with pytest.raises(RecoveryKeyError, match="no recovery key is configured"):
        RecoveryKey.from_config((), "")
    with pytest.raises(RecoveryKeyError, match="is not an age X25519 recipient"):
        RecoveryKey.from_config(("age1notakey",), None)


def test_describe_names_the_recipients_never_the_passphrase() -> None:
    _, recipient = generate_identity()
    key = RecoveryKey.from_config([recipient], "s3cret pass")
    assert key.describe() == {"recipients": [recipient], "passphrase": True}
    assert "s3cret" not in repr(key) and "s3cret" not in str(key.describe())
    assert RecoveryKey.from_config([recipient], None).describe()["passphrase"] is False


# -- identity files ----------------------------------------------------------------------


def test_an_identity_file_reads_like_age_keygen_output(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        recipient = write_identity(tmp_path / "key.txt")
    finally:
        os.umask(old)
    path = tmp_path / "key.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# created: 20") and lines[0].endswith("Z")
    assert lines[1] == f"# public key: {recipient}"
    assert lines[2].startswith("AGE-SECRET-KEY-1") and len(lines) == 3
    assert recipient.startswith("age1")
    [identity] = read_identities(path)
    assert str(identity.to_public()) == recipient


def test_an_identity_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "key.txt"
    write_identity(path)
    before = path.read_bytes()
    with pytest.raises(BackupError) as caught:
        write_identity(path)
    assert str(caught.value) == (
        f"{str(path)!r} already exists: an identity file is never overwritten (the backups "
        "sealed to it would be lost); choose another path"
    )
    assert path.read_bytes() == before


def test_several_identities_in_one_file(tmp_path: Path) -> None:
    one, first = generate_identity()
    two, second = generate_identity()
    path = tmp_path / "keys.txt"
    path.write_text(one + "\n" + two)
    assert [str(i.to_public()) for i in read_identities(path)] == [first, second]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# only a comment\n\n", "holds no age identity"),
        ("AGE-SECRET-KEY-1NOTVALID\n", "is not an age identity file: line 1 is not an"),
        ("# c\nssh-ed25519 AAAA\n", "is not an age identity file: line 2 is not an"),
        (b"\xff\xfe binary", "cannot read the identity file .*: it is not an age identity file"),
    ],
)
def test_a_garbled_identity_file_is_named(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = tmp_path / "key.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(RecoveryKeyError, match=message):
        read_identities(path)


def test_a_missing_identity_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.txt"
    with pytest.raises(RecoveryKeyError) as caught:
        open_sealed({"x25519": b"x"}, identity_file=path, passphrase=None)
    assert str(caught.value) == (
        f"the identity file {str(path)!r} does not exist; check CALLVAULT_BACKUP_IDENTITY"
    )
