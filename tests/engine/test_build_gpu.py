"""`cogpin build` of `gpu: true` projects up to a working container, with a **stand-in** standalone
CPython archive on the **stand-in** CUDA base images. No GPU, no CUDA, no real python-build-standalone.

CUDA bases have no Python, so a GPU lock pins a standalone CPython archive (python-build-standalone's
``install_only`` layout) that this machine cannot download. Here the test makes a stand-in archive in
that layout from the Debian CPython 3.11 of the local stand-in image ``python:3.11-slim-bookworm``
(the shared libraries it needs beyond glibc copied into ``python/lib`` and found through an
``$ORIGIN``-relative RPATH, so it runs on a bare Debian minbase), swaps its filename and sha256 into
the lock's ``[locked.standalone-python]`` and offers it through ``COGPIN_FIND_LINKS``, as a user
behind an air gap would (``tests/engine/standin_python.py``, shared with ``test_build_torch_1_13.py``).
The project is then built through the real CLI.

What this proves: the multi-stage ``cogpin-python`` step (archive served by cogpin's wheel server,
sha256-checked, extracted to /opt/python, copied into the final stage), the digest-pinned FROM of the
``nvidia/cuda`` stand-ins (runtime 11.8 and 12.1, devel 12.1), the base's CUDA environment kept,
`python` on PATH being the archive's, no archive or wheel left behind, labels, a prediction over HTTP
and `cogpin predict` on the CPU with the "no GPU" note. What it does not prove: that CUDA works (the
stand-in bases are Debian minbase with the real images' environment variables and no CUDA, no cuDNN,
no GPU), or that the real python-build-standalone archive works (it is never downloaded here).

Every image is tagged `cogpin-test-gpu-*` and removed at the end; every container carries the label
`dev.cogpin.test=build-gpu` and is removed.
"""

from __future__ import annotations

import json
import shutil
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
    make_standin_archive,
    remove_test_objects,
    serving,
    shell,
    use_standin_archive,
)
from tests.engine.test_build import predict as predict_http

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]
SETUPTOOLS = "75.8.0"  # pinned by the default project; the stand-in archive ships Debian's 66.1.1
RUN_ID = uuid.uuid4().hex[:8]
TEST_LABEL = {"dev.cogpin.test": "build-gpu"}


def tag(name: str) -> str:
    return f"cogpin-test-gpu-{name}-{RUN_ID}:latest"


@pytest.fixture(scope="module", autouse=True)
def cleanup() -> Iterator[None]:
    yield
    remove_test_objects("build-gpu", "cogpin-test-gpu-", RUN_ID)


@pytest.fixture(scope="module")
def standin_archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """The stand-in standalone-CPython 3.11 archive (a few seconds; once per module)."""
    return make_standin_archive(tmp_path_factory.mktemp("standin-python"), "3.11", TEST_LABEL)


def gpu_project(tmp: Path, cuda: str | None, packages: tuple[str, ...] = ()) -> Path:
    d = tmp / f"gpu-{cuda or 'default'}"
    d.mkdir()
    shutil.copy(REPO / "examples" / "hello-world" / "predict.py", d / "predict.py")
    cuda_line = f'  cuda: "{cuda}"\n' if cuda else ""
    packages_line = f"  python_packages: {json.dumps(list(packages))}\n" if packages else ""
    (d / "cog.yaml").write_text(
        f'build:\n  gpu: true\n{cuda_line}  python_version: "3.11"\n{packages_line}predict: "predict.py:Predictor"\n'
    )
    return d


@dataclass(frozen=True)
class GpuBuild:
    dir: Path
    lock: LockView
    image_id: str
    tag: str
    seconds: float
    env: dict[str, str]


def build_gpu(
    tmp: Path, archive: Archive, name: str, cuda: str | None, flavor: str, packages: tuple[str, ...] = ()
) -> GpuBuild:
    d = gpu_project(tmp, cuda, packages)
    env = {"COGPIN_FIND_LINKS": str(archive.path.parent), "COGPIN_CACHE_DIR": str(tmp / "cache")}
    cli("lock", "--cuda-flavor", flavor, cwd=d, env=env)
    use_standin_archive(d, archive)
    t0 = time.monotonic()
    p = cli("build", "-t", tag(name), "--no-cache", "--progress", "plain", cwd=d, env=env)
    seconds = time.monotonic() - t0
    assert "cogpin-python" in p.stderr  # the multi-stage step ran
    image_id = client().images.get(tag(name)).id
    print(f"\n{name}: cold `cogpin build` of a GPU image (stand-ins) in {seconds:.1f}s")
    return GpuBuild(d, view(d / "cog.lock"), image_id, tag(name), seconds, env)


