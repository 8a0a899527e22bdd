"""The modem library stands on its own: no Home Assistant import in any of its modules."""

from __future__ import annotations

import ast
from pathlib import Path

import custom_components.bc26.modem as modem_package

PACKAGE = Path(modem_package.__file__).parent


def _imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_imports_home_assistant() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert {path.name for path in modules} >= {
        "__init__.py",
        "channel.py",
        "commands.py",
        "errors.py",
        "models.py",
        "modem.py",
        "urc.py",
    }
    for path in modules:
        imported = _imported_modules(path.read_text(encoding="utf-8"))
        offending = {name for name in imported if name.split(".")[0] == "homeassistant"}
        assert not offending, f"{path.name} imports {offending}"
        # Only the standard library, serialx and the package itself (relative imports).
        assert {name.split(".")[0] for name in imported} <= {
            "__future__", "asyncio", "collections", "contextlib", "dataclasses", "enum",
            "ipaddress", "logging", "re", "serialx", "time", "typing",
        }, path.name  # fmt: skip


def test_the_scan_sees_imports() -> None:
    found = _imported_modules("import homeassistant.core\nfrom homeassistant import const\n")
    assert found == {"homeassistant.core", "homeassistant"}
