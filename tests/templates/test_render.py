"""Dockerfile rendering (pure) against golden files. Regenerate the golden files with
COGPIN_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from cogpin.config import load_config
from cogpin.templates import RenderOptions, label_quote, render, run_step
from tests.build_fixtures import (
    CUDA_DEVEL,
    CUDA_RUNTIME,
    PY_BASE,
    TORCH,
    lock_text,
    sha,
)

GOLDEN = Path(__file__).parents[1] / "golden" / "dockerfiles"


UPDATE = os.environ.get("COGPIN_UPDATE_GOLDEN") == "1"


CASES = {
    "cpu": (
        'build:\n  python_version: "3.11"\n  python_packages: ["torch==2.13.0", "pillow", "numpy"]\npredict: "predict.py:Predictor"\n',
        lock_text(packages=TORCH),
        RenderOptions(),
    ),
    "hello-world": (
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n',
        lock_text(),
        RenderOptions(),
    ),
    "gpu-runtime": (
        'build:\n  gpu: true\n  python_version: "3.11"\n  python_packages: ["numpy"]\npredict: "predict.py:Predictor"\n',
        lock_text(
            base=CUDA_RUNTIME, packages=(("numpy", "2.1.3"),), gpu=True, python="3.11.9", standalone=True
        ),
        RenderOptions(),
    ),
    # the lock pins setuptools, which a standalone archive may ship: removed in the python stage
    "gpu-setuptools": (
        'build:\n  gpu: true\n  python_version: "3.11"\n  python_packages: ["setuptools==75.8.0"]\npredict: "predict.py:Predictor"\n',
        lock_text(
            base=CUDA_RUNTIME,
            packages=(("numpy", "2.1.3"), ("setuptools", "75.8.0")),
            gpu=True,
            python="3.11.9",
            standalone=True,
        ),
        RenderOptions(),
    ),
    "gpu-devel": (
        'build:\n  gpu: true\n  cuda: "12.1"\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n',
        lock_text(base=CUDA_DEVEL, gpu=True, python="3.11.9", standalone=True),
        RenderOptions(),
    ),
    "system-packages": (
        'build:\n  python_version: "3.11"\n  system_packages: ["libgl1", "ffmpeg"]\npredict: "predict.py:Predictor"\n',
        lock_text(system_packages=("ffmpeg", "libgl1")),
        RenderOptions(),
    ),
    "build-run-secrets": (
        textwrap.dedent(
            """\
            build:
              python_version: "3.11"
              run:
                - echo plain step
                - command: 'curl -H "Authorization: Bearer $(cat /run/secrets/hf)" -o /tmp/w https://example.invalid/w'
                  mounts:
                    - type: secret
                      id: hf
                      target: /run/secrets/hf
                - |
                  set -e
                  echo first line
                  echo second line
            predict: "predict.py:Predictor"
            """
        ),
        lock_text(),
        RenderOptions(),
    ),
    "environment": (
        'build:\n  python_version: "3.11"\nenvironment:\n  - HF_HOME=/src/.hf\n  - GREETING=say "hi" to $USER\npredict: "predict.py:Predictor"\n',
        lock_text(),
        RenderOptions(),
    ),
    "ca-cert": (
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n',
        lock_text(),
        RenderOptions(ca_cert=True),
    ),
    "train": (
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\ntrain: "train.py:train"\n',
        lock_text(),
        RenderOptions(),
    ),
    "concurrency": (
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\nconcurrency:\n  max: 4\n',
        lock_text(),
        RenderOptions(),
    ),
    # no predict: (only the environment, for `cog run`/`cog exec`): no empty ENV line (issue 14)
    "no-predictor": ('build:\n  python_version: "3.11"\n', lock_text(), RenderOptions()),
    "environment-image": (
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n',
        lock_text(),
        RenderOptions(include_project=False),
    ),
}


def config_from(tmp_path: Path, yaml_text: str):  # type: ignore[no-untyped-def]
    (tmp_path / "cog.yaml").write_text(yaml_text)
    (tmp_path / "predict.py").write_text("")
    (tmp_path / "train.py").write_text("")
    return load_config(tmp_path / "cog.yaml")


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_dockerfile(name: str, tmp_path: Path) -> None:
    yaml_text, lock, options = CASES[name]
    text = render(lock, config_from(tmp_path, yaml_text), options)
    golden = GOLDEN / f"{name}.Dockerfile"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.is_file(), f"no golden file {golden}; run with COGPIN_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), (
        f"{name}: rendered Dockerfile differs from {golden} (COGPIN_UPDATE_GOLDEN=1 to accept)"
    )


def test_render_is_pure_and_pins_the_base_by_digest(tmp_path: Path) -> None:
    yaml_text, lock, options = CASES["cpu"]
    config = config_from(tmp_path, yaml_text)
    first, second = render(lock, config, options), render(lock, config, options)
    assert first == second
    froms = [line for line in first.splitlines() if line.startswith("FROM ")]
    assert froms == [f"FROM {PY_BASE[0]}@{PY_BASE[1]}"]


def test_step_order_caches_well(tmp_path: Path) -> None:
    """apt before packages before runtime before build.run before the project, which is copied last."""
    yaml_text = 'build:\n  python_version: "3.11"\n  system_packages: [git]\n  run: ["echo hi"]\npredict: "predict.py:Predictor"\n'
    text = render(lock_text(packages=TORCH, system_packages=("git",)), config_from(tmp_path, yaml_text))
    order = [
        text.index("apt-get install"),
        text.index("'torch==2.13.0+cpu"),
        text.index("'cogpin-runtime==0.1.0"),
        text.index("RUN echo hi"),
        text.index("WORKDIR /src"),
        text.index("COPY project/ /"),
    ]
    assert order == sorted(order)
    assert text.rstrip().splitlines()[-1] == "COPY project/ /"


def test_a_package_change_leaves_the_apt_step_alone(tmp_path: Path) -> None:
    yaml_text = (
        'build:\n  python_version: "3.11"\n  system_packages: [git]\npredict: "predict.py:Predictor"\n'
    )
    config = config_from(tmp_path, yaml_text)
    a = render(lock_text(packages=(("numpy", "2.1.3"),)), config).split("\n\n")
    b = render(lock_text(packages=(("numpy", "2.1.2"),)), config).split("\n\n")
    apt_a = next(block for block in a if "apt-get" in block)
    apt_b = next(block for block in b if "apt-get" in block)
    assert apt_a == apt_b


def test_install_is_offline_hash_checked_and_leaves_no_cache(tmp_path: Path) -> None:
    text = render(lock_text(packages=TORCH), config_from(tmp_path, CASES["cpu"][0]))
    for flag in (
        "--no-index",
        "--require-hashes",
        "--no-deps",
        "--no-cache-dir",
        "--find-links http://127.0.0.1:",
    ):
        assert flag in text
    assert f"torch==2.13.0+cpu --hash=sha256:{sha('torch-2.13.0+cpu-py3-none-any.whl')}" in text
    assert "SOURCE_DATE_EPOCH=" in text  # hash-based .pyc files


def test_label_quoting_round_trips_through_dockerfile_rules() -> None:
    value = '{"a":"b \\"q\\" $HOME \\\\"}'
    quoted = label_quote(value)
    # Undo Docker's rules for a double-quoted word: backslash escapes the next character.
    out, i, inner = [], 0, quoted[1:-1]
    while i < len(inner):
        if inner[i] == "\\":
            i += 1
        out.append(inner[i])
        i += 1
    assert "".join(out) == value
    assert "\\$HOME" in quoted


def test_multiline_run_step_uses_exec_form(tmp_path: Path) -> None:
    config = config_from(tmp_path, CASES["build-run-secrets"][0])
    steps = [run_step(s) for s in config.run]
    assert steps[0] == "echo plain step"
    assert steps[1].startswith("--mount=type=secret,id=hf,target=/run/secrets/hf curl ")
    assert steps[2] == '["/bin/sh", "-c", "set -e\\necho first line\\necho second line"]'
