"""Shared fixtures of the lock tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No torch variant index is reachable, and no mirror of one is configured."""
    from cogpin.resolver import python as py_mod

    monkeypatch.setattr(py_mod, "reachable", lambda url, timeout=3.0: False)
    monkeypatch.delenv("COGPIN_TORCH_INDEX_URL", raising=False)
