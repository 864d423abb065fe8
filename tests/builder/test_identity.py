"""builder/identity.py: the project files a build sends, the image's identity, the CA certificate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cogpin.config import load_config
from cogpin.errors import CogpinError
from cogpin.lock.view import view
from tests.build_fixtures import (
    TORCH,
    lock_text,
    make_project,
)


def test_project_files_honour_dockerignore_and_never_send_vcs_venvs_caches(tmp_path: Path) -> None:
    from cogpin.builder.identity import project_files

    make_project(tmp_path)
    names = [rel for rel, _ in project_files(tmp_path)]
    assert "predict.py" in names and "weights/w.bin" in names and "cog.yaml" in names
    for gone in ("notes.tmp", ".git/x", ".cog/x", ".venv/x", "__pycache__/x", "env/pyvenv.cfg", ".git/keep"):
        assert gone not in names


def test_identity_follows_content_only(tmp_path: Path) -> None:
    from cogpin.builder.identity import identity, project_files

    make_project(tmp_path)
    config = load_config(tmp_path / "cog.yaml")
    lv = view(lock_text())
    first = identity(lv, config, project_files(tmp_path), None, True)
    os.utime(tmp_path / "predict.py", (1, 1))
    (tmp_path / "notes.tmp").write_text("ignored file changed")
    assert identity(lv, config, project_files(tmp_path), None, True) == first
    (tmp_path / "predict.py").write_text("print('changed')\n")
    second = identity(lv, config, project_files(tmp_path), None, True)
    assert second != first
    assert identity(view(lock_text(packages=TORCH)), config, project_files(tmp_path), None, True) != second
    assert identity(lv, config, project_files(tmp_path), b"cert", True) != second
    env_a = identity(lv, config, project_files(tmp_path), None, False)
    (tmp_path / "predict.py").write_text("print('changed again')\n")
    assert identity(lv, config, project_files(tmp_path), None, False) == env_a  # the project is mounted


def test_identity_follows_the_labels_that_come_from_outside_the_lock(tmp_path: Path) -> None:
    """Title, git revision and created are in the image: a new commit must not reuse an image labelled
    with the old one."""
    from cogpin.builder.identity import identity, project_files
    from cogpin.builder.image_config import oci_labels

    make_project(tmp_path)
    config = load_config(tmp_path / "cog.yaml")
    lv = view(lock_text())
    files = project_files(tmp_path)
    base = identity(lv, config, files, None, True, {"org.opencontainers.image.title": "m"})
    rev_a = {"org.opencontainers.image.title": "m", "org.opencontainers.image.revision": "a" * 40}
    rev_b = {"org.opencontainers.image.title": "m", "org.opencontainers.image.revision": "b" * 40}
    assert identity(lv, config, files, None, True, rev_a) not in (
        base,
        identity(lv, config, files, None, True, rev_b),
    )
    assert identity(lv, config, files, None, True, rev_a) == identity(
        lv, config, files, None, True, dict(rev_a)
    )
    assert oci_labels(config)["org.opencontainers.image.title"] == tmp_path.name


def test_ca_certificate_cog_compatible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cogpin.builder.identity import ca_certificate

    pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    monkeypatch.delenv("COG_CA_CERT", raising=False)
    monkeypatch.delenv("COGPIN_CA_CERT", raising=False)
    assert ca_certificate(None) is None
    (tmp_path / "a.crt").write_text(pem)
    monkeypatch.setenv("COG_CA_CERT", str(tmp_path / "a.crt"))
    assert ca_certificate(None) == pem.encode()
    monkeypatch.setenv("COG_CA_CERT", str(tmp_path))
    assert ca_certificate(None) == pem.encode()
    monkeypatch.setenv("COG_CA_CERT", pem)
    assert ca_certificate(None) == pem.encode()
    monkeypatch.setenv("COG_CA_CERT", str(tmp_path / "missing.crt"))
    with pytest.raises(CogpinError, match="no such file"):
        ca_certificate(None)


def test_large_files_are_hashed_once_until_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cogpin.builder import identity as build

    make_project(tmp_path)
    weights = tmp_path / "weights" / "big.bin"
    weights.write_bytes(b"a" * (2 << 20))
    config = load_config(tmp_path / "cog.yaml")
    lv = view(lock_text())
    first = build.identity(lv, config, build.project_files(tmp_path), None, True)
    reads: list[Path] = []
    real = build.sha256_file
    monkeypatch.setattr(build, "sha256_file", lambda p: reads.append(p) or real(p))
    assert build.identity(lv, config, build.project_files(tmp_path), None, True) == first
    assert weights not in reads  # remembered in .cog/cogpin-digests.json
    weights.write_bytes(b"b" * (2 << 20))
    assert build.identity(lv, config, build.project_files(tmp_path), None, True) != first
    assert weights in reads
