"""Cog compatibility, the long tail (issue 14), through the real CLI, the real engine and the runtime:
projects and commands as Cog's documentation has them, and the lines Cog prints that scripts grep."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

BIN = Path(sys.executable).parent
COG = str(BIN / "cog") if (BIN / "cog").exists() else shutil.which("cog") or "cog"


def cli(
    *args: str, cwd: Path, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    return subprocess.run(
        [COG, *args], cwd=cwd, env=full_env, input=input, capture_output=True, text=True, timeout=timeout
    )


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


def no_traceback(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def docker_client():
    import docker

    c = docker.from_env(timeout=300)
    yield c
    # the raw listing: on a shared engine an image can vanish between a list and its inspect
    for img in c.api.images():
        for t in img.get("RepoTags") or []:
            if t.startswith("cogpin-compat"):
                try:
                    c.images.remove(t)
                except Exception:  # noqa: BLE001 - another tag may still name it
                    pass


def project(root: Path, cog_yaml: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cog.yaml").write_text(cog_yaml)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


# ------------------------------------------------------------------------------------------------- crashes


def test_no_predict_builds_and_runs_commands(tmp_path: Path, docker_client) -> None:
    """A cog.yaml with only `build:` (Cog's tutorial for `cog run python`) builds, and `cog run` works."""
    root = project(tmp_path / "env-only", 'build:\n  python_version: "3.11"\n')
    ok(cli("lock", cwd=root))
    r = no_traceback(ok(cli("build", "-t", "cogpin-compat-envonly:1", cwd=root)))
    assert "Image built as cogpin-compat-envonly:1" in r.stderr
    labels = docker_client.images.get("cogpin-compat-envonly:1").labels
    assert "run.cog.openapi_schema" not in labels and "run.cog.config" in labels
    r = ok(cli("run", "python", "-c", "import cog, sys; print('py', sys.version_info[:2])", cwd=root))
    assert "py (3, 11)" in r.stdout
    r = ok(cli("exec", "python", "-c", "print(6 * 7)", cwd=root))
    assert r.stdout.strip().endswith("42")
    r = no_traceback(cli("predict", cwd=root))
    assert r.returncode == 1 and "has no predict: entry" in r.stderr


COG_YAML = 'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\ntrain: "train.py:train"\n'

PREDICT = """
from typing import Optional
from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def predict(self, s: str = Input(default="x"), quiet: bool = False) -> Optional[str]:
        if quiet:
            return None
        return "got " + s
"""

TRAIN = """
from cog import Input, Path

def train(n: int = Input(default=2, ge=1), tag: str = "w") -> Path:
    out = Path("/tmp/weights.bin")
    out.write_bytes((tag * n).encode())
    return out
"""


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory, docker_client) -> Path:
    root = project(
        tmp_path_factory.mktemp("compat") / "m", COG_YAML, {"predict.py": PREDICT, "train.py": TRAIN}
    )
    ok(cli("lock", cwd=root))
    return root


@pytest.fixture
def model(tmp_path: Path, locked: Path) -> Path:
    root = tmp_path / "model"
    shutil.copytree(locked, root)
    return root


# ------------------------------------------------------------------------------------- commands and flags


def test_run_has_both_meanings(model: Path, docker_client) -> None:
    r = ok(cli("run", "--help", cwd=model))
    assert "PREDICTION" in r.stdout and "COMMAND" in r.stdout and "cog run python" in r.stdout
    # a prediction flag first: a prediction from source (Cog >= 0.22)
    r = no_traceback(ok(cli("run", "-i", "s=hello", cwd=model)))
    assert r.stdout.strip() == "got hello"
    # otherwise a command, whose own flags are its own (`python -c`, and `-i` after the command)
    r = ok(cli("run", "python", "-c", "import sys; print('args', sys.argv[1:])", "-i", "x", cwd=model))
    assert "args ['-i', 'x']" in r.stdout
    # the first argument an image with Cog's labels: a prediction on that image
    ok(cli("build", "-t", "cogpin-compat-run:1", cwd=model))
    r = no_traceback(ok(cli("run", "cogpin-compat-run:1", "-i", "s=img", cwd=model.parent)))
    assert r.stdout.strip() == "got img"
    # and an unknown input there is refused as `cog predict` refuses it
    r = no_traceback(cli("run", "cogpin-compat-run:1", "-i", "nope=1", cwd=model.parent))
    assert r.returncode == 1 and 'unknown input "nope"' in r.stderr


