"""The parts of ``cog.lock`` that a build needs, read from the lock's TOML (docs/design.md is the contract).

Works on the text, so it serves a ``cogpin.lock.Lock`` (through ``dumps()``), a path, raw text or a parsed
dict alike. Pure.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from cogpin.lock.model import Lock, LockError

# What may appear in a requirement line written into a RUN step (names are PEP 503 normalised, versions PEP 440).
_SAFE = re.compile(r"^[A-Za-z0-9._+!-]+$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Artifact:
    filename: str
    sha256: str
    url: str = ""

    @property
    def href(self) -> str:
        return f"{self.filename}#sha256={self.sha256}"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    wheels: tuple[Artifact, ...]

    def requirement(self) -> str:
        hashes = " ".join(f"--hash=sha256:{w.sha256}" for w in self.wheels)
        return f"{self.name}=={self.version} {hashes}"


@dataclass(frozen=True)
class LockView:
    text: str
    sha256: str  # of the lock file's bytes
    base_image: str
    base_digest: str
    platform: str
    python: str
    python_source: str  # "image" | "standalone"
    standalone_python: Artifact | None
    cuda: str
    cudnn: str
    system_packages: tuple[str, ...]
    packages: tuple[Package, ...]
    runtime: Package

    @property
    def base_ref(self) -> str:
        """``image:tag@sha256:…``: readable, and pinned (the engine uses only the digest)."""
        return f"{self.base_image}@{self.base_digest}"

    def artifacts(self) -> tuple[Artifact, ...]:
        """Every artifact a build of this lock needs, each once (sorted by filename)."""
        seen: dict[str, Artifact] = {}
        for p in (*self.packages, self.runtime):
            for w in p.wheels:
                seen[w.sha256 + w.filename] = w
        if self.standalone_python is not None:
            seen[self.standalone_python.sha256] = self.standalone_python
        return tuple(sorted(seen.values(), key=lambda a: a.filename))


# what a lock can be read from: a parsed Lock, its view, a path, or the text itself
LockSource = Union[Lock, "LockView", Path, str]


def lock_text(lock: LockSource) -> str:
    """The TOML text of ``lock``: a Lock (``dumps()``), a Path, or the text itself."""
    if isinstance(lock, LockView):
        return lock.text
    if isinstance(lock, Path):
        return lock.read_text(encoding="utf-8")
    if isinstance(lock, str):
        return lock
    dumps = getattr(lock, "dumps", None)
    if callable(dumps):
        return str(dumps())
    raise TypeError(f"cannot read a lock from {type(lock).__name__}")


def view(lock: LockSource, where: str = "cog.lock") -> LockView:
    if isinstance(lock, LockView):
        return lock
    data = getattr(lock, "data", None)
    if isinstance(data, dict):  # a parsed cogpin.lock.Lock: no second serialise + parse
        return from_dict(data, getattr(lock, "text", None) or lock_text(lock), where)
    text = lock_text(lock)
    return from_dict(Lock.loads(text, where).data, text, where)


def _need(table: dict, key: str, where: str) -> Any:
    if key not in table or table[key] in (None, ""):
        raise LockError(f"{where}: missing `{key}`", "run `cogpin lock` to write it again.")
    return table[key]


def _artifact(t: dict, where: str) -> Artifact:
    sha = str(_need(t, "sha256", where)).removeprefix("sha256:")
    filename = str(_need(t, "filename", where))
    if not _SHA.match(sha):
        raise LockError(f"{where}: sha256 {sha!r} of {filename} is not a sha256 hex digest")
    if "/" in filename or filename.startswith("."):
        raise LockError(f"{where}: bad artifact file name {filename!r}")
    return Artifact(filename=filename, sha256=sha, url=str(t.get("url", "")))


def _safe(value: str, what: str, where: str) -> str:
    if not _SAFE.match(value):
        raise LockError(f"{where}: {what} {value!r} has characters a requirement cannot have")
    return value


def from_dict(data: dict, text: str, where: str = "cog.lock") -> LockView:
    locked = data.get("locked") or {}
    original = data.get("original") or {}
    bases = locked.get("base") or []
    if not bases:
        raise LockError(f"{where}: no [[locked.base]] image", "run `cogpin lock`.")
    platform = "linux/amd64"
    base = next((b for b in bases if b.get("platform", platform) == platform), bases[0])
    platform = str(base.get("platform") or platform)
    digest = str(_need(base, "digest", f"{where} [[locked.base]]"))
    if not re.match(r"^sha256:[0-9a-f]{64}$", digest):
        raise LockError(f"{where}: base digest {digest!r} is not sha256:<64 hex>")
    source = str(locked.get("python-source") or "image")
    standalone = None
    if source == "standalone":
        standalone = _artifact(
            _need(locked, "standalone-python", where), f"{where} [locked.standalone-python]"
        )

    packages = []
    for p in data.get("package") or []:
        name = _safe(str(_need(p, "name", f"{where} [[package]]")), "package name", where)
        pwhere = f"{where} [[package]] {name}"
        version = _safe(str(_need(p, "version", pwhere)), "version", pwhere)
        wheels = tuple(
            _artifact(w, pwhere)
            for w in p.get("wheel") or []
            if str(w.get("platform") or "any") in (platform, "any")
        )
        if not wheels:
            raise LockError(
                f"{pwhere}: no wheel for {platform}",
                "cogpin installs wheels only; lock again with this platform (`cogpin lock --platform`).",
            )
        packages.append(Package(name, version, wheels))
    rt = data.get("runtime")
    if not rt:
        raise LockError(f"{where}: no [runtime] table", "run `cogpin lock`.")
    runtime = Package(
        _safe(str(_need(rt, "name", f"{where} [runtime]")), "runtime name", where),
        _safe(str(_need(rt, "version", f"{where} [runtime]")), "runtime version", where),
        (_artifact(rt, f"{where} [runtime]"),),
    )
    return LockView(
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        base_image=str(_need(base, "image", f"{where} [[locked.base]]")),
        base_digest=digest,
        platform=platform,
        python=str(locked.get("python") or original.get("python_version") or ""),
        python_source=source,
        standalone_python=standalone,
        cuda=str(locked.get("cuda") or ""),
        cudnn=str(locked.get("cudnn") or ""),
        system_packages=tuple(str(s) for s in original.get("system_packages") or ()),
        packages=tuple(sorted(packages, key=lambda p: p.name)),
        runtime=runtime,
    )
