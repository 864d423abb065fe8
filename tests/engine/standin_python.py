"""Shared by the GPU build tests (`test_build_gpu.py`, `test_build_torch_1_13.py`): the **stand-in**
standalone-CPython archive a `gpu: true` lock pins, and the CLI, container and HTTP helpers around it.

CUDA bases have no Python, so a GPU lock pins a python-build-standalone CPython archive (its
``install_only`` layout) that this machine cannot download (GitHub is unreachable). A stand-in archive in
that layout is made in a throwaway container of the local ``python:3.11-slim-bookworm`` stand-in:

- Python 3.11: the container's own Debian 12 CPython 3.11.
- Python 3.10 (no Debian release has it; torch 1.13 allows only 3.10): Ubuntu 22.04 (jammy)'s CPython 3.10
  from the jammy **release** pocket, whose files never change: four ``.deb`` files pinned below by
  sha256, unpacked into the throwaway container, so they run against bookworm's (newer, same-soname)
  shared libraries. pip comes from the container's 3.11 venv (pure Python; it supports 3.10).

Either way the shared libraries the interpreter and its extension modules need beyond glibc are copied
into ``python/lib`` and found through an ``$ORIGIN``-relative RPATH, so the tree runs on the CUDA
stand-ins' bare Debian minbase. The tests swap the archive's filename and sha256 into the lock's
``[locked.standalone-python]`` and offer it through ``COGPIN_FIND_LINKS``, as a user behind an air gap
would. The real python-build-standalone archive is never downloaded here: its layout is mirrored, its
bytes are not.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cogpin.engine import client
from cogpin.lock.model import Lock

BIN = Path(sys.executable).parent
COGPIN = str(BIN / "cogpin") if (BIN / "cogpin").exists() else shutil.which("cogpin") or "cogpin"
PYTHON_STANDIN = "python:3.11-slim-bookworm"

# Ubuntu 22.04 (jammy) release pocket, main: CPython 3.10.4-3. The chain of trust these hashes come from:
# the Ubuntu Archive Automatic Signing Key (2018), fingerprint F6EC B376 2474 EDA9 D21B 7022 8719 20D1
# 991B C93C (in ubuntu-keyring), signs dists/jammy/InRelease, which gives main/binary-amd64/Packages.xz
# sha256 37cb57f1…8f9c11, which gives each file's sha256. The release pocket never changes after release,
# so these URLs and hashes stay valid for as long as jammy is in the archive.
JAMMY_POOL = "http://archive.ubuntu.com/ubuntu/pool/main/"
JAMMY_PYTHON_3_10 = {  # path in the pool: sha256
    "p/python3.10/python3.10-minimal_3.10.4-3_amd64.deb": "beb041e53740a7720e4289f0caf3e418469951cd66bb5efbefb298e6b016a187",
    "p/python3.10/libpython3.10-minimal_3.10.4-3_amd64.deb": "e83f695339a6b6b691ccfe11e50a54693606371d294351bdeaaedf2fcc1ba09a",
    "p/python3.10/libpython3.10-stdlib_3.10.4-3_amd64.deb": "9f631dd658cf253c4a0016d17072056218d8f839383fb41c28fbba1f860364d4",
    # _decimal's libmpdec.so.3: Debian 12's CPython 3.11 has its own copy, so bookworm has none installed
    "m/mpdecimal/libmpdec3_2.5.1-2build2_amd64.deb": "941ca0b2e73d26522f75a801b1bf529afa5ceb2ac9b00cbf324b59f474cae813",
}

# Runs in a throwaway container of the python stand-in (network host, for apt), writes the archive to
# /out and prints its file name. $PY is the Python minor (3.11: the container's own; 3.10: the .deb files
# mounted at /debs are unpacked first). Nothing on the host is changed but the output folder.
ASSEMBLE = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive
if ! command -v patchelf >/dev/null; then
  { apt-get update -qq && apt-get install -qqy --no-install-recommends patchelf; } >/tmp/apt.log 2>&1 \
    || { cat /tmp/apt.log >&2; echo "could not install patchelf in the throwaway container" >&2; exit 3; }
fi
if [ "$PY" != 3.11 ]; then
  for deb in /debs/*.deb; do dpkg-deb -x "$deb" /; done
  # Ubuntu's apport hook: a link to /etc, which the archive does not carry
  rm -f /usr/lib/python$PY/sitecustomize.py
fi
V=$(/usr/bin/python$PY -c 'import platform; print(platform.python_version())')
R=/build/python
rm -rf /build && mkdir -p $R/bin $R/lib
cp -a /usr/lib/python$PY $R/lib/python$PY
# pip (pure Python) from the container's 3.11 venv
cp -a /usr/local/lib/python3.11/site-packages $R/lib/python$PY/site-packages
rm -f $R/lib/python$PY/EXTERNALLY-MANAGED
find $R -name __pycache__ -prune -exec rm -rf {} +
cp /usr/bin/python$PY $R/bin/python$PY
ln -s python$PY $R/bin/python3
printf '#!/bin/sh\nexec "$(dirname "$0")/python%s" -m pip "$@"\n' "$PY" > $R/bin/pip3
chmod 755 $R/bin/pip3 && ln -s pip3 $R/bin/pip && ln -s pip3 $R/bin/pip$PY
# No bin/python: python-build-standalone has none either (the template links it).
# Upstream CPython's layout (as in python-build-standalone), not Debian's: pip installs into
# lib/pythonX.Y/site-packages (sysconfig's posix_prefix scheme). Debian's and Ubuntu's `site` read
# lib/pythonX.Y/dist-packages, so that is a link to site-packages.
ln -s site-packages $R/lib/python$PY/dist-packages
/usr/bin/python$PY - "$R/lib/python$PY/sysconfig.py" <<'PYCODE'
import sys
path = sys.argv[1]
old = "            prefix_scheme = 'posix_local'\n"
text = open(path).read()
assert text.count(old) == 1, "Debian's sysconfig changed; update the stand-in archive recipe"
open(path, "w").write(text.replace(old, "            prefix_scheme = 'posix_prefix'  # cogpin stand-in\n"))
PYCODE
# Shared libraries beyond glibc that the interpreter and its extension modules need: copied into
# python/lib and found through an $ORIGIN-relative RPATH, so the tree runs on a bare Debian minbase.
glibc='^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libutil\.so\.1|libresolv\.so\.2|libanl\.so\.1|libnsl\.so\.1|libmvec\.so\.1|ld-linux-x86-64\.so\.2)$'
missing=$(for f in $R/bin/python$PY $R/lib/python$PY/lib-dynload/*.so; do ldd "$f"; done | grep 'not found' || true)
[ -z "$missing" ] || { echo "shared libraries not found: $missing" >&2; exit 4; }
for f in $R/bin/python$PY $R/lib/python$PY/lib-dynload/*.so; do
  ldd "$f" | awk '/=> \// {print $1, $3}'
done | sort -u | while read -r soname path; do
  if echo "$soname" | grep -Eq "$glibc"; then continue; fi
  [ -e "$R/lib/$soname" ] || cp -L "$path" "$R/lib/$soname"
done
patchelf --set-rpath '$ORIGIN/../lib' $R/bin/python$PY
for f in $R/lib/python$PY/lib-dynload/*.so; do patchelf --set-rpath '$ORIGIN/../..' "$f"; done
for f in $R/lib/*.so*; do chmod 644 "$f"; patchelf --set-rpath '$ORIGIN' "$f"; done
NAME="cpython-$V+cogpinstandin-x86_64-unknown-linux-gnu-install_only.tar.gz"
cd /build
tar --sort=name --mtime=@315532800 --owner=0 --group=0 --numeric-owner --format=gnu -cf - python \
  | gzip -n -6 > "/out/$NAME.tmp"
mv "/out/$NAME.tmp" "/out/$NAME"
chown -R "$OUT_UID:$OUT_GID" /out
echo "$NAME"
"""