def test_predict_json_from_stdin_and_no_output(model: Path) -> None:
    r = no_traceback(ok(cli("predict", "--json", "-", cwd=model, input='{"s": "from stdin"}')))
    prediction = json.loads(r.stdout)
    assert prediction["status"] == "succeeded" and prediction["output"] == "got from stdin"
    r = no_traceback(ok(cli("predict", "--json", "@-", cwd=model, input='{"input": {"s": "body"}}')))
    assert json.loads(r.stdout)["output"] == "got body"
    r = no_traceback(ok(cli("predict", "-i", "quiet=true", cwd=model)))
    assert "No output generated" in r.stderr and r.stdout.strip() == ""


def test_unknown_input_before_anything_is_built(tmp_path: Path, docker_client) -> None:
    """Cog reads the inputs from the source first: a typo is reported before a lock, image or container."""
    root = project(tmp_path / "cpc-typo", COG_YAML, {"predict.py": PREDICT, "train.py": TRAIN})
    r = no_traceback(cli("predict", "-i", "nope=1", "-i", "s=y", cwd=root, timeout=60))
    assert r.returncode == 1
    assert 'error: unknown input "nope"' in r.stderr and "valid inputs are: quiet, s" in r.stderr
    assert not (root / "cog.lock").exists()
    # the engine is shared: no image of this project (cog-<folder>[-env]), rather than no image at all
    assert not [
        t for i in docker_client.api.images() for t in i.get("RepoTags") or [] if t.startswith("cog-cpc-typo")
    ]
    r = no_traceback(cli("train", "-i", "epochs=3", cwd=root, timeout=60))
    assert r.returncode == 1 and 'unknown input "epochs"' in r.stderr and not (root / "cog.lock").exists()


def test_train_writes_weights(model: Path) -> None:
    r = no_traceback(ok(cli("train", "-i", "n=3", "-i", "tag=ab", cwd=model)))
    assert (model / "weights").read_bytes() == b"ababab"
    assert "Written output to: weights" in r.stderr
    r = no_traceback(ok(cli("train", "-i", "n=1", "-o", "out/w.bin", cwd=model)))
    assert (model / "out" / "w.bin").read_bytes() == b"w"
    r = no_traceback(cli("train", "-i", "n=0", cwd=model))
    assert r.returncode == 1 and "n" in r.stderr  # ge=1, checked before the container starts


def test_doctor_reports_fixes_and_exits_non_zero(tmp_path: Path) -> None:
    broken = """
from cog import BasePredictor
from cog.types import ExperimentalFeatureWarning

class Predictor(BasePredictor):
    def predict(self, s: str, n=3):
        return s
"""
    root = project(
        tmp_path / "doc",
        'build:\n  python_version: "3.11"\n  pre_install:\n    - echo hi\npredict: "predict.py:Predictor"\n',
        {"predict.py": broken},
    )
    r = no_traceback(cli("doctor", cwd=root))
    assert r.returncode == 1, r.stdout
    for line in (
        "Running cog doctor...",
        "⚠ Deprecated fields",
        "predict in cog.yaml is deprecated; use run with run.py:Runner",
        "predict.py:3 — ExperimentalFeatureWarning was removed in cog 0.17",
        "Predictor.predict() is missing a return type annotation",
        "input 'n' has no type annotation",
        "✓ Docker",
        'Run "cog doctor --fix" to auto-fix.',
    ):
        assert line in r.stdout, (line, r.stdout)
    r = no_traceback(cli("doctor", "--fix", cwd=root))
    assert (
        "✓ Fixed: Deprecated predict interface names" in r.stdout
        and "✓ Fixed: Deprecated imports" in r.stdout
    )
    assert (root / "run.py").is_file() and not (root / "predict.py").exists()
    assert 'run: "run.py:Runner"' in (root / "cog.yaml").read_text()
    assert "ExperimentalFeatureWarning" not in (root / "run.py").read_text()
    assert r.returncode == 1  # the unannotated input has no safe fix
    (root / "run.py").write_text((root / "run.py").read_text().replace("n=3):", "n: int = 3) -> str:"))
    (root / "cog.yaml").write_text(
        (root / "cog.yaml").read_text().replace("  pre_install:\n    - echo hi\n", "")
    )
    ok(cli("lock", cwd=root))
    r = no_traceback(ok(cli("doctor", cwd=root)))
    assert "no issues found" in r.stdout or "Found 0 errors" not in r.stdout
    # the migrated project still predicts (BaseRunner/run())
    r = no_traceback(ok(cli("predict", "-i", "s=migrated", cwd=root)))
    assert r.stdout.strip() == "migrated"


