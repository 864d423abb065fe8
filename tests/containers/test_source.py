"""cogpin.containers.source without an engine: the schema cache key."""

from __future__ import annotations

from pathlib import Path

from cogpin.containers import source


def test_source_digest_follows_python_files_only(tmp_path: Path):
    (tmp_path / "predict.py").write_text("a")
    (tmp_path / "weights.bin").write_bytes(b"0" * 10)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.py").write_text("ignored")
    d1 = source.source_digest(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"1" * 10)
    (tmp_path / ".git" / "x.py").write_text("still ignored")
    assert source.source_digest(tmp_path) == d1
    (tmp_path / "predict.py").write_text("b")
    assert source.source_digest(tmp_path) != d1
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "util.py").write_text("c")
    assert source.source_digest(tmp_path) not in (d1,)
