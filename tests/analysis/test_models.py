from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from callvault.analysis import (
    MODELS,
    ModelInfo,
    ModelSpec,
    ResolvedModel,
    list_models,
    resolve_model,
)
from callvault.errors import ConfigError, IntegrityError

INSTALL = "run `bash scripts/setup.sh` (pip install -r requirements/models.txt)"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@pytest.mark.parametrize("language", ["en", "en-GB", "EN_us"])
def test_english_uses_tiny_en(language: str, tmp_path: Path) -> None:
    model = resolve_model(language, cache_dir=tmp_path)
    assert (model.name, model.version) == ("whisper-tiny.en", "0.1.0")
    assert (model.path / "model.bin").is_file()
    assert list(tmp_path.iterdir()) == []  # nothing assembled for English


def test_base_is_assembled_once(base_model: ResolvedModel, model_cache: Path) -> None:
    assert (base_model.name, base_model.version) == ("whisper-base", "1.0.0")
    assert base_model.path == model_cache / "whisper-base-1.0.0"
    names = sorted(p.name for p in base_model.path.iterdir())
    assert names == ["config.json", "model.bin", "model.json", "tokenizer.json", "vocabulary.txt"]
    marker = json.loads((base_model.path / "model.json").read_text())
    model_bin = base_model.path / "model.bin"
    assert marker["size"] == model_bin.stat().st_size
    assert marker["sha256"] == _sha256(model_bin)
    written = model_bin.stat().st_mtime_ns
    for language in ("de", "pt-BR", None):
        assert resolve_model(language, cache_dir=model_cache) == base_model
    assert model_bin.stat().st_mtime_ns == written


def _fake_cache(base_model: ResolvedModel, tmp_path: Path, model_bin: bytes) -> Path:
    """A cache whose whisper-base holds `model_bin`; the other files are hard links."""
    target = tmp_path / base_model.path.name
    target.mkdir()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt", "model.json"):
        os.link(base_model.path / name, target / name)
    (target / "model.bin").write_bytes(model_bin)
    return target


def test_truncated_model_is_detected(base_model: ResolvedModel, tmp_path: Path) -> None:
    target = _fake_cache(base_model, tmp_path, b"\x00" * 1000)
    size = base_model.path.joinpath("model.bin").stat().st_size
    with pytest.raises(IntegrityError) as info:
        resolve_model("de", cache_dir=tmp_path)
    assert str(info.value) == (
        f"model whisper-base 1.0.0 in {target} is corrupt: model.bin has 1000 bytes, "
        f"{size} expected: delete {target} and it is rebuilt from the installed packages"
    )


def test_corrupt_model_without_marker_is_hashed(base_model: ResolvedModel, tmp_path: Path) -> None:
    target = _fake_cache(base_model, tmp_path, b"\x00" * 1000)
    (target / "model.json").unlink()
    with pytest.raises(IntegrityError) as info:
        resolve_model(None, cache_dir=tmp_path)
    assert str(info.value) == (
        f"model whisper-base 1.0.0 in {target} is corrupt: the SHA-256 of model.bin does not "
        f"match its installed parts: delete {target} and it is rebuilt from the installed "
        "packages"
    )


def test_missing_packages_name_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(MODELS, "whisper-base", ModelSpec("whisper-base", ("*",), ("no-such",)))
    with pytest.raises(ConfigError) as info:
        resolve_model("fr", cache_dir=tmp_path)
    assert str(info.value) == f"model whisper-base is not installed: {INSTALL}"


def test_missing_tiny_en_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = ModelSpec("whisper-tiny.en", ("en",), ("no-such",))
    monkeypatch.setitem(MODELS, "whisper-tiny.en", spec)
    with pytest.raises(ConfigError) as info:
        resolve_model("en", cache_dir=tmp_path)
    assert str(info.value) == f"model whisper-tiny.en is not installed: {INSTALL}"


def test_override_with_a_directory(base_model: ResolvedModel, tmp_path: Path) -> None:
    model = resolve_model("en-US", cache_dir=tmp_path, overrides={"en": str(base_model.path)})
    assert model == ResolvedModel("local:whisper-base-1.0.0", "local", base_model.path)


def test_override_with_a_model_name(base_model: ResolvedModel, model_cache: Path) -> None:
    model = resolve_model(None, cache_dir=model_cache, overrides={"auto": "whisper-tiny.en"})
    assert model.name == "whisper-tiny.en"
    assert resolve_model("en", cache_dir=model_cache, overrides={"en": "whisper-base"}) == (
        base_model
    )


def test_override_with_a_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as info:
        resolve_model("de", cache_dir=tmp_path, overrides={"de": str(missing)})
    assert str(info.value) == (
        f"ASR model for 'de': {missing} is not a CTranslate2 Whisper model directory "
        "(model.bin, config.json, tokenizer.json missing)"
    )


def test_list_models(base_model: ResolvedModel, model_cache: Path) -> None:
    rows = {row.name: row for row in list_models(model_cache)}
    assert set(rows) == {"whisper-tiny.en", "whisper-base"}
    tiny, base = rows["whisper-tiny.en"], rows["whisper-base"]
    assert (tiny.version, tiny.installed, tiny.languages) == ("0.1.0", True, ("en",))
    assert tiny.path is not None and (tiny.path / "model.bin").is_file()
    assert (base.version, base.installed, base.path) == ("1.0.0", True, base_model.path)
    assert base.languages == ("*",)


def test_list_models_when_not_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(MODELS, "whisper-base", ModelSpec("whisper-base", ("*",), ("no-such",)))
    rows = {row.name: row for row in list_models(tmp_path)}
    assert rows["whisper-base"] == ModelInfo("whisper-base", None, False, None, ("*",))