def test_secret_from_env_with_relative_target(tmp_path: Path, docker_client) -> None:
    import hashlib

    digest = hashlib.sha256(b"s3cret-env").hexdigest()  # the step compares hashes: no secret in cog.yaml
    cog_yaml = (
        'build:\n  python_version: "3.11"\n  run:\n'
        f'    - command: test "$(sha256sum < tok | cut -c1-64)" = "{digest}"\n'
        "      mounts:\n        - {type: secret, id: tok, target: tok}\n"
        'predict: "predict.py:Predictor"\n'
    )
    root = project(tmp_path / "secret", cog_yaml, {"predict.py": PREDICT})
    ok(cli("lock", cwd=root))
    env = {"MY_TOKEN": "s3cret-env"}
    r = no_traceback(
        ok(cli("build", "-t", "cogpin-compat-secret:1", "--secret", "id=tok,env=MY_TOKEN", cwd=root, env=env))
    )
    assert "Image built as cogpin-compat-secret:1" in r.stderr
    history = json.dumps(docker_client.images.get("cogpin-compat-secret:1").history())
    assert "s3cret-env" not in history
    # Cog's other spelling, a file relative to the current folder
    (root / "tok.txt").write_text("s3cret-env")
    ok(cli("build", "-t", "cogpin-compat-secret:2", "--no-cache", "--secret", "id=tok,src=tok.txt", cwd=root))
    r = no_traceback(cli("build", "--secret", "id=tok,env=NOT_SET_ANYWHERE", cwd=root))
    assert r.returncode == 1 and "the environment variable NOT_SET_ANYWHERE is not set" in r.stderr


def test_python_below_3_10_is_refused_as_cog_refuses_it(tmp_path: Path) -> None:
    root = project(tmp_path / "py39", 'build:\n  python_version: "3.9"\npredict: "predict.py:Predictor"\n')
    for command in ("lock", "build"):
        r = no_traceback(cli(command, cwd=root, timeout=60))
        assert r.returncode == 1
        assert "build.python_version: minimum supported Python version is 3.10 (got 3.9)" in r.stderr


# ------------------------------------------------------------------------------------------- requirements

PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
"""

LOCAL_PREDICT = """
from cog import BasePredictor
import folderpkg, sdpkg, whlpkg, zippkg

class Predictor(BasePredictor):
    def predict(self) -> str:
        return " / ".join([folderpkg.VALUE, sdpkg.VALUE, whlpkg.VALUE, zippkg.VALUE])
