"""Word lists and phrase tables that are data, not code: TOML files in the `data/` folder
of each analysis package (`callvault/analysis/data/`, `callvault/analysis/pii/data/`,
`callvault/analysis/insights/data/`), read with importlib.resources, so they come with
an installed wheel as they do with a checkout. Each file is parsed once per process.

TOML keeps the order of arrays and of the keys of a table: where order matters (which
of two equally long matches wins, the order of a regular expression's alternatives), the
file says so. Regular expressions built from the words stay in the code.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Any

__all__ = ["read_words"]


@functools.cache
def read_words(package: str, name: str) -> dict[str, Any]:
    """The TOML file `data/<name>` of `package` ("callvault.analysis.pii", ...), parsed.

    The result is shared by every caller: read it, never change it.
    """
    text = resources.files(package).joinpath("data", name).read_text("utf-8")
    return tomllib.loads(text)
