"""cogpin.containers.model_server without an engine: the timing split."""

from __future__ import annotations

import pytest

from cogpin.containers import model_server


def test_timing_is_silent_unless_asked(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("COGPIN_TIMING", raising=False)
    t = model_server.Timing()
    t.mark("x")
    t.report()
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("COGPIN_TIMING", "1")
    t = model_server.Timing()
    t.mark("start")
    t.report()
    assert capsys.readouterr().err.startswith("cogpin-timing: start=")
