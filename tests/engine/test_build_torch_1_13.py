"""`torch==1.13.1` on `gpu: true` (issue 14: torch releases older than 2.0, as Cog's compatibility data
has them) through the real CLI, the real engine and the runtime: `cogpin lock`, `cogpin build`, then a
prediction over HTTP that imports torch and computes on the CPU. No GPU, no CUDA here.

The project asks for Python 3.10: Cog's compatibility data (and cogpin's ``torch.json``) allows only 3.10
for torch 1.13, the lowest Python Cog supports. `cogpin lock` picks the cu117 default wheel of torch
1.13.1 on the package index (PyPI, 846 MB, with its ``nvidia-*-cu11`` wheels: cuDNN 8.5.0.96, cuBLAS,
the CUDA runtime and NVRTC, ~1.7 GB in all, every wheel pinned by sha256) and the
``nvidia/cuda:11.7.1-cudnn8-runtime-ubuntu22.04`` base (a stand-in made by `scripts/dev-env`). The lock
pins a python-build-standalone CPython 3.10 archive this machine cannot download: the test makes a
stand-in archive from Ubuntu 22.04's CPython 3.10 packages (sha256-pinned, see
``tests/engine/standin_python.py``), swaps it into the lock and offers it through ``COGPIN_FIND_LINKS``.

What this proves: a torch < 2.0 GPU lock builds into an image from the CUDA 11.7 stand-in by digest with
its CUDA environment, on the archive's Python 3.10; the ~1.7 GB of wheels are fetched from the index,
sha256-checked and installed; torch 1.13.1 is the CUDA 11.7 build (``torch.version.cuda``), it loads
the cuDNN 8.5 of the ``nvidia-cudnn-cu11`` wheel (``torch.backends.cudnn.version()``; the base has no
cuDNN), and the runtime
serves a prediction that runs a tensor computation on the CPU. What it does not prove: that CUDA works
(the stand-in base has no CUDA driver and there is no GPU: ``torch.cuda.is_available()`` is False), nor
that the real python-build-standalone 3.10 archive works (it is never downloaded here). The
``nvidia-*-cu11`` wheels depend on setuptools, which the archive ships too: the template removes the
archive's in the python stage, so pip replaces nothing in the image and no overlay whiteout (which carries
the build's time) reaches a layer; that this makes two cold builds identical is checked on the smaller
image of ``test_build_gpu.py``, not on this 3.5 GB one.

Cost: the wheels are downloaded once into cogpin's default artifact cache (as the other engine tests use
it) and the image is built without the layer cache. Measured on this 2-core machine (PyPI at ~100 MB/s):
75–110 s for the module, with an empty artifact cache or a warm one alike (the build 60–90 s, mostly
installing and committing the 3.5 GB image). The image is tagged ``cogpin-test-torch113-*`` and
removed at the end; every container carries the label ``dev.cogpin.test=build-torch-1-13``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cogpin.engine import client
from cogpin.lock.view import LockView, view
from tests.engine.standin_python import (
    Archive,
    assert_standalone_python,
    cli,
    jammy_python_debs,
    make_standin_archive,
    remove_test_objects,
    serving,
    shell,
    use_standin_archive,
)
from tests.engine.test_build import predict as predict_http

pytestmark = pytest.mark.engine

RUN_ID = uuid.uuid4().hex[:8]
LABEL = "build-torch-1-13"
TEST_LABEL = {"dev.cogpin.test": LABEL}
TAG = f"cogpin-test-torch113-{RUN_ID}:latest"
CUDA_BASE = "nvidia/cuda:11.7.1-cudnn8-runtime-ubuntu22.04"

PREDICT = """\
import torch
from cog import BasePredictor


class Predictor(BasePredictor):
    def setup(self) -> None:
        self.weights = torch.tensor([[1.0, 2.0], [3.0, 4.0]])

    def predict(self, x: float = 1.0) -> dict:
        y = self.weights @ torch.tensor([x, 2 * x])
        return {
            "torch": torch.__version__,
            "cuda_build": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cuda_available": torch.cuda.is_available(),
            "device": str(y.device),
            "y": y.tolist(),
        }
