"""Installing cogpin is one ordinary command: `pip install .`, `pip install git+URL`, `uv tool install .`
and `pipx install .`, each in a clean venv / tool folder, with every dependency from the package index
(`network`). The runtime ships inside cogpin's wheel, and the runtime wheel an installed cogpin builds is
byte for byte the one a checkout builds (the sha256 every lock pins)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cogpin.artifacts.runtime_wheel import build_runtime_wheel

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.network, pytest.mark.slow]

# Run inside the installed cogpin: where its runtime comes from, and the sha256 of the wheel it builds.
PROBE = (
    "import importlib.util, json, sys, tempfile, pathlib; "
    "from cogpin.artifacts.runtime_wheel import build_runtime_wheel, runtime_package_dir; "
    "w = build_runtime_wheel(pathlib.Path(tempfile.mkdtemp())); "
    "print(json.dumps({'dir': str(runtime_package_dir()), 'sha256': w.sha256, 'version': w.version, "
    "'sniffio': importlib.util.find_spec('sniffio') is not None}))"
)


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COGPIN_", "VIRTUAL_ENV", "PYTHONPATH"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN)
    env["HOME"] = str(tmp / "home")  # no user-level tool folders of the developer's
    (tmp / "home").mkdir(exist_ok=True)
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def _check_installed(python: Path, cogpin: Path, env: dict[str, str], expected_sha: str) -> None:
    assert "cogpin, version" in _run([str(cogpin), "--version"], env).stdout
    probe = json.loads(_run([str(python), "-c", PROBE], env, cwd=python.parent).stdout)
    assert "/_runtime/cog" in probe["dir"], probe  # the copy shipped in the wheel, not this checkout
    assert probe["sha256"] == expected_sha, probe
    # the hub's HTTP client (httpcore) asks sniffio on every request; without it each ask is a failed import
    # (~1 ms of the hub's CPU per prediction, docs/hub.md "Performance")
    assert probe["sniffio"], probe


@pytest.fixture(scope="module")
def expected_sha(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_runtime_wheel(tmp_path_factory.mktemp("rt")).sha256


def _clean_venv(tmp: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
    return tmp / "venv" / "bin"


def test_pip_install_dot_in_a_clean_venv(tmp_path: Path, expected_sha: str) -> None:
    env = _env(tmp_path)
    bin_ = _clean_venv(tmp_path)
    _run([str(bin_ / "pip"), "install", "-q", str(ROOT)], env)
    _check_installed(bin_ / "python", bin_ / "cogpin", env, expected_sha)
    assert (bin_ / "cog").exists(), "the `cog` alias is installed too"


def test_pip_install_git_url(tmp_path: Path, expected_sha: str) -> None:
    """`pip install git+URL`: what is committed (HEAD), built from a clone the way pip does."""
    env = _env(tmp_path)
    bin_ = _clean_venv(tmp_path)
    _run([str(bin_ / "pip"), "install", "-q", f"git+file://{ROOT}"], env)
    _check_installed(bin_ / "python", bin_ / "cogpin", env, expected_sha)


def test_uv_tool_install(tmp_path: Path, expected_sha: str) -> None:
    uv = shutil.which("uv", path=str(VENV_BIN)) or shutil.which("uv")
    assert uv, "uv is a dependency of cogpin and must be in the test venv"
    env = _env(tmp_path)
    env.update(
        UV_TOOL_DIR=str(tmp_path / "tools"), UV_TOOL_BIN_DIR=str(tmp_path / "bin"), UV_SYSTEM_CERTS="1"
    )
    _run([uv, "tool", "install", "--python", sys.executable, str(ROOT)], env)
    tool_python = tmp_path / "tools" / "cogpin" / "bin" / "python"
    _check_installed(tool_python, tmp_path / "bin" / "cogpin", env, expected_sha)


def test_pipx_install(tmp_path: Path, expected_sha: str) -> None:
    """pipx is not on this machine; it is one `pip install pipx` away, as for most users."""
    env = _env(tmp_path)
    helper = _clean_venv(tmp_path / "pipx-venv")
    _run([str(helper / "pip"), "install", "-q", "pipx"], env)
    env.update(PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"))
    _run([str(helper / "pipx"), "install", "--python", sys.executable, str(ROOT)], env)
    _check_installed(
        tmp_path / "pipx" / "venvs" / "cogpin" / "bin" / "python",
        tmp_path / "bin" / "cogpin",
        env,
        expected_sha,
    )
