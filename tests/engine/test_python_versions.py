"""Every Python the development environment has a base image for locks, builds and predicts: 3.11 (Debian
bookworm's CPython) and 3.13 (Debian trixie's, under the tag the resolver picks, `python:3.13-slim-bookworm`:
a labelled stand-in). A Python with no base image fails before anything is built, naming the versions the
engine's registry mirror does have. Real CLI, engine and local registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.test_journey import cli, ok

pytestmark = pytest.mark.engine

PREDICT = """import sys

from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, s: str) -> str:
        return s + " on " + ".".join(map(str, sys.version_info[:2]))
"""


def _project(root: Path, python: str) -> Path:
    root.mkdir(parents=True)
    (root / "cog.yaml").write_text(f'build:\n  python_version: "{python}"\npredict: "predict.py:Predictor"\n')
    (root / "predict.py").write_text(PREDICT)
    return root


@pytest.mark.parametrize("python", ["3.11", "3.13"])
def test_lock_build_predict_on_each_python_the_dev_env_provides(tmp_path: Path, python: str, dev_env) -> None:
    import docker

    root = _project(tmp_path / f"pyver-{python.replace('.', '')}", python)
    ok(cli("lock", cwd=root))
    lock_text = (root / "cog.lock").read_text()
    assert f"python:{python}-slim-bookworm" in lock_text
    tag = f"cogpin-test-pyver:{python.replace('.', '')}"
    try:
        ok(cli("build", "-t", tag, cwd=root))
        r = ok(cli("predict", tag, "-i", "s=hello", cwd=root))
        assert r.stdout.strip() == f"hello on {python}"
        labels = docker.from_env().images.get(tag).labels
        assert json.loads(labels["run.cog.config"])["build"]["python_version"] == python
    finally:
        try:
            docker.from_env().images.remove(tag, force=True)
        except Exception:
            pass


def test_a_python_with_no_base_image_names_the_ones_there_are(tmp_path: Path, dev_env) -> None:
    root = _project(tmp_path / "pyver-missing", "3.12")
    r = cli("lock", cwd=root)
    assert r.returncode != 0
    assert "python:3.12-slim-bookworm" in r.stderr
    assert "python:3.11-slim-bookworm" in r.stderr and "python:3.13-slim-bookworm" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (root / "cog.lock").exists()
