"""current_scope(): the per-prediction context and metrics; emit_metric (deprecated)."""

from __future__ import annotations

import contextvars
import warnings
from collections.abc import Callable
from typing import Any

_EMPTY: dict[str, str] = {}


class Scope:
    """What a running prediction sees: its request `context` and a way to record metrics."""

    def __init__(
        self, context: dict[str, str] | None = None, on_metric: Callable[[str, Any, str], None] | None = None
    ) -> None:
        self.context: dict[str, str] = dict(context or {})
        self.metrics: dict[str, Any] = {}
        self._on_metric = on_metric

    def record_metric(self, name: str, value: Any, mode: str = "replace") -> None:
        if mode == "replace":
            self.metrics[name] = value
        elif mode == "incr":
            self.metrics[name] = self.metrics.get(name, 0) + value
        elif mode == "append":
            current = self.metrics.get(name)
            if not isinstance(current, list):
                current = [] if current is None else [current]
            current.append(value)
            self.metrics[name] = current
        else:
            raise ValueError(f"unknown metric mode {mode!r}: use replace, incr or append")
        if self._on_metric is not None:
            self._on_metric(name, self.metrics[name], mode)


_current: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("cog_scope", default=None)
_fallback = Scope()


def current_scope() -> Scope:
    """The scope of the prediction running in this thread/task (an empty scope outside predictions)."""
    scope = _current.get()
    return scope if scope is not None else _fallback


def set_scope(scope: Scope | None) -> contextvars.Token[Scope | None]:
    return _current.set(scope)


def reset_scope(token: contextvars.Token[Scope | None]) -> None:
    _current.reset(token)


def emit_metric(name: str, value: Any) -> None:
    """Deprecated: use current_scope().record_metric(name, value)."""
    warnings.warn(
        "emit_metric is deprecated; use current_scope().record_metric", DeprecationWarning, stacklevel=2
    )
    current_scope().record_metric(name, value)
