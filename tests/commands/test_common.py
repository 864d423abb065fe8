"""cogpin.commands._common: -e KEY=VALUE, --frozen/--relock."""

from __future__ import annotations

import pytest

from cogpin.commands import _common
from cogpin.errors import CogpinError


def test_parse_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("NOT_SET", raising=False)
    assert _common.parse_env(["A=1", "B=x=y", "FROM_HOST", "NOT_SET", "E="]) == {
        "A": "1",
        "B": "x=y",
        "FROM_HOST": "h",
        "E": "",
    }
    with pytest.raises(CogpinError):
        _common.parse_env(["=oops"])
    with pytest.raises(CogpinError):
        _common.parse_env(["BAD KEY=1"])


def test_lock_mode():
    assert _common.lock_mode(False, False) == "locked"
    assert _common.lock_mode(True, False) == "frozen"
    assert _common.lock_mode(False, True) == "relock"
    with pytest.raises(CogpinError):
        _common.lock_mode(True, True)
