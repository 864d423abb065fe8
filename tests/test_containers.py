"""Model-container helpers that need no engine: --gpus, -e, the schema cache key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cogpin import containers
from cogpin.errors import CogpinError


def test_device_requests():
    assert containers.device_requests(None) is None
    assert containers.device_requests("all") == [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]
    assert containers.device_requests("2")[0]["Count"] == 2
    assert containers.device_requests("device=0,2")[0]["DeviceIDs"] == ["0", "2"]
    assert containers.device_requests('"device=1"')[0]["DeviceIDs"] == ["1"]


def test_gpus_default_to_all_only_with_a_gpu(monkeypatch: pytest.MonkeyPatch):
    notes: list[str] = []
    monkeypatch.setattr(containers, "gpu_present", lambda client=None: False)
    assert containers.choose_gpus(None, True, None, notes.append) is None
    assert notes and "no NVIDIA GPU" in notes[0]
    assert containers.choose_gpus(None, False, None, notes.append) is None and len(notes) == 1
    assert containers.choose_gpus("1", False, None, notes.append) == "1"
    monkeypatch.setattr(containers, "gpu_present", lambda client=None: True)
    assert containers.choose_gpus(None, True, None, notes.append) == "all"


def test_parse_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("NOT_SET", raising=False)
    assert containers.parse_env(["A=1", "B=x=y", "FROM_HOST", "NOT_SET", "E="]) == {
        "A": "1",
        "B": "x=y",
        "FROM_HOST": "h",
        "E": "",
    }
    with pytest.raises(CogpinError):
        containers.parse_env(["=oops"])
    with pytest.raises(CogpinError):
        containers.parse_env(["BAD KEY=1"])


def test_lock_mode():
    assert containers.lock_mode(False, False) == "locked"
    assert containers.lock_mode(True, False) == "frozen"
    assert containers.lock_mode(False, True) == "relock"
    with pytest.raises(CogpinError):
        containers.lock_mode(True, True)


def test_source_digest_follows_python_files_only(tmp_path: Path):
    (tmp_path / "predict.py").write_text("a")
    (tmp_path / "weights.bin").write_bytes(b"0" * 10)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.py").write_text("ignored")
    d1 = containers.source_digest(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"1" * 10)
    (tmp_path / ".git" / "x.py").write_text("still ignored")
    assert containers.source_digest(tmp_path) == d1
    (tmp_path / "predict.py").write_text("b")
    assert containers.source_digest(tmp_path) != d1
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "util.py").write_text("c")
    assert containers.source_digest(tmp_path) not in (d1,)


def test_timing_is_silent_unless_asked(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("COGPIN_TIMING", raising=False)
    t = containers.Timing()
    t.mark("x")
    t.report()
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("COGPIN_TIMING", "1")
    t = containers.Timing()
    t.mark("start")
    t.report()
    assert capsys.readouterr().err.startswith("cogpin-timing: start=")