@dataclass(frozen=True)
class Archive:
    path: Path
    sha256: str
    version: str  # the Python inside (Debian 12's 3.11.x, Ubuntu 22.04's 3.10.4)


def jammy_python_debs(folder: Path) -> Path:
    """Ubuntu 22.04's CPython 3.10 packages in ``folder`` (downloaded once, checked by sha256 every time)."""
    folder.mkdir(parents=True, exist_ok=True)
    for pool_path, sha256 in JAMMY_PYTHON_3_10.items():
        name = pool_path.rsplit("/", 1)[1]
        path = folder / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            with urllib.request.urlopen(JAMMY_POOL + pool_path, timeout=120) as r:
                data = r.read()
            got = hashlib.sha256(data).hexdigest()
            assert got == sha256, f"{JAMMY_POOL}{pool_path}: sha256 {got}, pinned {sha256}"
            path.write_bytes(data)
    return folder


def make_standin_archive(out: Path, python: str, labels: dict[str, str], debs: Path | None = None) -> Archive:
    """The stand-in standalone-CPython archive of ``python`` ("3.11", or "3.10" with ``debs`` from
    :func:`jammy_python_debs`), made in a throwaway container labelled ``labels`` (a few seconds)."""
    assert (python == "3.11") == (debs is None), "3.11 is the container's own; other versions need debs"
    volumes = {str(out): {"bind": "/out", "mode": "rw"}}
    if debs is not None:
        volumes[str(debs)] = {"bind": "/debs", "mode": "ro"}
    t0 = time.monotonic()
    logs = client().containers.run(
        PYTHON_STANDIN,
        ["sh", "-c", ASSEMBLE],
        environment={"OUT_UID": str(os.getuid()), "OUT_GID": str(os.getgid()), "PY": python},
        volumes=volumes,
        network_mode="host",
        labels=labels,
        remove=True,
    )
    name = logs.decode().strip().splitlines()[-1]
    path = out / name
    assert path.is_file(), f"no archive: {logs.decode()[-2000:]}"
    print(
        f"\nstand-in standalone-CPython archive {name}: {path.stat().st_size / 1e6:.1f} MB in {time.monotonic() - t0:.1f}s"
    )
    version = name.removeprefix("cpython-").split("+", 1)[0]
    assert version.startswith(python + "."), name
    return Archive(path, hashlib.sha256(path.read_bytes()).hexdigest(), version)


