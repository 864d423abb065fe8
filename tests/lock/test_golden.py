"""Golden lock files for a table of configs, resolved with the real uv against a local wheelhouse of tiny
wheels (find-links) and a fake registry (digests derived from tags). No network, no engine.

Regenerate: COGPIN_UPDATE_GOLDEN=1 python -m pytest tests/lock/test_golden.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cogpin import config as config_mod
from cogpin.lock.make import make_lock
from cogpin.resolver.compat import Flags, ResolveError
from tests.resolver_fixtures import TagImageSource, local_settings, write_project

GOLDEN = Path(__file__).parents[1] / "golden" / "locks"

# name -> (cog.yaml build keys, requirements, flags)
CASES = {
    "cpu-torch-2.3.1": ({"gpu": "false", "python_version": '"3.11"'}, ["torch==2.3.1", "torchvision"], {}),
    "seed-gpu-torch-2.3.1": ({"gpu": "true", "python_version": '"3.12"'}, ["torch==2.3.1"], {}),
    "gpu-torch-2.3.1-driver-470": (
        {"gpu": "true", "python_version": '"3.12"'},
        ["torch==2.3.1"],
        {"driver": "470"},
    ),
    "gpu-torch-2.3.1-cuda-11.8": (
        {"gpu": "true", "python_version": '"3.11"', "cuda": '"11.8"'},
        ["torch==2.3.1"],
        {},
    ),
    "gpu-torch-2.0.1": ({"gpu": "true", "python_version": '"3.11"'}, ["torch==2.0.1"], {}),
    "gpu-torch-2.7.1-sm_120": (
        {"gpu": "true", "python_version": '"3.12"'},
        ["torch==2.7.1"],
        {"gpu_archs": ["sm_120"]},
    ),
    "gpu-torch-2.13.0": ({"gpu": "true", "python_version": '"3.12"'}, ["torch==2.13.0"], {}),
    "gpu-torch-2.13.0-sm_70-devel": (
        {"gpu": "true", "python_version": '"3.12"'},
        ["torch==2.13.0"],
        {"gpu_archs": ["sm_70"], "cuda_flavor": "devel"},
    ),
    "gpu-no-torch": ({"gpu": "true", "python_version": '"3.11"'}, ["tinydep"], {}),
    "cpu-arm64": (
        {"gpu": "false", "python_version": '"3.11"'},
        ["pillowish", "tinydep==1.0"],
        {"platforms": ["linux/arm64"]},
    ),
}


def normalise(text: str) -> str:
    """The runtime wheel's hash follows the runtime's sources (owned elsewhere): not part of the golden."""
    text = re.sub(r'(\[runtime\]\n(?:.*\n)*?sha256 = )"[0-9a-f]+"', r'\1"<runtime>"', text)
    return re.sub(r'(\[runtime\]\n(?:.*\n)*?version = )"[^"]+"', r'\1"<runtime>"', text)


def lock_case(tmp_path: Path, name: str):
    build, reqs, fl = CASES[name]
    root = write_project(tmp_path / name, build, reqs)
    settings = local_settings(tmp_path)
    config = config_mod.load_config(root / "cog.yaml")
    return make_lock(config, Flags.from_options(**fl), settings, images=TagImageSource()), config, settings


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_lock(tmp_path, offline, name):
    lock, _, _ = lock_case(tmp_path, name)
    text = normalise(lock.dumps())
    assert "/tmp" not in text and str(tmp_path) not in text, "a machine path leaked into the lock"
    golden = GOLDEN / f"{name}.lock"
    if os.environ.get("COGPIN_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.is_file(), f"missing {golden}: run with COGPIN_UPDATE_GOLDEN=1"
    assert text == golden.read_text()


def test_seed_lock_content(tmp_path, offline):
    lock, _, _ = lock_case(tmp_path, "seed-gpu-torch-2.3.1")
    loc = lock.locked
    assert loc["cuda"] == "12.1.1" and loc["cudnn"].startswith("8.9")
    assert loc["torch"] == {
        "cudnn": "8.9.2.26",
        "index-url": "https://download.pytorch.org/whl/cu121",
        "variant": "cu121",
        "version": "2.3.1",
        "wheel-source": "find-links",
    }
    assert loc["base"][0]["image"] == "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"
    assert loc["base"][0]["digest"].startswith("sha256:")
    assert loc["python-source"] == "standalone" and loc["python"].startswith("3.12.")
    assert loc["standalone-python"]["sha256"] and loc["standalone-python"]["filename"].startswith(
        "cpython-3.12"
    )
    names = {p["name"] for p in lock.packages}
    assert {"torch", "nvidia-cudnn-cu12", "nvidia-cuda-runtime-cu12", "tinydep"} <= names
    assert all(re.fullmatch(r"[0-9a-f]{64}", w["sha256"]) for p in lock.packages for w in p["wheel"])


def test_cpu_lock_has_no_cuda(tmp_path, offline):
    lock, _, _ = lock_case(tmp_path, "cpu-torch-2.3.1")
    torch = next(p for p in lock.packages if p["name"] == "torch")
    assert torch["version"] == "2.3.1+cpu" and torch["requested"] == "torch==2.3.1"
    assert not [p for p in lock.packages if p["name"].startswith("nvidia-")]
    assert lock.locked["base"][0]["env"]["PYTHON_VERSION"] == lock.locked["python"]


def test_arm64_wheels_per_platform(tmp_path, offline):
    lock, _, _ = lock_case(tmp_path, "cpu-arm64")
    pkg = next(p for p in lock.packages if p["name"] == "pillowish")
    assert {(w["platform"], w["filename"]) for w in pkg["wheel"]} == {
        ("linux/amd64", "pillowish-10.0.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
        ("linux/arm64", "pillowish-10.0.0-cp311-cp311-manylinux_2_28_aarch64.whl"),
    }
    assert [b["platform"] for b in lock.locked["base"]] == ["linux/amd64", "linux/arm64"]


def test_sdist_only_is_a_clear_error(tmp_path, offline):
    root = write_project(tmp_path / "p", {"gpu": "false", "python_version": '"3.11"'}, ["sdistonly"])
    config = config_mod.load_config(root / "cog.yaml")
    with pytest.raises(ResolveError) as e:
        make_lock(config, Flags(), local_settings(tmp_path), images=TagImageSource())
    assert "sdistonly" in str(e.value)


def test_variant_index_unreachable_is_a_clear_error(tmp_path, offline):
    root = write_project(tmp_path / "p", {"gpu": "true", "python_version": '"3.12"'}, ["torch==2.4.1"])
    config = config_mod.load_config(root / "cog.yaml")
    with pytest.raises(ResolveError) as e:
        make_lock(config, Flags(), local_settings(tmp_path), images=TagImageSource())
    assert (
        "torch 2.4.1+cu124 comes from the PyTorch index https://download.pytorch.org/whl/cu124"
        in e.value.message
    )
    assert "COGPIN_TORCH_INDEX_URL" in (e.value.hint or "")
