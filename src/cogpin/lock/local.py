"""Local artifacts named as requirements (``./dist/pkg-0.1.0.tar.gz``, a local wheel, a ``.zip`` sdist, a
package folder): Cog installs them as they are; cogpin locks them, the Nix way.

- :func:`source_hash` is the artifact's identity: a file's sha256, or for a folder the sha256 of its
  files' paths, executable bits and contents (VCS and build leftovers excluded). It is an input of the
  lock (``cogpin.lock.inputs``), so a changed artifact makes the lock stale.
- :func:`local_wheels` gives each artifact's wheel, in the content-addressed cache: a wheel as it is; an
  sdist or a folder built into a wheel with ``uv build`` from a clean copy, with ``SOURCE_DATE_EPOCH`` and
  ``PYTHONHASHSEED`` fixed, so that the same source gives the same wheel, byte for byte. Built wheels are
  remembered by source hash; a build on another machine rebuilds and must give the locked sha256.
The resolver offers these wheels to uv as a find-links folder under their pinned ``name==version``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from cogpin.artifacts.cache import ArtifactCache
from cogpin.errors import CogpinError
from cogpin.fsutil import atomic_write, sha256_file
from cogpin.settings import Settings

# 1980-01-01 (the earliest time a zip file can hold): the wheels' file times
BUILD_EPOCH = "315532800"
_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "build", "dist", ".tox", ".mypy_cache"}


class LocalArtifactError(CogpinError):
    pass


@dataclass(frozen=True)
class LocalWheel:
    source: str  # the artifact, project-relative
    source_sha256: str
    path: Path  # the wheel, in the artifact cache
    filename: str
    sha256: str

    @property
    def name(self) -> str:
        return str(canonicalize_name(parse_wheel_filename(self.filename)[0]))

    @property
    def version(self) -> str:
        return str(parse_wheel_filename(self.filename)[1])

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


def _tree(folder: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            if not name.endswith((".pyc", ".pyo")):
                yield Path(dirpath) / name


def source_hash(path: Path) -> str:
    """``sha256:<hex>`` of a file, or of a folder's files (relative path, executable bit, content)."""
    if path.is_file():
        return "sha256:" + sha256_file(path)
    h = hashlib.sha256()
    for f in _tree(path):
        executable = "x" if os.stat(f).st_mode & stat.S_IXUSR else "-"
        h.update(f"{f.relative_to(path).as_posix()}\0{executable}\0{sha256_file(f)}\n".encode())
    return "sha256:" + h.hexdigest()


def source_hashes(config: Any) -> dict[str, str]:
    """``{project-relative path: source hash}`` of the config's local artifacts (for the lock's inputs)."""
    out = {}
    for rel in getattr(config.requirements, "local_artifacts", ()) or ():
        path = Path(config.root) / rel
        out[rel] = source_hash(path) if path.exists() else "missing"
    return out


def _memo(settings: Settings, source_sha: str) -> Path:
    return settings.cache_dir / "local-builds" / f"{source_sha.removeprefix('sha256:')}.json"