@pytest.fixture(scope="module")
def gpu_default(tmp_path_factory: pytest.TempPathFactory, standin_archive: Archive) -> GpuBuild:
    """`gpu: true`, no torch, no cuda: → CUDA 11.8 runtime, as Cog picks. It pins a setuptools other than
    the one the archive ships (as python-build-standalone's up to 3.11 do)."""
    return build_gpu(
        tmp_path_factory.mktemp("gpu"),
        standin_archive,
        "cu118",
        None,
        "runtime",
        (f"setuptools=={SETUPTOOLS}",),
    )


# --- CUDA 11.8 runtime (the default without torch) --------------------------------------------------


def test_standin_gpu_lock_pins_the_cuda_standin_and_a_standalone_python(
    gpu_default: GpuBuild, standin_archive: Archive
) -> None:
    lock = gpu_default.lock
    assert lock.base_image == "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04"
    assert lock.python_source == "standalone"
    assert lock.standalone_python is not None
    assert lock.standalone_python.filename == standin_archive.path.name
    assert lock.standalone_python.sha256 == standin_archive.sha256
    # The swap touched outputs only: the lock is still fresh for `cogpin build` (default mode: locked).
    p = cli("lock", "--check", cwd=gpu_default.dir, env=gpu_default.env, check=False)
    assert p.returncode == 0, p.stderr


def test_standin_gpu_image_is_from_the_cuda_standin_by_digest_with_its_cuda_env(
    gpu_default: GpuBuild,
) -> None:
    lock = gpu_default.lock
    base_ref = f"{lock.base_image.split(':')[0]}@{lock.base_digest}"
    dockerfile = cli("debug", cwd=gpu_default.dir, env=gpu_default.env).stdout
    assert f"FROM {lock.base_image}@{lock.base_digest} AS cogpin-python\n" in dockerfile
    assert f"FROM {lock.base_image}@{lock.base_digest}\n" in dockerfile
    c = client()
    image, base = c.images.get(gpu_default.image_id), c.images.get(base_ref)
    assert (
        image.attrs["RootFS"]["Layers"][: len(base.attrs["RootFS"]["Layers"])]
        == base.attrs["RootFS"]["Layers"]
    )
    assert image.labels["org.opencontainers.image.base.digest"] == lock.base_digest
    env = dict(e.split("=", 1) for e in image.attrs["Config"]["Env"])
    base_env = dict(e.split("=", 1) for e in base.attrs["Config"]["Env"])
    for key in ("CUDA_VERSION", "NV_CUDNN_VERSION", "NVIDIA_REQUIRE_CUDA"):
        assert env[key] == base_env[key]
    assert env["CUDA_VERSION"] == lock.cuda == "11.8.0"
    assert env["PATH"].startswith("/opt/python/bin:")


def test_standin_gpu_image_runs_the_standin_archives_python(
    gpu_default: GpuBuild, standin_archive: Archive
) -> None:
    assert_standalone_python(gpu_default.image_id, "3.11", TEST_LABEL)
    # The base has no Python at all: the one in the image came from the archive.
    lock = gpu_default.lock
    base_ref = f"{lock.base_image.split(':')[0]}@{lock.base_digest}"
    assert shell(base_ref, "command -v python python3 python3.11; true", TEST_LABEL).strip() == ""


def test_standin_gpu_image_keeps_no_archive_and_no_wheel(gpu_default: GpuBuild) -> None:
    probe = (
        "find / -xdev \\( -name '*.whl' -o -name '*.tar.gz' -o -name 'cpython-*' -o -path /cogpin-python"
        " -o -path '/root/.cache/pip' -o -name 'cogpin-requirements.txt' -o -name '.cogpin-stamp' \\)"
        " -print | sort; ls /root/.cache 2>/dev/null; true"
    )
    assert shell(gpu_default.image_id, probe, TEST_LABEL).strip() == ""


