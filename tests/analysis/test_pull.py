"""`models pull` is the one command that reaches the network; this machine has none beyond
the package registries, so the download itself fails here, which is what is checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from callvault.cli import cli


def test_unknown_model_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["models", "pull", "whisper-huge"], env={"CALLVAULT_MODEL_CACHE": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown model 'whisper-huge'; models that can be ")
    assert list(tmp_path.iterdir()) == []


def test_failed_download_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The hub library reads its settings at import, so they are patched, not set in the
    # environment: offline, and an endpoint on loopback should it try anyway.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    env = {"CALLVAULT_MODEL_CACHE": str(tmp_path)}
    result = CliRunner().invoke(cli, ["models", "pull", "whisper-tiny"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: could not download model whisper-tiny from the ")
    assert list((tmp_path / "pulled").iterdir()) == []