"""


BUILT: list[str] = []  # the image ID the build made, for the cleanup


@pytest.fixture(scope="module", autouse=True)
def cleanup() -> Iterator[None]:
    yield
    # and the 3.5 GB untagged image the build's labels step was made from (removed without force: never
    # one that is tagged or used)
    remove_test_objects(LABEL, "cogpin-test-torch113-", RUN_ID, twins_of=tuple(BUILT))


@dataclass(frozen=True)
class TorchBuild:
    dir: Path
    lock: LockView
    archive: Archive
    image_id: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def torch_build(tmp_path_factory: pytest.TempPathFactory) -> TorchBuild:
    """`cogpin lock` and `cogpin build --no-cache` of the torch 1.13.1 project (once per module)."""
    debs = jammy_python_debs(tmp_path_factory.mktemp("jammy-debs"))  # 5 MB, sha256-pinned
    archive = make_standin_archive(tmp_path_factory.mktemp("standin-python-3.10"), "3.10", TEST_LABEL, debs)
    d = tmp_path_factory.mktemp("torch113")
    (d / "cog.yaml").write_text(
        'build:\n  gpu: true\n  python_version: "3.10"\n  python_packages:\n    - "torch==1.13.1"\n'
        'predict: "predict.py:Predictor"\n'
    )
    (d / "predict.py").write_text(PREDICT)
    env = {"COGPIN_FIND_LINKS": str(archive.path.parent)}
    t0 = time.monotonic()
    cli("lock", cwd=d, env=env)
    use_standin_archive(d, archive)
    t1 = time.monotonic()
    p = cli("build", "-t", TAG, "--no-cache", "--progress", "plain", cwd=d, env=env)
    t2 = time.monotonic()
    assert "cogpin-python" in p.stderr  # the multi-stage step ran
    image = client().images.get(TAG)
    BUILT.append(image.id)
    print(
        f"\ntorch 1.13.1 gpu: `cogpin lock` {t1 - t0:.1f}s, `cogpin build --no-cache` {t2 - t1:.1f}s,"
        f" image {image.attrs['Size'] / 1e9:.2f} GB"
    )
    return TorchBuild(d, view(d / "cog.lock"), archive, image.id, env)


def test_torch_1_13_locks_the_cu117_default_wheel_on_the_cuda_11_7_standin(torch_build: TorchBuild) -> None:
    lock = torch_build.lock
    assert lock.base_image == CUDA_BASE and lock.base_digest.startswith("sha256:")
    assert lock.cuda == "11.7.1" and lock.cudnn == "8.5.0.96"
    assert lock.python_source == "standalone" and lock.python == torch_build.archive.version == "3.10.4"
    versions = {p.name: p.version for p in lock.packages}
    assert versions["torch"] == "1.13.1"
    assert versions["nvidia-cudnn-cu11"] == "8.5.0.96" and versions["nvidia-cuda-runtime-cu11"] == "11.7.99"
    assert "nvidia-cublas-cu11" in versions and "nvidia-cuda-nvrtc-cu11" in versions
    # the default wheel of the package index, not a download.pytorch.org variant: reproducible by sha256
    torch = next(p for p in lock.packages if p.name == "torch")
    assert [w.filename for w in torch.wheels] == ["torch-1.13.1-cp310-cp310-manylinux1_x86_64.whl"]
    assert all(len(w.sha256) == 64 for p in lock.packages for w in p.wheels)
    # The archive swap touched outputs only: the lock is still fresh for `cogpin build`.
    p = cli("lock", "--check", cwd=torch_build.dir, env=torch_build.env, check=False)
    assert p.returncode == 0, p.stderr


def test_torch_1_13_image_is_from_the_cuda_11_7_standin_on_the_archives_python(
    torch_build: TorchBuild,
) -> None:
    c = client()
    image = c.images.get(torch_build.image_id)
    base = c.images.get(f"{CUDA_BASE.split(':')[0]}@{torch_build.lock.base_digest}")
    assert (
        image.attrs["RootFS"]["Layers"][: len(base.attrs["RootFS"]["Layers"])]
        == base.attrs["RootFS"]["Layers"]
    )
    env = dict(e.split("=", 1) for e in image.attrs["Config"]["Env"])
    assert env["CUDA_VERSION"] == "11.7.1" and env["NV_CUDNN_VERSION"] == "8.5.0.96"
    assert_standalone_python(torch_build.image_id, "3.10", TEST_LABEL)
    out = shell(
        torch_build.image_id,
        "python -c 'import os, torch, nvidia.cudnn as n; r = os.path.realpath; print(r(torch.__file__), r(n.__path__[0]))';"
        " find / -xdev -name '*.whl' -print; ls /root/.cache 2>/dev/null; true",
        TEST_LABEL,
    ).split()
    assert out == [
        "/opt/python/lib/python3.10/site-packages/torch/__init__.py",
        "/opt/python/lib/python3.10/site-packages/nvidia/cudnn",
    ]  # and no wheel or pip cache left behind


def test_torch_1_13_predicts_over_http_on_the_cpu(torch_build: TorchBuild) -> None:
    with serving(torch_build.image_id, TEST_LABEL) as url:
        result = predict_http(url, {"x": 2.0})
    assert result["status"] == "succeeded", json.dumps(result)[-2000:]
    assert result["output"] == {
        "torch": "1.13.1+cu117",
        "cuda_build": "11.7",
        "cudnn": 8500,
        "cuda_available": False,  # no GPU and no driver here
        "device": "cpu",
        "y": [10.0, 22.0],
    }
