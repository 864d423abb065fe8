"""`cogpin build` with the lock's artifacts served from the engine's side (COGPIN_WHEELHOUSE=engine), as for
a remote engine (DOCKER_HOST=tcp://…/ssh://…) or Docker Desktop, forced here on this machine's real engine:
hello-world and a project with a real wheel from the package index (six) predict over HTTP; a rebuild
after a code change uploads nothing; no server or helper container is left; no wheel stays in the image.

The engine-side volume is unique to this session (COGPIN_ENGINE_VOLUME) and removed at the end; images are
tagged `cogpin-test-remote-*` and removed too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cogpin.builder import BuildOptions, BuiltImage, build_image
from cogpin.builder.wheels_engine import LABEL
from cogpin.config import load_config
from cogpin.engine import client
from tests.engine.test_build import predict, serving

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COGPIN = str(BIN / "cogpin") if (BIN / "cogpin").exists() else shutil.which("cogpin") or "cogpin"
RUN_ID = uuid.uuid4().hex[:8]
VOLUME = f"cogpin-test-artifacts-{RUN_ID}"
ENV = {"COGPIN_WHEELHOUSE": "engine", "COGPIN_ENGINE_VOLUME": VOLUME}


def tag(name: str) -> str:
    return f"cogpin-test-remote-{name}-{RUN_ID}:latest"


@pytest.fixture(scope="module", autouse=True)
def engine_mode() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        c = client()
        for container in c.containers.list(all=True, filters={"label": "dev.cogpin.test=remote"}):
            container.remove(force=True)
        for image in c.images.list():
            for t in image.tags:
                if t.startswith("cogpin-test-remote-") and RUN_ID in t:
                    try:
                        c.images.remove(t, force=True)
                    except Exception:  # noqa: BLE001
                        pass
        try:
            c.volumes.get(VOLUME).remove(force=True)
        except Exception:  # noqa: BLE001
            pass


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [COGPIN, *args], cwd=cwd, capture_output=True, text=True, timeout=900, env={**os.environ, **ENV}
    )
    if p.returncode != 0:
        raise AssertionError(f"cogpin {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def build(d: Path, name: str, **kw) -> BuiltImage:  # type: ignore[no-untyped-def]
    return build_image(load_config(d / "cog.yaml"), BuildOptions(tag=tag(name), progress="quiet", **kw))


def wheelhouse_containers() -> list:
    return client().containers.list(all=True, filters={"label": LABEL})


def wheels_in(image_id: str, d: Path) -> list[str]:
    """Wheels, archives and pip caches in the image that its base image does not have (Debian ships
    pip's own wheels)."""
    from cogpin.lock.view import view

    probe = "find / -xdev \\( -name '*.whl' -o -name 'python.tar.gz' -o -path '/root/.cache/pip' \\) 2>/dev/null; true"

    def find(ref: str) -> set[str]:
        out = client().containers.run(
            ref,
            ["sh", "-c", probe],
            entrypoint=[],
            remove=True,
            labels={"dev.cogpin.test": "remote"},
            network_disabled=True,
        )
        return set(out.decode().split())

    return sorted(find(image_id) - find(view(d / "cog.lock").base_ref))


def test_hello_world_builds_with_the_wheel_server_in_the_engine(tmp_path: Path) -> None:
    d = tmp_path / "hello-world"
    shutil.copytree(REPO / "examples" / "hello-world", d, ignore=shutil.ignore_patterns("cog.lock"))
    cli("lock", cwd=d)
    built = build(d, "hello", no_cache=True)
    assert built.wheelhouse == "engine"
    assert [n for n in built.uploaded if n.startswith("cogpin_runtime")], built.uploaded
    assert wheelhouse_containers() == []
    with serving(built.id) as url:
        result = predict(url, {"text": "world"})
    assert result["status"] == "succeeded" and result["output"] == "hello world"
    assert wheels_in(built.id, d) == []
    volume = client().volumes.get(VOLUME)
    assert volume.attrs["Labels"].get(LABEL) == "artifacts"


SIX_PREDICT = """from cog import BasePredictor
import six


class Predictor(BasePredictor):
    def predict(self, text: str) -> str:
        return "{GREETING} " + six.ensure_str(text) + " with six " + six.__version__
"""


@pytest.mark.network
def test_a_real_wheel_is_uploaded_once_then_never_again(tmp_path: Path) -> None:
    d = tmp_path / "with-six"
    d.mkdir()
    (d / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\n  python_requirements: requirements.txt\npredict: "predict.py:Predictor"\n'
    )
    (d / "requirements.txt").write_text("six==1.16.0\n")
    (d / "predict.py").write_text(SIX_PREDICT.replace("{GREETING}", "hello"))
    cli("lock", cwd=d)
    assert "six" in (d / "cog.lock").read_text()

    t0 = time.monotonic()
    first = build(d, "six")
    first_seconds = time.monotonic() - t0
    assert first.wheelhouse == "engine" and not first.reused
    assert any(n.startswith("six-1.16.0") for n in first.uploaded), first.uploaded
    assert wheelhouse_containers() == []
    with serving(first.id) as url:
        result = predict(url, {"text": "world"})
    assert result["status"] == "succeeded" and result["output"] == "hello world with six 1.16.0"
    assert wheels_in(first.id, d) == []

    # A code change: the second build (through the CLI, as a user runs it) sends no artifact again.
    (d / "predict.py").write_text(SIX_PREDICT.replace("{GREETING}", "hi"))
    t0 = time.monotonic()
    p = cli("build", "-t", tag("six"), "--progress", "plain", cwd=d)
    second_seconds = time.monotonic() - t0
    assert "uploaded 0 artifacts to the engine" in p.stderr, p.stderr
    assert "uploading" not in p.stderr
    assert wheelhouse_containers() == []
    image = client().images.get(tag("six"))
    assert image.id != first.id
    with serving(image.id) as url:
        result = predict(url, {"text": "world"})
    assert result["output"] == "hi world with six 1.16.0"
    assert wheels_in(image.id, d) == []
    print(
        f"\nengine wheelhouse: first build {first_seconds:.1f}s uploaded {len(first.uploaded)} "
        f"({', '.join(first.uploaded)}); second build {second_seconds:.1f}s uploaded 0"
    )
