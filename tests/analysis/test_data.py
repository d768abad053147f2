"""The word lists and phrase tables shipped as data files under `callvault/analysis`.

Each file loads through the path an installed package uses (importlib.resources, via
`read_words`), and pyproject's package-data ships it in a wheel.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

from callvault.analysis._data import read_words
from callvault.analysis.insights._trackers import BUILTIN_TRACKERS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "callvault"

# Every data file, by package: a file added or removed has to be listed here.
DATA_FILES = {
    "callvault.analysis": ("alert_rules.toml", "refusal.toml", "screen.toml"),
    "callvault.analysis.pii": ("context.toml", "dates.toml", "numbers.toml", "recognizers.toml"),
    "callvault.analysis.insights": (
        "actions.toml",
        "dates.toml",
        "metrics.toml",
        "sentiment_de.toml",
        "trackers.toml",
    ),
}
FILES = [(package, name) for package, names in DATA_FILES.items() for name in names]


def _folder(package: str) -> Path:
    return PACKAGE.joinpath(*package.split(".")[1:], "data")


def test_every_data_file_is_listed() -> None:
    for package, names in DATA_FILES.items():
        assert sorted(p.name for p in _folder(package).glob("*.toml")) == sorted(names)


@pytest.mark.parametrize(("package", "name"), FILES)
def test_data_file_loads_through_the_package(package: str, name: str) -> None:
    table = read_words(package, name)
    assert table and all(table.values())
    assert read_words(package, name) is table  # parsed once


@pytest.mark.parametrize(("package", "name"), FILES)
def test_data_file_is_package_data(package: str, name: str) -> None:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        patterns = tomllib.load(handle)["tool"]["setuptools"]["package-data"]["callvault"]
    relative = (_folder(package) / name).relative_to(PACKAGE).as_posix()
    depth = relative.count("/")  # setuptools' "*" stays within one folder
    assert any(
        pattern.count("/") == depth and fnmatch.fnmatchcase(relative, pattern)
        for pattern in patterns
    ), relative


def test_builtin_trackers_keep_their_order() -> None:
    assert [spec.name for spec in BUILTIN_TRACKERS] == [
        "objection.price",
        "objection.timing",
        "objection.authority",
        "objection.need",
        "objection.competitor",
        "buying-signal",
    ]
