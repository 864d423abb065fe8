"""current_scope(): the per-prediction context and metrics; emit_metric (deprecated)."""

from __future__ import annotations

import contextvars
import warnings
from collections.abc import Callable
from typing import Any

from .metrics import MetricRecorder

_EMPTY: dict[str, str] = {}


class Scope:
    """What a running prediction sees: its request `context` and `metrics` (a cog.metrics.MetricRecorder)."""

    def __init__(
        self, context: dict[str, str] | None = None, on_metric: Callable[[str, Any, str], None] | None = None
    ) -> None:
        self.context: dict[str, str] = dict(context or {})
        self.metrics = MetricRecorder(on_metric)

    def record_metric(self, key: str, value: Any, mode: str | None = None) -> None:
        """Record a metric (Cog's rules: see cog.metrics); mode: replace (default), incr or append."""
        self.metrics.record(key, value, mode)

    def __repr__(self) -> str:
        return f"Scope({self.metrics!r})"


_current: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("cog_scope", default=None)


def current_scope() -> Scope:
    """The scope of the prediction running in this thread/task (a no-op scope outside predictions)."""
    scope = _current.get()
    return scope if scope is not None else Scope()


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
