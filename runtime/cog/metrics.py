"""User metrics as Cog records them (coglet's metric_scope.rs and prediction.rs): name rules, the type
invariant, the modes (replace, incr/increment, append), and dot-path names ("timing.preprocess") resolved
into nested objects. The messages are Cog's, word for word."""

from __future__ import annotations

import math
from typing import Any

MAX_NAME_LENGTH = 128
MAX_SEGMENTS = 4
MODES = {
    None: "replace",
    "replace": "replace",
    "incr": "increment",
    "increment": "increment",
    "append": "append",
}


def parse_mode(mode: str | None) -> str:
    """Cog's mode name ('replace', 'increment', 'append'), as the SSE `metric` event carries it."""
    try:
        return MODES[mode]
    except (KeyError, TypeError):
        raise TypeError(f"Invalid metric mode: '{mode}'. Expected 'replace', 'incr', or 'append'.") from None


def check_name_structure(key: str) -> None:
    if not key:
        raise ValueError("metric name must not be empty")
    if len(key) > MAX_NAME_LENGTH:
        raise ValueError(
            f"metric name must be {MAX_NAME_LENGTH} characters or fewer (got {len(key)} characters)"
        )
    segments = key.split(".")
    if len(segments) > MAX_SEGMENTS:
        raise ValueError(
            f"metric name must have at most {MAX_SEGMENTS} dot-separated segments (got {len(segments)})"
        )
    for i, segment in enumerate(segments):
        if not segment:
            if i == 0:
                raise ValueError("metric name must not start with a dot")
            if i == len(segments) - 1:
                raise ValueError("metric name must not end with a dot")
            raise ValueError("metric name must not contain empty segments (consecutive dots)")
        if not (segment[0].isascii() and segment[0].isalpha()):
            raise ValueError(f"metric name segment '{segment}' must start with a letter")
        prev_underscore = False
        for ch in segment[1:]:
            if ch == "_":
                if prev_underscore:
                    raise ValueError(
                        f"metric name segment '{segment}' must not contain consecutive underscores"
                    )
                prev_underscore = True
            elif ch.isascii() and ch.isalnum():
                prev_underscore = False
            else:
                raise ValueError(f"metric name segment '{segment}' contains invalid character '{ch}'")
        if prev_underscore:
            raise ValueError(f"metric name segment '{segment}' must end with a letter or digit")


def check_name(key: str) -> None:
    if key == "predict_time":
        raise ValueError("'predict_time' is reserved by the runtime")
    if key.startswith("cog."):
        raise ValueError("the 'cog.' prefix is reserved for system metrics")
    check_name_structure(key)


def value_type(value: Any) -> str:
    """Cog's coarse type tag (bool before int: bool is an int in Python)."""
    for tp, tag in (
        (bool, "bool"),
        (int, "int"),
        (float, "float"),
        (str, "str"),
        (list, "list"),
        (dict, "dict"),
    ):
        if isinstance(value, tp):
            return tag
    raise TypeError(
        f"Unsupported metric value type: {type(value).__name__}. "
        "Expected bool, int, float, str, list, or dict."
    )


def to_json(value: Any) -> Any:
    """JSON of a metric value (NaN and infinity become null, as serde_json makes them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"Cannot convert {type(k).__name__} to JSON metric value")
            out[k] = to_json(v)
        return out
    raise TypeError(f"Cannot convert {type(value).__name__} to JSON metric value")


def apply(metrics: dict[str, Any], name: str, value: Any, mode: str) -> None:
    """Set one metric in `metrics` as coglet's Prediction::set_metric does (mode: Cog's name)."""
    parts = name.split(".")
    if not name or any(not p for p in parts):
        return  # Cog ignores these (with a warning); the SDK refuses them before they get here
    target = metrics
    for part in parts[:-1]:
        node = target.get(part)
        if not isinstance(node, dict):
            node = target[part] = {}
        target = node
    leaf = parts[-1]
    if mode == "replace":
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    elif mode == "increment":
        current = target.setdefault(leaf, 0)
        if _number(current) and _number(value):
            target[leaf] = current + value
        # a non-numeric increment is ignored, as in Cog
    elif mode == "append":
        current = target.get(leaf, [])
        target[leaf] = current + [value] if isinstance(current, list) else [current, value]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class MetricRecorder:
    """`current_scope().metrics`: record(key, value, mode), delete(key), `metrics[key] = value`,
    `del metrics[key]`; a key keeps its type until it is deleted (Cog's type invariant)."""

    def __init__(self, send: Any = None) -> None:
        self._send = send  # (name, json value, mode) -> None; None outside a prediction: a no-op
        self._types: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def record(self, key: str, value: Any, mode: str | None = None) -> None:
        cog_mode = parse_mode(mode)
        if self._send is None:
            return
        check_name(key)
        tag = value_type(value)
        existing = self._types.get(key)
        if existing is not None and existing != tag:
            raise TypeError(f"Metric '{key}' has type {existing}, cannot set to {tag} without deleting first")
        if cog_mode == "increment" and tag not in ("int", "float"):
            raise TypeError(f"Increment mode requires int or float, got {tag}")
        data = to_json(value)
        self._types[key] = tag
        apply(self.values, key, data, cog_mode)
        self._send(key, data, cog_mode)

    def delete(self, key: str) -> None:
        if self._send is None:
            return
        check_name_structure(key)
        self._types.pop(key, None)
        apply(self.values, key, None, "replace")
        self._send(key, None, "replace")

    def __setitem__(self, key: str, value: Any) -> None:
        if value is None:
            self.delete(key)
        else:
            self.record(key, value)

    def __delitem__(self, key: str) -> None:
        self.delete(key)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def keys(self) -> Any:
        return self.values.keys()

    def items(self) -> Any:
        return self.values.items()

    def __iter__(self) -> Any:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        if self._send is None:
            return "MetricRecorder(inactive)"
        return f"MetricRecorder(keys={len(self._types)})"
