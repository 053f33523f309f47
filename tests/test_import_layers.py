"""The import layers, read from the source (every import statement, function-level ones
too): service/netadapt is pure standard library; latency_tables imports neither service
nor device_agent; service never imports device_agent (it starts agents by their command);
only the CLI imports the CLI (user errors are service.netadapt.errors.UserError)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def imported_modules(package: str) -> dict[str, set[str]]:
    """module file (relative) -> the absolute module names its import statements name."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        relative = path.relative_to(REPO)
        package_parts = relative.parent.parts  # the package a relative import starts from
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package_parts[: len(package_parts) - node.level + 1] if node.level else ()
                names.add(".".join([*base, *([node.module] if node.module else [])]))
        found[str(relative)] = names
    return found


def outside(package: str, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        module: sorted(bad)
        for module, names in imported_modules(package).items()
        if (bad := {n for n in names if n.split(".")[0] not in sys.stdlib_module_names
                    and not any(n == a or n.startswith(a + ".") for a in allowed)})
    }


def test_service_netadapt_imports_only_the_standard_library() -> None:
    assert len(imported_modules("service/netadapt")) > 10  # the walk found the package
    assert outside("service/netadapt", ("service.netadapt",)) == {}


def test_latency_tables_imports_neither_service_nor_device_agent() -> None:
    for module, names in imported_modules("latency_tables").items():
        assert not {n for n in names if n.split(".")[0] in ("service", "device_agent")}, module


def test_service_never_imports_device_agent() -> None:
    for module, names in imported_modules("service").items():
        assert not {n for n in names if n.split(".")[0] == "device_agent"}, module


def test_only_the_cli_imports_the_cli() -> None:
    for module, names in imported_modules("service").items():
        if not module.startswith("service/cli/"):
            assert not {n for n in names if n == "service.cli" or n.startswith("service.cli.")}, module


def test_the_check_sees_a_third_party_import(tmp_path: Path, monkeypatch) -> None:
    # The purity check itself can fail: a module importing numpy in a function is found.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import json\nfrom . import core\n")
    (package / "core.py").write_text("def f():\n    import numpy\n    return numpy\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert outside("pkg", ("pkg",)) == {"pkg/core.py": ["numpy"]}
