"""Fixtures for the runtime tests (helpers live in cogrt.py)."""

from cogrt import receiver, serve  # noqa: F401 - re-exported fixtures
