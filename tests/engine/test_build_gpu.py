"""`cogpin build` of `gpu: true` projects up to a working container, with a **stand-in** standalone
CPython archive on the **stand-in** CUDA base images. No GPU, no CUDA, no real python-build-standalone.

CUDA bases have no Python, so a GPU lock pins a standalone CPython archive (python-build-standalone's
``install_only`` layout) that this machine cannot download. Here the test makes a stand-in archive in
that layout from the Debian CPython 3.11 of the local stand-in image ``python:3.11-slim-bookworm``
(the shared libraries it needs beyond glibc copied into ``python/lib`` and found through an
``$ORIGIN``-relative RPATH, so it runs on a bare Debian minbase), swaps its filename and sha256 into
the lock's ``[locked.standalone-python]`` and offers it through ``COGPIN_FIND_LINKS``, as a user
behind an air gap would. The project is then built through the real CLI.

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

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cogpin.engine import client
from cogpin.lock.model import Lock
from cogpin.templates.lockview import LockView, view
from tests.engine.test_build import predict as predict_http

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COGPIN = str(BIN / "cogpin") if (BIN / "cogpin").exists() else shutil.which("cogpin") or "cogpin"
RUN_ID = uuid.uuid4().hex[:8]
TEST_LABEL = {"dev.cogpin.test": "build-gpu"}
PYTHON_STANDIN = "python:3.11-slim-bookworm"

# Runs in a throwaway container of the python stand-in (network host, for apt), writes the archive to
# /out and prints its file name. Nothing on the host is changed but the output folder.
ASSEMBLE = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive
if ! command -v patchelf >/dev/null; then
  { apt-get update -qq && apt-get install -qqy --no-install-recommends patchelf; } >/tmp/apt.log 2>&1 \
    || { cat /tmp/apt.log >&2; echo "could not install patchelf in the throwaway container" >&2; exit 3; }
fi
V=$(/usr/bin/python3.11 -c 'import platform; print(platform.python_version())')
R=/build/python
rm -rf /build && mkdir -p $R/bin $R/lib
cp -a /usr/lib/python3.11 $R/lib/python3.11
cp -a /usr/local/lib/python3.11/site-packages $R/lib/python3.11/site-packages
rm -f $R/lib/python3.11/EXTERNALLY-MANAGED
find $R -name __pycache__ -prune -exec rm -rf {} +
cp /usr/bin/python3.11 $R/bin/python3.11
ln -s python3.11 $R/bin/python3
printf '#!/bin/sh\nexec "$(dirname "$0")/python3.11" -m pip "$@"\n' > $R/bin/pip3
chmod 755 $R/bin/pip3 && ln -s pip3 $R/bin/pip && ln -s pip3 $R/bin/pip3.11
# No bin/python: python-build-standalone has none either (the template links it).
# Upstream CPython's layout (as in python-build-standalone), not Debian's: pip installs into
# lib/python3.11/site-packages (sysconfig's posix_prefix scheme). Debian's `site` is frozen into the
# binary and reads lib/python3.11/dist-packages, so that is a link to site-packages.
ln -s site-packages $R/lib/python3.11/dist-packages
/usr/bin/python3.11 - "$R/lib/python3.11/sysconfig.py" <<'PY'
import sys
path = sys.argv[1]
old = "            prefix_scheme = 'posix_local'\n"
text = open(path).read()
assert text.count(old) == 1, "Debian's sysconfig changed; update the stand-in archive recipe"
open(path, "w").write(text.replace(old, "            prefix_scheme = 'posix_prefix'  # cogpin stand-in\n"))
PY
# Shared libraries beyond glibc that the interpreter and its extension modules need: copied into
# python/lib and found through an $ORIGIN-relative RPATH, so the tree runs on a bare Debian minbase.
glibc='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libutil\.so\.1|libresolv\.so\.2|libanl\.so\.1|libnsl\.so\.1|libmvec\.so\.1|ld-linux-x86-64\.so\.2)$'
for f in $R/bin/python3.11 $R/lib/python3.11/lib-dynload/*.so; do
  ldd "$f" | awk '/=> \// {print $1, $3}'
done | sort -u | while read -r soname path; do
  if echo "$soname" | grep -Eq "$glibc"; then continue; fi
  [ -e "$R/lib/$soname" ] || cp -L "$path" "$R/lib/$soname"
done
patchelf --set-rpath '$ORIGIN/../lib' $R/bin/python3.11
for f in $R/lib/python3.11/lib-dynload/*.so; do patchelf --set-rpath '$ORIGIN/../..' "$f"; done
for f in $R/lib/*.so*; do chmod 644 "$f"; patchelf --set-rpath '$ORIGIN' "$f"; done
NAME="cpython-$V+cogpinstandin-x86_64-unknown-linux-gnu-install_only.tar.gz"
cd /build
tar --sort=name --mtime=@315532800 --owner=0 --group=0 --numeric-owner --format=gnu -cf - python \
  | gzip -n -6 > "/out/$NAME.tmp"
mv "/out/$NAME.tmp" "/out/$NAME"
chown -R "$OUT_UID:$OUT_GID" /out
echo "$NAME"
"""


