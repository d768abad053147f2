"""Download a CTranslate2 Whisper model from the public model hub: only when asked to."""

from __future__ import annotations

import shutil
from pathlib import Path

from callvault.errors import CallvaultError, InputError

__all__ = ["PULLABLE", "pull_model"]

# callvault's names for the CTranslate2 conversions published by the faster-whisper authors.
PULLABLE: dict[str, str] = {
    "whisper-tiny": "Systran/faster-whisper-tiny",
    "whisper-base.en": "Systran/faster-whisper-base.en",
    "whisper-small": "Systran/faster-whisper-small",
    "whisper-small.en": "Systran/faster-whisper-small.en",
    "whisper-medium": "Systran/faster-whisper-medium",
    "whisper-large-v3": "Systran/faster-whisper-large-v3",
}
_FILES = ["config.json", "model.bin", "tokenizer.json", "vocabulary.*", "preprocessor_config.json"]


def pull_model(name: str, *, cache_dir: Path) -> Path:
    """Download model `name` into `<cache_dir>/pulled/<name>` and return that directory.

    The download goes to a temporary directory first, so an interrupted pull leaves
    nothing that looks like a model.
    """
    if name not in PULLABLE:
        raise InputError(
            f"unknown model {name!r}; models that can be pulled: {', '.join(sorted(PULLABLE))}"
        )
    from huggingface_hub import snapshot_download  # a dependency of faster-whisper

    target = cache_dir / "pulled" / name
    partial = target.with_name(f".{name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(PULLABLE[name], local_dir=partial, allow_patterns=_FILES)
    except Exception as exc:  # noqa: BLE001 - any failure of the download is reported
        shutil.rmtree(partial, ignore_errors=True)
        raise CallvaultError(
            f"could not download model {name} from the model hub ({type(exc).__name__}); "
            "check the network, or copy a CTranslate2 Whisper directory here and name it "
            "in CALLVAULT_ASR_MODELS"
        ) from None
    for required in ("config.json", "model.bin", "tokenizer.json"):
        if not (partial / required).is_file():
            shutil.rmtree(partial, ignore_errors=True)
            raise CallvaultError(f"the download of model {name} lacks {required}")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
