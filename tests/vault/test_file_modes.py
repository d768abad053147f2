"""Issue 17: every file callvault writes is 0600 and every directory 0700 whatever the
umask (blobs and exports followed it: 0644, or 0666 under umask 000), and a data
directory left readable by others is made private when it is opened."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from _context import as_context
from _stored import agent_call
from callvault.accounts import Accounts
from callvault.config import Config
from callvault.services import export_audio, export_subject, listen_audio
from callvault.vault import DataPaths, Vault

CALLEE = "+442071838750"  # _stored.agent_call's other party


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def vault(open_umask: None, config: Config) -> Iterator[Vault]:
    with Vault.open(config) as opened:
        yield opened


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): _mode(p) for p in sorted(root.rglob("*"))}


def test_everything_written_under_umask_000_is_private(
    vault: Vault, config: Config, tmp_path: Path
) -> None:
    # The premise: under this umask a plain open() makes a file anyone can write.
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    assert _mode(probe) == 0o666

    call = agent_call(vault, "alice", seed=1)
    root = config.data_dir
    assert _mode(root) == 0o700
    tree = _tree(root)
    blobs = {name: mode for name, mode in tree.items() if name.startswith("blobs/")}
    assert any(mode == 0o600 for mode in blobs.values()), "no blob file was written"
    for name, mode in tree.items():
        path = root / name
        if path.is_dir():
            assert mode == 0o700, name
        elif name == "keys/signing.pub":
            assert mode == 0o644, name  # the public key, inside a 0700 directory
        else:
            assert mode == 0o600, name
    if config.database_url is None:
        assert tree["callvault.db"] == 0o600

    exports = tmp_path / "exports"
    exports.mkdir()
    export_audio(as_context(vault), call, exports / "call.wav", purpose="test")
    listen_audio(as_context(vault), call, exports / "listen.wav", role="admin", purpose="test")
    export_subject(as_context(vault), CALLEE, exports / "subject.zip", purpose="test")
    assert _tree(exports) == {"call.wav": 0o600, "listen.wav": 0o600, "subject.zip": 0o600}


def test_a_loose_data_directory_is_made_private_on_opening(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    with Vault.open(config):
        pass
    paths = DataPaths(config.data_dir)
    keys = paths.keyring.parent
    loose = {
        paths.root: 0o755,
        paths.blobs: 0o777,
        keys: 0o755,
        paths.keyring: 0o755,
        paths.signing_key: 0o644,
        **{key: 0o644 for key in paths.keyring.iterdir()},
    }
    if config.database_url is None:
        loose[paths.database] = 0o644
    for path, mode in dict(loose).items():
        os.chmod(path, mode)
    with caplog.at_level(logging.WARNING, logger="callvault.vault"), Vault.open(config) as vault:
        assert Accounts(vault).list_users() == []
    for path in loose:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert _mode(keys / "signing.pub") == 0o644
    warned = [r.getMessage() for r in caplog.records]
    assert f"{paths.root} was mode 0755; made it private (group and others removed)" in warned
    assert len(warned) == len(loose)