def tag(name: str) -> str:
    return f"cogpin-test-gpu-{name}-{RUN_ID}:latest"


@pytest.fixture(scope="module", autouse=True)
def cleanup() -> Iterator[None]:
    yield
    c = client()
    for container in c.containers.list(all=True, filters={"label": "dev.cogpin.test=build-gpu"}):
        container.remove(force=True)
    for image in c.images.list():
        for t in image.tags:
            if t.startswith("cogpin-test-gpu-") and RUN_ID in t:
                try:
                    c.images.remove(t, force=True)
                except Exception:  # noqa: BLE001
                    pass


@dataclass(frozen=True)
class Archive:
    path: Path
    sha256: str
    version: str  # the Python inside (Debian 12's 3.11.x)


@pytest.fixture(scope="module")
def standin_archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """The stand-in standalone-CPython archive (a few seconds; once per module)."""
    out = tmp_path_factory.mktemp("standin-python")
    t0 = time.monotonic()
    logs = client().containers.run(
        PYTHON_STANDIN,
        ["sh", "-c", ASSEMBLE],
        environment={"OUT_UID": str(os.getuid()), "OUT_GID": str(os.getgid())},
        volumes={str(out): {"bind": "/out", "mode": "rw"}},
        network_mode="host",
        labels=TEST_LABEL,
        remove=True,
    )
    name = logs.decode().strip().splitlines()[-1]
    path = out / name
    assert path.is_file(), f"no archive: {logs.decode()[-2000:]}"
    print(
        f"\nstand-in standalone-CPython archive {name}: {path.stat().st_size / 1e6:.1f} MB in {time.monotonic() - t0:.1f}s"
    )
    version = name.removeprefix("cpython-").split("+", 1)[0]
    return Archive(path, hashlib.sha256(path.read_bytes()).hexdigest(), version)


