"""A content-addressed artifact cache shared by all projects: ``<cache>/artifacts/sha256/<hex>/<filename>``.

Artifacts (wheels, Python archives) are identified by sha256; URLs are only hints of where to get them.
Everything is verified on the way in, and written atomically, so a half-downloaded file is never used.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from cogpin.errors import CogpinError


class HashMismatch(CogpinError):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
            self._write_atomic(target, lambda f: f.write(data))
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

            def copy(f):  # type: ignore[no-untyped-def]
                with open(source, "rb") as src:
                    while chunk := src.read(1 << 20):
                        f.write(chunk)

            self._write_atomic(target, copy)
        return target

    @staticmethod
    def _write_atomic(target: Path, write) -> None:  # type: ignore[no-untyped-def]
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
