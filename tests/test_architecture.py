"""The import contract holds, and breaking it fails `lint-imports` with the contract's name.

The layers (docs/architecture.md) are only worth something if a change that crosses them
is refused: these tests copy the packages into a temporary folder, make the planner import
the store, and check that the linter says so.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("alongside", "engine", "flows", "notifications", "web")


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_repository_keeps_its_contracts(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_a_core_module_importing_the_store_breaks_the_layers(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    planner = root / "engine" / "core" / "planner.py"
    planner.write_text(planner.read_text() + "\nfrom engine.store import Task  # noqa\n")
    result = _lint(root)
    assert result.returncode != 0
    assert "Entry points above the service layer" in result.stdout
    assert "engine.core.planner -> engine.store" in result.stdout
    assert "BROKEN" in result.stdout


def test_the_core_may_not_use_the_database_library(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    values = root / "engine" / "core" / "values.py"
    values.write_text(values.read_text() + "\nimport sqlalchemy  # noqa\n")
    result = _lint(root)
    assert result.returncode != 0
    assert "The core is pure" in result.stdout and "sqlalchemy" in result.stdout


CORE_MAY_IMPORT = {"engine", "pydantic", "pydantic_core", "yaml", "holidays"}


def test_the_core_imports_only_the_standard_library_pydantic_pyyaml_and_holidays() -> None:
    """The forbidden contract above names the libraries most likely to creep in; this is
    the allow-list behind it, so a library nobody thought to forbid is caught too."""
    outside = {
        f"{path.name}: {name}"
        for path in sorted((REPO / "engine" / "core").glob("*.py"))
        for name in _imported(path.read_text())
        if name not in sys.stdlib_module_names and name not in CORE_MAY_IMPORT
    }
    assert not outside


def test_the_allow_list_check_sees_a_new_library() -> None:
    assert _imported("import fastapi\nfrom vl_convert import x\nfrom . import y\n") == {
        "fastapi",
        "vl_convert",
    }


def _imported(source: str) -> set[str]:
    """Top-level names of the modules a source imports (relative imports are its own)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names