def cli(*args: str, cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [COGPIN, *args], cwd=cwd, capture_output=True, text=True, timeout=900, env={**os.environ, **env}
    )
    if check and p.returncode != 0:
        raise AssertionError(f"cogpin {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def gpu_project(tmp: Path, cuda: str | None) -> Path:
    d = tmp / f"gpu-{cuda or 'default'}"
    d.mkdir()
    shutil.copy(REPO / "examples" / "hello-world" / "predict.py", d / "predict.py")
    cuda_line = f'  cuda: "{cuda}"\n' if cuda else ""
    (d / "cog.yaml").write_text(
        f'build:\n  gpu: true\n{cuda_line}  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
    )
    return d


def use_standin_archive(d: Path, archive: Archive) -> None:
    """Point the lock's ``[locked.standalone-python]`` (an output: the inputs hash is unaffected) at the
    stand-in archive. No URL: the build must find it by filename + sha256 in a find-links folder."""
    lock = Lock.load(d / "cog.lock")
    standalone = lock.data["locked"]["standalone-python"]
    standalone.update(filename=archive.path.name, sha256=archive.sha256, version=archive.version)
    standalone.pop("url", None)
    lock.data["locked"]["python"] = archive.version
    (d / "cog.lock").write_text(lock.dumps())


@dataclass(frozen=True)
class GpuBuild:
    dir: Path
    lock: LockView
    image_id: str
    tag: str
    seconds: float
    env: dict[str, str]


def build_gpu(tmp: Path, archive: Archive, name: str, cuda: str | None, flavor: str) -> GpuBuild:
    d = gpu_project(tmp, cuda)
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
    """`gpu: true`, no torch, no cuda: → CUDA 11.8 runtime, as Cog picks."""
    return build_gpu(tmp_path_factory.mktemp("gpu"), standin_archive, "cu118", None, "runtime")


def shell(image: str, command: str) -> str:
    out = client().containers.run(
        image,
        ["sh", "-c", command],
        entrypoint=[],
        remove=True,
        labels=TEST_LABEL,
        network_disabled=True,
    )
    return out.decode()


@contextmanager
def serving(image_id: str) -> Iterator[str]:
    container = client().containers.run(
        image_id, detach=True, labels=TEST_LABEL, ports={"5000/tcp": ("127.0.0.1", None)}
    )
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"]
        url = f"http://127.0.0.1:{port}"
        deadline, status = time.monotonic() + 120, ""
        while time.monotonic() < deadline and status not in ("READY", "SETUP_FAILED"):
            try:
                with urllib.request.urlopen(f"{url}/health-check", timeout=5) as r:
                    status = json.load(r)["status"]
            except OSError:
                time.sleep(0.1)
        assert status == "READY", f"not ready ({status}): {container.logs().decode()[-2000:]}"
        yield url
    finally:
        container.remove(force=True)


def assert_standalone_python(image_id: str, archive: Archive) -> None:
    out = shell(
        image_id,
        'command -v python; readlink -f "$(command -v python)"; '
        "python -c 'import sys, cog; print(\"%d.%d\" % sys.version_info[:2], sys.prefix, cog.__file__)'",
    ).split()
    assert out[0] == "/opt/python/bin/python"  # the template's link: python-build-standalone has none
    assert out[1] == "/opt/python/bin/python3.11"
    assert out[2:4] == ["3.11", "/opt/python"]
    assert out[4].startswith("/opt/python/lib/python3.11/")  # the runtime went into the archive's Python


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
    assert_standalone_python(gpu_default.image_id, standin_archive)
    # The base has no Python at all: the one in the image came from the archive.
    lock = gpu_default.lock
    base_ref = f"{lock.base_image.split(':')[0]}@{lock.base_digest}"
    assert shell(base_ref, "command -v python python3 python3.11; true").strip() == ""


def test_standin_gpu_image_keeps_no_archive_and_no_wheel(gpu_default: GpuBuild) -> None:
    probe = (
        "find / -xdev \\( -name '*.whl' -o -name '*.tar.gz' -o -name 'cpython-*' -o -path /cogpin-python"
        " -o -path '/root/.cache/pip' -o -name 'cogpin-requirements.txt' -o -name '.cogpin-stamp' \\)"
        " -print | sort; ls /root/.cache 2>/dev/null; true"
    )
    assert shell(gpu_default.image_id, probe).strip() == ""


def test_standin_gpu_image_labels(gpu_default: GpuBuild) -> None:
    labels = client().images.get(gpu_default.image_id).labels
    assert json.loads(labels["run.cog.config"])["build"]["gpu"] is True
    schema = json.loads(labels["run.cog.openapi_schema"])
    assert "text" in schema["components"]["schemas"]["Input"]["properties"]


def test_standin_gpu_image_predicts_over_http(gpu_default: GpuBuild) -> None:
    with serving(gpu_default.image_id) as url:
        result = predict_http(url, {"text": "world"})
    assert result["status"] == "succeeded" and result["output"] == "hello world"


def test_standin_gpu_image_cogpin_predict_runs_on_the_cpu_with_a_note(gpu_default: GpuBuild) -> None:
    from cogpin.containers import gpu_present

    p = cli("predict", gpu_default.tag, "-i", "text=world", cwd=gpu_default.dir, env=gpu_default.env)
    assert p.stdout.strip() == "hello world"
    if not gpu_present(client()):  # this machine: no GPU
        assert "shows no NVIDIA GPU" in p.stderr and "running on the CPU" in p.stderr


def test_standin_gpu_image_two_cold_builds_are_identical(gpu_default: GpuBuild) -> None:
    """No layer cache: the same lock and stand-in archive give the same image ID (the archive's files keep
    its fixed mtimes; the template fixes the folders it makes)."""
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
    assert_standalone_python(built.image_id, standin_archive)
    p = cli("predict", built.tag, "-i", "text=world", cwd=built.dir, env=built.env)
    assert p.stdout.strip() == "hello world"
