"""The build context: a tar of the Dockerfile, cogpin's init, the CA certificate and the project, with
fixed mtimes, owners and modes in a fixed order, so the same inputs give the same bytes."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import IO

from cogpin.fsutil import FILE_EPOCH


def write_context(
    out: IO[bytes], dockerfile: str, files: list[tuple[str, Path]], ca: bytes | None, include_project: bool
) -> None:
    """A tar with fixed mtimes, owners and modes, in a fixed order: the same inputs, the same bytes.

    Files reach the image through ``COPY <tree>/ /`` of trees that hold every parent folder (``/src``
    included), so no folder is ever created by the builder with the time of the build."""
    from cogpin.templates import CA_TREE, INIT_PATH, PROJECT_TREE, ROOTFS_TREE, init_script

    added: set[str] = set()

    def info(name: str, size: int = 0, mode: int = 0o644, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.type, ti.mtime = size, mode, kind, FILE_EPOCH
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def folders(name: str) -> None:
            parts = name.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in added:
                    added.add(d)
                    tar.addfile(info(d, mode=0o755, kind=tarfile.DIRTYPE))

        def add_bytes(name: str, data: bytes, mode: int = 0o644) -> None:
            folders(name)
            tar.addfile(info(name, len(data), mode), io.BytesIO(data))

        add_bytes("Dockerfile", dockerfile.encode())
        if ca is not None:
            add_bytes(f"{CA_TREE}/usr/local/share/ca-certificates/cogpin-ca.crt", ca)
        add_bytes(f"{ROOTFS_TREE}{INIT_PATH}", init_script())
        folders(f"{ROOTFS_TREE}/src/")
        if not include_project:
            return
        folders(f"{PROJECT_TREE}/src/")
        for rel, p in files:
            name = f"{PROJECT_TREE}/src/{rel}"
            if p.is_symlink():
                ti = info(name, kind=tarfile.SYMTYPE, mode=0o777)
                ti.linkname = os.readlink(p)
                tar.addfile(ti)
            elif p.is_dir():
                added.add(name)
                tar.addfile(info(name, mode=0o755, kind=tarfile.DIRTYPE))
            else:
                mode = 0o755 if os.access(p, os.X_OK) else 0o644
                with open(p, "rb") as f:
                    tar.addfile(info(name, p.stat().st_size, mode), f)
