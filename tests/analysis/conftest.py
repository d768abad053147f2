"""Fixtures of the speech pipeline tests: the evaluation corpus and one model cache.

The corpus lives outside the repository (`../shared/eval-data`, or CALLVAULT_EVAL_DATA).
Without it the ASR cases fail under CI=true (they must not vanish silently) and are
skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest

from callvault.analysis import ResolvedModel, resolve_model

EVAL_DATA = Path(
    os.environ.get(
        "CALLVAULT_EVAL_DATA", Path(__file__).resolve().parents[3] / "shared" / "eval-data"
    )
)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER after lowercasing and removing punctuation (LibriSpeech references have none)."""

    def normalise(text: str) -> list[str]:
        return re.sub(r"[^\w\s']|_", " ", text.lower()).replace("'", "").split()

    ref, hyp = normalise(reference), normalise(hypothesis)
    row = list(range(len(hyp) + 1))  # Levenshtein distance over words, one row at a time
    for i, ref_word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, 1):
            previous, row[j] = (
                row[j],
                min(row[j] + 1, row[j - 1] + 1, previous + (ref_word != hyp_word)),
            )
    return row[len(hyp)] / max(len(ref), 1)


@pytest.fixture(scope="session")
def eval_data() -> Path:
    if not (EVAL_DATA / "asr" / "en" / "references.tsv").is_file():
        message = f"the evaluation corpus is not at {EVAL_DATA} (set CALLVAULT_EVAL_DATA)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return EVAL_DATA


def _read_references(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as source:
        return {row["file"]: row["reference"] for row in csv.DictReader(source, delimiter="\t")}


@pytest.fixture(scope="session")
def references(eval_data: Path) -> dict[str, str]:
    """Reference text by path under asr/ ("en/jfk.flac", "en/stereo_diarization.wav#L")."""
    refs: dict[str, str] = {}
    for lang in ("en", "de"):
        for name, text in _read_references(eval_data / "asr" / lang / "references.tsv").items():
            refs[f"{lang}/{name}"] = text
    return refs


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache per session: whisper-base (~140 MB) is assembled only once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def base_model(model_cache: Path) -> ResolvedModel:
    return resolve_model(None, cache_dir=model_cache)