def cli(*args: str, cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [COGPIN, *args], cwd=cwd, capture_output=True, text=True, timeout=900, env={**os.environ, **env}
    )
    if check and p.returncode != 0:
        raise AssertionError(f"cogpin {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def use_standin_archive(d: Path, archive: Archive) -> None:
    """Point the lock's ``[locked.standalone-python]`` (an output: the inputs hash is unaffected) at the
    stand-in archive. No URL: the build must find it by filename + sha256 in a find-links folder."""
    lock = Lock.load(d / "cog.lock")
    standalone = lock.data["locked"]["standalone-python"]
    standalone.update(filename=archive.path.name, sha256=archive.sha256, version=archive.version)
    standalone.pop("url", None)
    lock.data["locked"]["python"] = archive.version
    (d / "cog.lock").write_text(lock.dumps())


def shell(image: str, command: str, labels: dict[str, str]) -> str:
    out = client().containers.run(
        image,
        ["sh", "-c", command],
        entrypoint=[],
        remove=True,
        labels=labels,
        network_disabled=True,
    )
    return out.decode()


@contextmanager
def serving(image_id: str, labels: dict[str, str]) -> Iterator[str]:
    container = client().containers.run(
        image_id, detach=True, labels=labels, ports={"5000/tcp": ("127.0.0.1", None)}
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


def assert_standalone_python(image_id: str, python: str, labels: dict[str, str]) -> None:
    """``python`` on PATH in the image is the archive's, of minor ``python``, and the runtime is in it."""
    out = shell(
        image_id,
        'command -v python; readlink -f "$(command -v python)"; '
        "python -c 'import sys, cog; print(\"%d.%d\" % sys.version_info[:2], sys.prefix, cog.__file__)'",
        labels,
    ).split()
    assert out[0] == "/opt/python/bin/python"  # the template's link: python-build-standalone has none
    assert out[1] == f"/opt/python/bin/python{python}"
    assert out[2:4] == [python, "/opt/python"]
    assert out[4].startswith(f"/opt/python/lib/python{python}/")  # the runtime went into the archive's Python


def remove_test_objects(label: str, tag_prefix: str, run_id: str, twins_of: tuple[str, ...] = ()) -> None:
    """Remove the containers labelled ``dev.cogpin.test=<label>`` and this run's images tagged
    ``<tag_prefix>…<run_id>``; then the untagged image each image ID in ``twins_of`` was made from by the
    build's labels-only last step (the same layers, no tag), which a multi-GB build would otherwise leave
    on the disk until the session's prune of dangling images older than half an hour."""
    c = client()
    for container in c.containers.list(all=True, filters={"label": f"dev.cogpin.test={label}"}):
        container.remove(force=True)
    layers = []
    for image_id in twins_of:
        try:
            layers.append(c.images.get(image_id).attrs["RootFS"]["Layers"])
        except Exception:  # noqa: BLE001 - never built, or gone already
            pass
    for image in c.images.list():
        for t in image.tags:
            if t.startswith(tag_prefix) and run_id in t:
                try:
                    c.images.remove(t, force=True)
                except Exception:  # noqa: BLE001
                    pass
    for image in c.images.list(filters={"dangling": True}) if layers else ():
        if image.attrs["RootFS"]["Layers"] in layers:
            try:
                c.images.remove(image.id)  # without force: never one a container stands on
            except Exception:  # noqa: BLE001
                pass
