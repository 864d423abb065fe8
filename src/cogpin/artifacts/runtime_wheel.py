"""The runtime wheel that goes into every image, built deterministically from the ``cog`` package of the
``cogpin-runtime`` distribution, which ships inside cogpin itself (``cogpin/_runtime/cog`` in the wheel,
``runtime/cog`` in a checkout): the same sources always give the same sha256, so the lock can pin it like
any other wheel, and installing cogpin needs nothing that is not on the package index.

``COGPIN_RUNTIME_SOURCE`` may name a folder that holds the ``cog`` package (e.g. ``runtime/``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cogpin.artifacts.cache import ArtifactCache
from cogpin.errors import CogpinError
from cogpin.settings import runtime_source

DIST = "cogpin-runtime"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class RuntimeWheel:
    name: str
    version: str
    filename: str
    sha256: str
    path: Path


BUNDLED = Path(__file__).parents[1] / "_runtime" / "cog"  # the wheel's copy (see pyproject's force-include)
CHECKOUT = Path(__file__).resolve().parents[3] / "runtime" / "cog"  # a source checkout / editable install


def runtime_package_dir() -> Path:
    """The ``cog`` package to put into images: ``COGPIN_RUNTIME_SOURCE``, else the copy shipped inside
    cogpin's own wheel, else the checkout's ``runtime/cog`` (editable installs)."""
    override = runtime_source()
    if override:
        d = Path(override) / "cog"
        if not (d / "__init__.py").is_file():
            raise CogpinError(f"COGPIN_RUNTIME_SOURCE={override} holds no cog/__init__.py")
        return d
    for d in (BUNDLED, CHECKOUT):
        if (d / "__init__.py").is_file():
            return d
    raise CogpinError(
        f"cogpin's in-image runtime ({DIST}) is missing from this installation ({BUNDLED} not found)",
        "reinstall cogpin (`pip install --force-reinstall cogpin`), or set COGPIN_RUNTIME_SOURCE to a folder "
        "holding the runtime's cog/ package.",
    )


_VERSION = re.compile(r'^__version__\s*=\s*["\']([^"\']+)["\']', re.M)


def runtime_version(package_dir: Path | None = None) -> str:
    """The runtime's version, read from its ``cog/__init__.py`` (the one place it is written)."""
    init = (package_dir or runtime_package_dir()) / "__init__.py"
    m = _VERSION.search(init.read_text(encoding="utf-8"))
    if not m:
        raise CogpinError(f"{init} has no __version__ line")
    return m.group(1)


def wheel_bytes(package_dir: Path, version: str) -> bytes:
    """A py3-none-any wheel of ``package_dir`` with fixed timestamps, modes and entry order."""
    files: list[tuple[str, bytes]] = []
    for p in sorted(package_dir.rglob("*")):
        if p.is_dir() or "__pycache__" in p.parts or p.suffix in (".pyc", ".pyo"):
            continue
        files.append((f"cog/{p.relative_to(package_dir).as_posix()}", p.read_bytes()))
    dist_info = f"cogpin_runtime-{version}.dist-info"
    files.append(
        (
            f"{dist_info}/METADATA",
            f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {version}\nRequires-Python: >=3.9\n".encode(),
        )
    )
    files.append(
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: cogpin\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
    )
    record = []
    for name, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=9)
    return buf.getvalue()


_BUILT: dict[tuple[str, str, str], RuntimeWheel] = {}


def build_runtime_wheel(cache_dir: Path) -> RuntimeWheel:
    """The runtime wheel in the artifact cache. Built once per process (the lock's freshness check, the
    resolver and the build all ask for it; the installed runtime does not change under a running cogpin)."""
    package_dir = runtime_package_dir()
    version = runtime_version(package_dir)
    key = (str(package_dir), version, str(cache_dir))
    wheel = _BUILT.get(key)
    if wheel is None or not wheel.path.is_file():
        filename = f"cogpin_runtime-{version}-py3-none-any.whl"
        path, sha = ArtifactCache(cache_dir).put_bytes(wheel_bytes(package_dir, version), filename)
        wheel = _BUILT[key] = RuntimeWheel(DIST, version, filename, sha, path)
    return wheel
