"""The architecture, kept by a check (issue 18): what import-linter's contracts do not say.

`lint-imports` (in scripts/test.sh) runs the contracts of pyproject's [tool.importlinter]:
the edges reach storage and jobs only through services, domain packages never import the
use cases. This file adds three rules import-linter has no contract type for: no module
imports another package's private (`_x`) module, the services import each other without
cycles, and no module passes ~800 lines unless it holds one concept (listed below, with why).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

import callvault

SRC = Path(callvault.__file__).parent

# Modules allowed past the limit, each holding one concept that would only be scattered by
# a split. Keep this list short; each entry says why.
LONG_MODULES: dict[str, str] = {}

MAX_LINES = 800


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("callvault", cache_dir=None)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _owner_of_private(module: str) -> str | None:
    """The domain package (`callvault.X`) a private module belongs to, None if public.

    Subpackages of one domain share its private modules (the SIPREC server is built on
    capture.net's SIP parser); another domain reaches them only through public names.
    """
    parts = module.split(".")
    if any(_is_private(part) for part in parts[1:]):
        return ".".join(parts[:2])
    return None


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_module_imports_another_packages_private_module(graph: grimp.ImportGraph) -> None:
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            owner = _owner_of_private(imported)
            if owner is not None and not _inside(importer, owner):
                found.append(f"{importer} imports {imported}")
    assert found == []


def test_private_rule_is_the_one_intended() -> None:
    assert _owner_of_private("callvault.capture.net._engine") == "callvault.capture"
    assert _owner_of_private("callvault.vault._models") == "callvault.vault"
    assert _owner_of_private("callvault.vault") is None
    assert _owner_of_private("callvault.__main__") is None
    assert not _inside("callvault.services.calls", "callvault.vault")
    assert _inside("callvault.analysis.pii._detect", "callvault.analysis")


def test_no_private_name_is_imported_from_another_package() -> None:
    """`from callvault.capture.net._engine import _Dialog` in capture.siprec: a private
    name is for its own package's modules only."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        importer = ".".join(("callvault", *path.relative_to(SRC).with_suffix("").parts))
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if not node.module.startswith("callvault"):
                continue
            source_package = node.module.rpartition(".")[0]
            for alias in node.names:
                if _is_private(alias.name) and not _inside(package, source_package):
                    found.append(f"{importer}: {alias.name} from {node.module}")
    assert found == []


def test_services_import_each_other_without_cycles(graph: grimp.ImportGraph) -> None:
    services = sorted(m for m in graph.modules if _inside(m, "callvault.services"))
    cycles = set()
    for importer in services:
        for imported in graph.find_modules_directly_imported_by(importer):
            if not _inside(imported, "callvault.services") or imported == "callvault.services":
                continue
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.add(" -> ".join((importer, *back)))
    assert sorted(cycles) == []


def test_no_module_past_the_limit_unless_listed() -> None:
    long = {}
    for path in sorted(SRC.rglob("*.py")):
        name = ".".join(("callvault", *path.relative_to(SRC).with_suffix("").parts))
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and name not in LONG_MODULES:
            long[name] = lines
    assert long == {}
    for name in LONG_MODULES:
        assert (SRC / Path(*name.split(".")[1:])).with_suffix(".py").exists(), name


def test_no_public_name_of_a_package_shadows_one_of_its_modules() -> None:
    """`callvault.services.insight_corrections` was once both a module and a function of
    the package: whichever was imported last won, and a route called the module."""
    import importlib
    import pkgutil

    shadowing = {}
    for package in (p for p in pkgutil.walk_packages(callvault.__path__, "callvault.") if p.ispkg):
        module = importlib.import_module(package.name)
        names = set(getattr(module, "__all__", ()))
        modules = {m.name for m in pkgutil.iter_modules(module.__path__)}
        if names & modules:
            shadowing[package.name] = sorted(names & modules)
    assert shadowing == {}
