"""End to end through the CLI: the real package index (`network`) and the real engine + local registry
mirror with stand-in base images (`engine`; `scripts/dev-env up`). The nvidia/cuda stand-ins carry the real
images' CUDA environment but no CUDA: they prove the pipeline, not CUDA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cogpin import config as config_mod
from cogpin.lock import Lock
from cogpin.lock.make import make_lock
from cogpin.resolver.compat import Flags
from cogpin.settings import Settings
from tests.resolver_fixtures import TagImageSource

EXE = str(Path(sys.executable).with_name("cogpin"))


def project(root: Path, gpu: bool, python: str, reqs: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cog.yaml").write_text(
        f'build:\n  gpu: {str(gpu).lower()}\n  python_version: "{python}"\n'
        '  python_requirements: requirements.txt\npredict: "predict.py:Predictor"\n'
    )
    (root / "requirements.txt").write_text("".join(r + "\n" for r in reqs))
    (root / "predict.py").write_text("class Predictor:\n    pass\n")
    return root


@pytest.mark.network
def test_real_index_seed_closure(tmp_path):
    """torch==2.3.1 gpu:true on the real index: the default wheel is cu121 (nvidia-*-cu12 deps)."""
    root = project(tmp_path / "seed", True, "3.12", ["torch==2.3.1"])
    config = config_mod.load_config(root / "cog.yaml")
    settings = Settings.from_env({k: v for k, v in os.environ.items() if not k.endswith("FIND_LINKS")})
    lock = make_lock(config, Flags(), settings, images=TagImageSource())
    versions = {p["name"]: p["version"] for p in lock.packages}
    assert versions["torch"] == "2.3.1"
    assert versions["nvidia-cudnn-cu12"] == "8.9.2.26" and versions["nvidia-cuda-runtime-cu12"] == "12.1.105"
    assert lock.locked["torch"]["cudnn"] == "8.9.2.26"
    assert lock.locked["torch"]["wheel-source"] == "https://pypi.org/simple"
    assert all(len(w["sha256"]) == 64 for p in lock.packages for w in p["wheel"])


@pytest.mark.network
def test_real_index_torch_1_13(tmp_path):
    """torch < 2.0 as Cog's compatibility data has it (issue 14): 1.13.1 gpu:true on the real index is the
    cu117 default wheel (nvidia-*-cu11 deps), on Python 3.10 (Cog's and cogpin's minimum)."""
    root = project(tmp_path / "t113", True, "3.10", ["torch==1.13.1", "torchvision"])
    config = config_mod.load_config(root / "cog.yaml")
    settings = Settings.from_env({k: v for k, v in os.environ.items() if not k.endswith("FIND_LINKS")})
    lock = make_lock(config, Flags(), settings, images=TagImageSource())
    versions = {p["name"]: p["version"] for p in lock.packages}
    assert versions["torch"] == "1.13.1" and versions["torchvision"] == "0.14.1"
    assert versions["nvidia-cudnn-cu11"] == "8.5.0.96" and versions["nvidia-cuda-runtime-cu11"] == "11.7.99"
    assert lock.locked["cuda"].startswith("11.7.") and lock.locked["torch"]["cudnn"] == "8.5.0.96"
    assert all(len(w["sha256"]) == 64 for p in lock.packages for w in p["wheel"])


@pytest.mark.parametrize(
    ("torch", "gpu", "cuda", "expected"),
    [
        ("1.13.1", True, None, "torch       1.13.1 cu117 (default wheel on the package index)"),
        ("1.13.0", True, "11.6", "torch       1.13.0 cu116 (https://download.pytorch.org/whl/cu116)"),
        ("1.12.1", True, None, "torch       1.12.1 cu116 (https://download.pytorch.org/whl/cu116)"),
        ("1.11.0", True, None, "torch       1.11.0 cu113 (https://download.pytorch.org/whl/cu113)"),
        ("1.12.1", False, None, "torch       1.12.1 cpu (https://download.pytorch.org/whl/cpu)"),
    ],
)
def test_old_torch_plans_through_the_cli(tmp_path, torch, gpu, cuda, expected):
    root = project(tmp_path / "old", gpu, "3.10", [f"torch=={torch}"])
    if cuda:
        text = (root / "cog.yaml").read_text().replace("  gpu: true\n", f'  gpu: true\n  cuda: "{cuda}"\n')
        (root / "cog.yaml").write_text(text)
    r = subprocess.run([EXE, "resolve"], cwd=root, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert expected in r.stdout
    bad = project(tmp_path / "old311", gpu, "3.11", [f"torch=={torch}"])
    r = subprocess.run([EXE, "resolve"], cwd=bad, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and f"torch {torch} has no wheels for Python 3.11" in r.stderr


@pytest.mark.network
def test_real_index_cpu_torch_from_find_links(tmp_path):
    if not Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").is_file():
        pytest.skip("this machine's find-links CPU torch wheel is not there")
    root = project(tmp_path / "cpu", False, "3.11", ["torch==2.13.0"])
    config = config_mod.load_config(root / "cog.yaml")
    lock = make_lock(config, Flags(), Settings.from_env(), images=TagImageSource())
    torch = next(p for p in lock.packages if p["name"] == "torch")
    assert (
        torch["version"] == "2.13.0+cpu"
        and torch["source"] == "find-links"
        and "url" not in torch["wheel"][0]
    )
    assert not [p for p in lock.packages if p["name"].startswith("nvidia-")]


@pytest.mark.engine
@pytest.mark.network
def test_seed_locks_through_the_mirror(tmp_path):
    root = project(tmp_path / "seed", True, "3.12", ["torch==2.3.1"])
    out = subprocess.run([EXE, "lock"], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lock = Lock.load(root / "cog.lock")
    loc = lock.locked
    assert loc["cuda"].startswith("12.1") and loc["cudnn"].startswith("8.9")
    assert loc["torch"]["index-url"].endswith("/whl/cu121") and loc["torch"]["cudnn"] == "8.9.2.26"
    base = loc["base"][0]
    assert base["image"] == "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04" and base["digest"].startswith(
        "sha256:"
    )
    assert loc["python-source"] == "standalone" and loc["standalone-python"]["sha256"]
    assert all(len(w["sha256"]) == 64 for p in lock.packages for w in p["wheel"])
    # no-op re-lock, then --check; then a changed requirement is named
    mtime = (root / "cog.lock").stat().st_mtime_ns
    assert subprocess.run([EXE, "lock"], cwd=root, capture_output=True).returncode == 0
    assert (root / "cog.lock").stat().st_mtime_ns == mtime
    assert subprocess.run([EXE, "lock", "--check"], cwd=root, capture_output=True).returncode == 0
    (root / "requirements.txt").write_text("torch==2.4.0\n")
    out = subprocess.run([EXE, "lock", "--check"], cwd=root, capture_output=True, text=True)
    assert out.returncode == 1 and "requirements.txt: torch==2.3.1 → torch==2.4.0" in out.stdout
    out = subprocess.run(
        [EXE, "resolve", "--json", "--driver", "470"], cwd=root, capture_output=True, text=True
    )
    assert json.loads(out.stdout)["torch"]["variant"] == "cu118"


@pytest.mark.engine
@pytest.mark.network
def test_cpu_lock_through_the_mirror(tmp_path):
    if not Path("/opt/wheels").is_dir():
        pytest.skip("no find-links CPU torch on this machine")
    root = project(tmp_path / "cpu", False, "3.11", ["torch==2.13.0"])
    out = subprocess.run([EXE, "lock"], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lock = Lock.load(root / "cog.lock")
    assert lock.locked["python"].startswith("3.11.") and lock.locked["python-source"] == "image"
    assert lock.locked["base"][0]["image"] == "python:3.11-slim-bookworm"