def test_standin_gpu_image_labels(gpu_default: GpuBuild) -> None:
    labels = client().images.get(gpu_default.image_id).labels
    assert json.loads(labels["run.cog.config"])["build"]["gpu"] is True
    schema = json.loads(labels["run.cog.openapi_schema"])
    assert "text" in schema["components"]["schemas"]["Input"]["properties"]


def test_standin_gpu_image_predicts_over_http(gpu_default: GpuBuild) -> None:
    with serving(gpu_default.image_id, TEST_LABEL) as url:
        result = predict_http(url, {"text": "world"})
    assert result["status"] == "succeeded" and result["output"] == "hello world"


def test_standin_gpu_image_cogpin_predict_runs_on_the_cpu_with_a_note(gpu_default: GpuBuild) -> None:
    from cogpin.containers.spec import gpu_present

    p = cli("predict", gpu_default.tag, "-i", "text=world", cwd=gpu_default.dir, env=gpu_default.env)
    assert p.stdout.strip() == "hello world"
    if not gpu_present(client()):  # this machine: no GPU
        assert "shows no NVIDIA GPU" in p.stderr and "running on the CPU" in p.stderr


def test_standin_gpu_image_two_cold_builds_are_identical(gpu_default: GpuBuild) -> None:
    """No layer cache: the same lock and stand-in archive give the same image ID (the archive's files keep
    its fixed mtimes; the template fixes the folders it makes; the archive's own setuptools is removed in
    the python stage, so installing the locked one leaves no overlay whiteout, whose time would differ)."""
    cli(
        "build",
        "-t",
        tag("cu118-again"),
        "--no-cache",
        "--progress",
        "quiet",
        cwd=gpu_default.dir,
        env=gpu_default.env,
    )
    assert client().images.get(tag("cu118-again")).id == gpu_default.image_id


def test_standin_gpu_image_has_only_the_locked_setuptools(gpu_default: GpuBuild) -> None:
    """The archive ships setuptools 66.1.1 (Debian's); the image has the lock's, and no trace of the other."""
    out = shell(
        gpu_default.image_id,
        "python -c 'import setuptools; print(setuptools.__version__)'; "
        "ls /opt/python/lib/python3.11/site-packages | grep -i '^setuptools-'",
        TEST_LABEL,
    )
    assert out.split() == [SETUPTOOLS, f"setuptools-{SETUPTOOLS}.dist-info"], out


def test_without_the_archive_the_standin_gpu_build_fails_with_the_fix(
    tmp_path: Path, standin_archive: Archive
) -> None:
    """The stand-in archive pinned, but in no find-links folder and not in the cache: the build names the
    artifact, its sha256 and where to put it, and leaves no tag."""
    d = gpu_project(tmp_path, None)
    cache, links = tmp_path / "empty-cache", tmp_path / "empty-find-links"
    links.mkdir()
    env = {"COGPIN_FIND_LINKS": str(links), "COGPIN_CACHE_DIR": str(cache)}
    cli("lock", cwd=d, env=env)
    use_standin_archive(d, standin_archive)
    p = cli("build", "-t", tag("missing"), "--no-cache", cwd=d, env=env, check=False)
    assert p.returncode == 1
    assert standin_archive.path.name in p.stderr and standin_archive.sha256 in p.stderr
    assert "COGPIN_FIND_LINKS" in p.stderr and str(cache) in p.stderr
    assert not [i for i in client().images.list() if tag("missing") in i.tags]


# --- CUDA 12.1: runtime and devel flavors -----------------------------------------------------------


@pytest.mark.parametrize("flavor", ["runtime", "devel"])
def test_standin_gpu_cuda_12_1_flavor_builds_and_predicts(
    flavor: str, tmp_path: Path, standin_archive: Archive
) -> None:
    built = build_gpu(tmp_path, standin_archive, f"cu121-{flavor}", "12.1", flavor)
    assert built.lock.base_image == f"nvidia/cuda:12.1.1-cudnn8-{flavor}-ubuntu22.04"
    env = dict(e.split("=", 1) for e in client().images.get(built.image_id).attrs["Config"]["Env"])
    assert env["CUDA_VERSION"] == "12.1.1"
    assert_standalone_python(built.image_id, "3.11", TEST_LABEL)
    p = cli("predict", built.tag, "-i", "text=world", cwd=built.dir, env=built.env)
    assert p.stdout.strip() == "hello world"
