"""builder/context.py and the tags of builder/: the build context is deterministic."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from tests.build_fixtures import (
    make_project,
)


def test_context_is_deterministic(tmp_path: Path) -> None:
    from cogpin.builder.context import write_context
    from cogpin.builder.identity import project_files

    make_project(tmp_path)
    files = project_files(tmp_path)
    a, b = io.BytesIO(), io.BytesIO()
    write_context(a, "FROM x\n", files, b"-----BEGIN CERTIFICATE-----\n", True)
    os.utime(tmp_path / "predict.py", (12345, 12345))
    write_context(b, "FROM x\n", project_files(tmp_path), b"-----BEGIN CERTIFICATE-----\n", True)
    assert a.getvalue() == b.getvalue()
    a.seek(0)
    with tarfile.open(fileobj=a) as tar:
        names = tar.getnames()
        assert {m.uid for m in tar.getmembers()} == {0}
    assert names[0] == "Dockerfile"
    assert "cogpin/rootfs/usr/local/lib/cogpin/init.py" in names and "cogpin/rootfs/src" in names
    assert (
        "cogpin/ca/usr/local/share/ca-certificates/cogpin-ca.crt" in names
        and "project/src/predict.py" in names
        and "project/src/.git/x" not in names
    )


def test_tags() -> None:
    from cogpin.builder import repository

    assert repository("cog-hello:latest") == "cog-hello"
    assert repository("127.0.0.1:5000/a/b:v1") == "127.0.0.1:5000/a/b"
    assert repository("r8.im/u/m") == "r8.im/u/m"
    assert repository("r8.im/u/m@sha256:" + "0" * 64) == "r8.im/u/m"
