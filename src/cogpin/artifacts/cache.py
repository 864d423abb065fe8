"""A content-addressed artifact cache shared by all projects: ``<cache>/artifacts/sha256/<hex>/<filename>``.

Artifacts (wheels, Python archives) are identified by sha256; URLs are only hints of where to get them.
Everything is verified on the way in, and written atomically, so a half-downloaded file is never used.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from cogpin.errors import CogpinError
from cogpin.fsutil import atomic_write, sha256_file


class HashMismatch(CogpinError):
    pass


class ArtifactCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "artifacts" / "sha256"

    def path_for(self, sha256: str, filename: str) -> Path:
        return self.root / sha256 / filename

    def get(self, sha256: str, filename: str) -> Path | None:
        """The cached file, if present (its hash was verified when it came in)."""
        p = self.path_for(sha256, filename)
        return p if p.is_file() else None

    def put_bytes(self, data: bytes, filename: str) -> tuple[Path, str]:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path_for(sha, filename)
        if not target.is_file():
            self._write(target, data)
        return target, sha

    def put_file(self, source: Path, filename: str, expected_sha256: str, origin: str) -> Path:
        """Copy ``source`` in after checking its hash; on mismatch nothing is stored."""
        actual = sha256_file(source)
        if actual != expected_sha256:
            raise HashMismatch(
                f"hash mismatch for {filename} (from {origin}): expected sha256:{expected_sha256}, "
                f"got sha256:{actual}",
                "the artifact changed since the lock was made; if that is expected, run `cogpin lock --upgrade-package`.",
            )
        target = self.path_for(actual, filename)
        if not target.is_file():

            def copy(f: BinaryIO) -> None:
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, f, 1 << 20)

            self._write(target, copy)
        return target

    @staticmethod
    def _write(target: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data)
