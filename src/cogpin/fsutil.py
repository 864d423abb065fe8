"""Files on this machine, one helper each: the atomic writer, the file hasher, the fixed 1980 timestamp
every reproducible file carries, and the short and project-relative forms of paths used in messages."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# 1980-01-01 (the earliest time a zip can hold): the mtime of every file in a build context, a package
# layer and the engine's wheel volume, so the same inputs give the same bytes.
FILE_EPOCH = 315532800


def atomic_write(
    path: Path | str,
    data: bytes | str | Callable[[BinaryIO], None],
    *,
    mode: int | None = None,
    durable: bool = False,
) -> None:
    """Write ``data`` (bytes, text as UTF-8, or a function writing into the open file) to ``path``
    through a temporary file in the same folder and ``os.replace``: a reader sees the old file or the
    new one, never half of one. ``mode`` sets the permissions (else those of a private temp file);
    ``durable`` syncs the bytes to disk before the rename. The folder must exist."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path | str) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def display_path(path: Path | str) -> str:
    """A short form of a path for messages: relative to cwd when inside it, else ``~/…``, else absolute."""
    path = Path(os.path.abspath(path))
    try:
        cwd: Path | None = Path.cwd()
    except OSError:
        cwd = None
    if cwd is not None:
        try:
            rel = path.relative_to(cwd)
            return str(rel) if str(rel) != "." else "."
        except ValueError:
            pass
    try:
        home = Path.home()
        rel = path.relative_to(home)
        return "~" if str(rel) == "." else f"~/{rel}"
    except (ValueError, RuntimeError):
        return str(path)


def relative_posix(root: Path, path: Path) -> str:
    """A project-relative POSIX path (with ``..`` when outside the project): never a machine path."""
    return Path(os.path.relpath(path, root)).as_posix()