"""


def _package(root: Path, name: str, version: str, value: str) -> Path:
    (root / name).mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT.format(name=name, version=version))
    (root / name / "__init__.py").write_text(f"VALUE = {value!r}\n")
    return root


def test_local_artifacts_are_locked_built_and_checked(tmp_path: Path, docker_client) -> None:
    """Cog installs local requirements as they are; cogpin hashes them into the lock, builds an sdist or
    a folder into a wheel deterministically, and a changed artifact makes the lock stale (issue 14)."""
    import zipfile

    from uv import find_uv_bin

    root = tmp_path / "localreq"
    (root / "dist").mkdir(parents=True)
    src = tmp_path / "sources"
    for name, version, kind in (("sdpkg", "0.1.0", "--sdist"), ("whlpkg", "1.0.0", "--wheel")):
        _package(src / name, name, version, f"from {name}")
        subprocess.run(
            [
                find_uv_bin(),
                "build",
                kind,
                "--no-config",
                "-q",
                "--out-dir",
                str(root / "dist"),
                str(src / name),
            ],
            check=True,
            timeout=300,
        )
    zsrc = _package(src / "zippkg-0.3.0", "zippkg", "0.3.0", "from zippkg")
    with zipfile.ZipFile(root / "dist" / "zippkg-0.3.0.zip", "w") as z:
        for f in sorted(zsrc.rglob("*")):
            if f.is_file():
                z.write(f, f"zippkg-0.3.0/{f.relative_to(zsrc)}")
    _package(root / "pkgs" / "folderpkg", "folderpkg", "0.2.0", "from folderpkg")
    (root / "requirements.txt").write_text(
        "./dist/sdpkg-0.1.0.tar.gz\n./dist/whlpkg-1.0.0-py3-none-any.whl\n./dist/zippkg-0.3.0.zip\n./pkgs/folderpkg\n"
    )
    project(
        root,
        'build:\n  python_version: "3.11"\n  python_requirements: requirements.txt\npredict: "predict.py:Predictor"\n',
        {"predict.py": LOCAL_PREDICT},
    )
    ok(cli("lock", cwd=root))
    lock_text = (root / "cog.lock").read_text()
    for rel in (
        "dist/sdpkg-0.1.0.tar.gz",
        "dist/whlpkg-1.0.0-py3-none-any.whl",
        "dist/zippkg-0.3.0.zip",
        "pkgs/folderpkg",
    ):
        assert f'"{rel}" = "sha256:' in lock_text
    for wheel in (
        "sdpkg-0.1.0-py3-none-any.whl",
        "zippkg-0.3.0-py3-none-any.whl",
        "folderpkg-0.2.0-py3-none-any.whl",
    ):
        assert f'filename = "{wheel}"' in lock_text
    # another machine (an empty cache): the wheels are built again, byte for byte the locked ones
    fresh = {"COGPIN_CACHE_DIR": str(tmp_path / "other-machine-cache")}
    r = no_traceback(ok(cli("build", "-t", "cogpin-compat-local:1", cwd=root, env=fresh)))
    assert "building a wheel from pkgs/folderpkg" in r.stderr
    r = ok(cli("predict", "cogpin-compat-local:1", cwd=root))
    assert r.stdout.strip() == "from folderpkg / from sdpkg / from whlpkg / from zippkg"
    # a changed artifact: the lock is stale, and says which artifact
    (root / "pkgs" / "folderpkg" / "folderpkg" / "__init__.py").write_text("VALUE = 'changed'\n")
    r = cli("lock", "--check", cwd=root)
    assert r.returncode == 1 and "local artifact pkgs/folderpkg: changed (sha256:" in r.stdout
    r = no_traceback(cli("build", cwd=root))
    assert r.returncode == 1 and "local artifact pkgs/folderpkg: changed" in r.stderr
    # re-locking takes the changed folder; the unchanged wheel keeps its pin
    ok(cli("lock", cwd=root))
    new_text = (root / "cog.lock").read_text()
    assert new_text != lock_text and 'filename = "whlpkg-1.0.0-py3-none-any.whl"' in new_text


# ------------------------------------------------------------------------------------------ SDK and schema

OPTIONAL = """
from typing import Optional
from cog import BasePredictor, Input, Secret

class Predictor(BasePredictor):
    def predict(self, b: Optional[str] = Input(description="no default"), s: Optional[Secret] = None) -> str:
        return f"b={b!r} s={'set' if s is not None else None}"
