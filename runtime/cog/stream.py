"""@streaming: marks a predict function whose outputs may be consumed as Server-Sent Events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def streaming(fn: F) -> F:
    """Allow `Accept: text/event-stream` on POST /predictions for this predict function."""
    fn.__cog_streaming__ = True  # type: ignore[attr-defined]
    return fn
