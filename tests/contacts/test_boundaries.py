"""What the contacts package may lean on (issue 18): the storage core's public names
only, never the services, never another package's private module; and the vault keeps
nothing of contacts."""

from __future__ import annotations

import ast
from pathlib import Path

import callvault.contacts
import callvault.vault

PACKAGE = Path(callvault.contacts.__file__).parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_contacts_import_no_services_and_no_private_module_of_another_package() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for name in _imported(path):
            if not name.startswith("callvault."):
                continue
            assert not name.startswith("callvault.services"), (path.name, name)
            if not name.startswith("callvault.contacts"):
                assert not any(part.startswith("_") for part in name.split(".")), (path.name, name)


def test_the_vault_exports_nothing_of_contacts() -> None:
    assert not [name for name in callvault.vault.__all__ if "contact" in name.lower()]
    assert not [name for name in dir(callvault.vault.Vault) if "contact" in name.lower()]