"""


def test_optional_input_without_default_is_none(model: Path) -> None:
    (model / "predict.py").write_text(OPTIONAL)
    r = no_traceback(ok(cli("predict", cwd=model)))
    assert r.stdout.strip() == "b=None s=None"
    r = ok(cli("predict", "-i", "b=x", "-i", "s=tok", cwd=model))
    assert r.stdout.strip() == "b='x' s=set"


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("n: int = Input(default=20, ge=0, le=10)", "input 'n': the default 20 is greater than le=10"),
        (
            'c: str = Input(default="z", choices=["a", "b"])',
            "input 'c': the default 'z' is not one of the choices",
        ),
        ('x: "NoSuchType" = 1', "the annotation of input 'x' ('NoSuchType') cannot be resolved"),
        (
            'f: Path = Input(accept="images;;")',
            "input 'f': accept='images;;' has an invalid MIME type or extension",
        ),
    ],
)
def test_contradictory_inputs_fail_the_build(model: Path, signature: str, message: str) -> None:
    (model / "predict.py").write_text(
        f"from cog import BasePredictor, Input, Path\n\nclass Predictor(BasePredictor):\n"
        f"    def predict(self, {signature}) -> str:\n        return 'x'\n"
    )
    r = no_traceback(cli("build", "-t", "cogpin-compat-badinput:1", cwd=model))
    assert r.returncode == 1 and message in r.stderr, r.stderr


OPAQUE = """
from typing import Annotated, Optional
import cog
from cog import BasePredictor

class Config:  # no schema of its own: Opaque says "a JSON object, passed through"
    pass

class Predictor(BasePredictor):
    def predict(
        self, cfg: Annotated[Config, cog.Opaque], more: Optional[list[Annotated[Config, cog.Opaque]]] = None
    ) -> Annotated[Config, cog.Opaque]:
        return {"got": cfg, "more": more}
"""


def test_opaque_inputs_and_outputs(model: Path) -> None:
    (model / "predict.py").write_text(OPAQUE)
    r = no_traceback(ok(cli("predict", "--json", '{"cfg": {"a": [1, 2], "b": {"c": null}}}', cwd=model)))
    assert json.loads(r.stdout)["output"] == {"got": {"a": [1, 2], "b": {"c": None}}, "more": None}
    r = no_traceback(cli("predict", "--json", '{"cfg": "not an object"}', cwd=model))
    assert r.returncode == 1 and "cfg" in r.stderr


UNIONS = """
from typing import Optional, Union
from cog import BasePredictor, ConcatenateIterator, Path

class Predictor(BasePredictor):
    def predict(
        self, a: Union[int, float] = 1, p: Union[str, Path] = "text", xs: list[Union[int, str]] = [0],
        o: Optional[Union[int, str]] = None,
    ) -> ConcatenateIterator[str]:
        for token in (type(a).__name__, "|", type(p).__name__, "|", repr(xs), "|", repr(o)):
            yield token
"""


def test_union_inputs_and_concatenate_iterator_with_json(model: Path) -> None:
    (model / "predict.py").write_text(UNIONS)
    r = no_traceback(ok(cli("predict", "-i", "a=2.5", "-i", "xs=3", "-i", "xs=x", cwd=model)))
    assert r.stdout.strip() == "float|str|[3, 'x']|None"
    r = ok(cli("predict", "-i", "a=2", "-i", "o=7", cwd=model))
    assert r.stdout.strip() == "int|str|[0]|7"
    # --json: the whole prediction as JSON, the ConcatenateIterator's tokens as its output list (as Cog)
    r = no_traceback(ok(cli("predict", "--json", '{"a": 3, "o": null}', cwd=model)))
    prediction = json.loads(r.stdout)
    assert prediction["output"] == ["int", "|", "str", "|", "[0]", "|", "None"]
    # null for a union that is not optional is refused before the container starts
    r = no_traceback(cli("predict", "--json", '{"a": null}', cwd=model))
    assert r.returncode == 1 and 'input "a"' in r.stderr
