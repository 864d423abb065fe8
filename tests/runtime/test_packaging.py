"""`pip install ./runtime` installs nothing else, and the cog package imports only the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cogrt import RUNTIME_DIR

COG_DIR = RUNTIME_DIR / "cog"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_cog_imports_only_stdlib() -> None:
    allowed = set(sys.stdlib_module_names) | {"cog", "__future__"}
    offenders = {}
    for path in sorted(COG_DIR.rglob("*.py")):
        bad = imported_modules(path) - allowed
        if bad:
            offenders[str(path.relative_to(RUNTIME_DIR))] = sorted(bad)
    assert offenders == {}


@pytest.mark.network  # pip fetches the build backend (hatchling) from the package index
def test_wheel_has_no_dependencies(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(RUNTIME_DIR), "-w", str(tmp_path)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("cogpin_runtime-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        metadata = next(zf.read(n).decode() for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        names = zf.namelist()
    assert "Requires-Dist" not in metadata
    assert "Requires-Python: >=3.9" in metadata
    assert (
        "cog/__init__.py" in names
        and "cog/server/http.py" in names
        and "cog/command/openapi_schema.py" in names
    )
