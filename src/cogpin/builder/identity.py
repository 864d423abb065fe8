"""The image's identity (Nix-style: the same inputs always give the same hash) and the inputs it is
made of: the project files sent to the build (.dockerignore honoured), their digests (remembered across
builds), and the CA certificate trusted in the image."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cogpin import settings
from cogpin.errors import CogpinError
from cogpin.fsutil import atomic_write, sha256_file

if TYPE_CHECKING:
    from cogpin.config import Config
    from cogpin.lock.view import LockView

# Never sent, whatever .dockerignore says (appended last, so no `!pattern` brings them back).
ALWAYS_EXCLUDED = (
    ".git",
    ".hg",
    ".svn",
    ".cog",
    ".venv",
    "venv",
    "**/__pycache__",
    "**/*.pyc",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "**/.DS_Store",
)


def ca_certificate(value: str | None) -> bytes | None:
    """The CA certificate(s) to trust in the image: ``--ca-cert``/``COG_CA_CERT`` as Cog reads it: a PEM
    file, a folder of ``*.crt``/``*.pem`` files, or the PEM text itself."""
    value = value if value is not None else settings.ca_cert()
    if not value:
        return None
    if "-----BEGIN" in value:
        data = value.encode()
    else:
        p = Path(value).expanduser()
        if p.is_dir():
            files = sorted([*p.glob("*.crt"), *p.glob("*.pem")])
            data = b"".join(f.read_bytes().rstrip(b"\n") + b"\n" for f in files)
        elif p.is_file():
            data = p.read_bytes()
        else:
            raise CogpinError(
                f"COG_CA_CERT={value}: no such file or folder", "give a PEM file, a folder or PEM text."
            )
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise CogpinError(f"COG_CA_CERT={value[:60]}: holds no PEM certificate")
    return data.rstrip(b"\n") + b"\n"


def project_files(root: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, path)`` for every file and folder sent to the build: .dockerignore is
    honoured; VCS folders, .cog/, virtual environments and caches never go."""
    from docker.utils.build import PatternMatcher

    patterns: list[str] = []
    ignore = root / ".dockerignore"
    if ignore.is_file():
        for line in ignore.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line)
    venvs = [d.name for d in root.iterdir() if d.is_dir() and (d / "pyvenv.cfg").is_file()]
    patterns += [*ALWAYS_EXCLUDED, *venvs]
    paths = sorted(set(PatternMatcher(patterns).walk(str(root))))
    out = []
    for rel in paths:
        p = root / rel
        if p.is_symlink() or p.is_file() or p.is_dir():
            out.append((Path(rel).as_posix(), p))
    return out


class DigestCache:
    """sha256 of project files, remembered by (size, mtime, inode) in ``.cog/cogpin-digests.json`` (as git's
    index does), so a no-op build does not read gigabytes of weights again. Files under 1 MB are always
    read."""

    MIN_SIZE = 1 << 20

    def __init__(self, root: Path) -> None:
        self.path = root / ".cog" / "cogpin-digests.json"
        try:
            self.entries: dict[str, list] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.changed = False

    def digest(self, rel: str, p: Path) -> str:
        st = p.stat()
        if st.st_size < self.MIN_SIZE:
            return sha256_file(p)
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = self.entries.get(rel)
        if entry and entry[:3] == key:
            return str(entry[3])
        digest = sha256_file(p)
        self.entries[rel] = [*key, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if not self.changed:
            return
        try:
            self.path.parent.mkdir(exist_ok=True)
            atomic_write(self.path, json.dumps(self.entries, sort_keys=True), mode=0o644)
        except OSError:
            pass  # a read-only project: digests are simply computed again next time


def identity(
    lock: LockView,
    config: Config,
    files: list[tuple[str, Path]],
    ca: bytes | None,
    include_project: bool,
    meta: dict[str, str] | None = None,
) -> str:
    """The image's content identity (Nix-style): the same inputs always give the same hash.

    ``meta`` holds the label values that come from outside the lock and the files (title, git revision,
    created): they are part of the image, so a reused image never carries another commit's labels."""
    from cogpin.templates import template_version

    h = hashlib.sha256()
    h.update(b"cogpin-identity-1\0")
    h.update(f"template={template_version()}\0lock={lock.sha256}\0project={include_project}\0".encode())
    h.update(b"ca=" + hashlib.sha256(ca or b"").hexdigest().encode() + b"\0")
    for key, value in sorted((meta or {}).items()):
        h.update(f"meta {key}={value}\0".encode())
    if not include_project:
        # The Dockerfile still depends on cog.yaml (run steps, environment, predictor).
        files = [(config.path.name, config.path)]
    digests = DigestCache(config.root)
    for rel, p in files:
        if p.is_symlink():
            h.update(f"L {rel} {os.readlink(p)}\0".encode())
        elif p.is_dir():
            h.update(f"D {rel}\0".encode())
        else:
            mode = "x" if os.access(p, os.X_OK) else "-"
            h.update(f"F {rel} {mode} {digests.digest(rel, p)}\0".encode())
    digests.save()
    return h.hexdigest()