def local_wheels(
    config: Any, settings: Settings, progress: Callable[[str], None] = lambda _: None
) -> list[LocalWheel]:
    """The wheel of every local artifact of ``config`` (built when needed), in the artifact cache."""
    cache = ArtifactCache(settings.cache_dir)
    out = []
    for rel in getattr(config.requirements, "local_artifacts", ()) or ():
        path = Path(config.root) / rel
        if not path.exists():
            raise LocalArtifactError(
                f"the requirement {rel} is gone: no such file or folder in {config.root}",
                "restore it, or remove it from the requirements and run `cogpin lock`.",
            )
        src_sha = source_hash(path)
        if path.is_file() and path.name.endswith(".whl"):
            try:
                parse_wheel_filename(path.name)
            except InvalidWheelFilename as e:
                raise LocalArtifactError(f"{rel}: not a valid wheel file name ({e})") from None
            sha = src_sha.removeprefix("sha256:")
            cached = cache.put_file(path, path.name, sha, rel)
            out.append(LocalWheel(rel, src_sha, cached, path.name, sha))
            continue
        memo = _memo(settings, src_sha)
        try:
            known = json.loads(memo.read_text())
            cached_path = cache.get(known["sha256"], known["filename"])
        except (OSError, ValueError, KeyError):
            cached_path = None
        if cached_path is None:
            progress(f"building a wheel from {rel} (deterministic: SOURCE_DATE_EPOCH={BUILD_EPOCH})")
            wheel = _build_wheel(path, rel, settings)
            sha = sha256_file(wheel)
            cached_path = cache.put_file(wheel, wheel.name, sha, rel)
            shutil.rmtree(wheel.parent.parent, ignore_errors=True)
            memo.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(memo, json.dumps({"filename": cached_path.name, "sha256": sha}), mode=0o644)
        out.append(LocalWheel(rel, src_sha, cached_path, cached_path.name, cached_path.parent.name))
    return out


def _unpack(path: Path, into: Path, rel: str) -> Path:
    """An sdist unpacked (safely: no paths outside ``into``); its one top folder, else ``into``."""
    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as z:
                for member in z.namelist():
                    target = (into / member).resolve()
                    if not str(target).startswith(str(into.resolve())):
                        raise LocalArtifactError(f"{rel}: the archive names a path outside itself ({member})")
                z.extractall(into)
        else:
            with tarfile.open(path) as t:
                t.extractall(into, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as e:
        raise LocalArtifactError(f"{rel}: cannot unpack it ({e})", "check that it is an sdist.") from None
    entries = [p for p in into.iterdir()]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into


def _copy_tree(folder: Path, into: Path) -> Path:
    for f in _tree(folder):
        target = into / f.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
    return into


def _build_wheel(path: Path, rel: str, settings: Settings) -> Path:
    """One wheel from an sdist or a folder, built from a clean copy with fixed time and hash seed."""
    from cogpin.resolver.python import uv_bin

    tmp = Path(tempfile.mkdtemp(prefix="cogpin-local-"))
    src = tmp / "src"
    src.mkdir()
    source = _unpack(path, src, rel) if path.is_file() else _copy_tree(path, src)
    out = tmp / "out"
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": BUILD_EPOCH,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if settings.ca_bundle:
        env["SSL_CERT_FILE"] = settings.ca_bundle
    else:
        env["UV_SYSTEM_CERTS"] = env["UV_NATIVE_TLS"] = "1"
    cmd = [
        uv_bin(),
        "build",
        "--wheel",
        "--no-config",
        "--quiet",
        "--out-dir",
        str(out),
        "--python",
        sys.executable,
        "--no-python-downloads",
        "--default-index",
        settings.index_url,
        str(source),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    wheels = sorted(out.glob("*.whl")) if out.is_dir() else []
    if proc.returncode != 0 or len(wheels) != 1:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        shutil.rmtree(tmp, ignore_errors=True)
        raise LocalArtifactError(
            f"cannot build a wheel from {rel}:\n{tail}",
            "fix its build (pyproject.toml / setup.py); `uv build --wheel` on it shows the same error.",
        )
    return wheels[0]


def check_rebuilt(locked: dict[str, str], wheels: list[LocalWheel]) -> None:
    """A wheel built here again must be the one the lock pins (``locked``: name → sha256)."""
    for w in wheels:
        want = locked.get(w.name)
        if want and want != w.sha256:
            raise LocalArtifactError(
                f"the wheel built here from {w.source} ({w.filename}, sha256:{w.sha256[:16]}…) is not the "
                f"one cog.lock pins (sha256:{want[:16]}…), although the source is unchanged: its build is "
                "not reproducible",
                f"commit the wheel instead (`uv build --wheel {w.source}` and name the .whl in the "
                "requirements), or make the build reproducible (no build time, paths or randomness in it).",
            )
