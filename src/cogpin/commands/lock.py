"""`cogpin lock`."""

from __future__ import annotations

from typing import Any

from cogpin.errors import NotImplementedYet


def main(**options: Any) -> int:
    raise NotImplementedYet("lock")
