"""Checking what predict() returned against its declared output type, before it is encoded.

A model that returns None for `-> Path` (Cog's own starter does, until it is filled in) must fail with an
error naming the type, not succeed with `output: null`. Only clear mismatches are refused (None for a
non-optional type, a list for a string, text for a number...); the coercions Cog's pydantic makes (an int
for a float, a number for a string, a file path string for a Path) are let through.
"""

from __future__ import annotations

import enum
import inspect
import io
import os
import pathlib
import typing
from typing import Any

from .input import _MISSING
from .model import BaseModel
from .schema import (
    is_file,
    is_literal,
    is_model,
    is_path,
    is_pydantic_model,
    is_typeddict,
    is_union,
    iterator_kind,
)
from .types import Path, Secret

_NOT_CHECKED: Any = _MISSING  # no annotation: nothing to check against


class OutputTypeError(TypeError):
    """The value predict() returned (or yielded) does not match the declared output type."""


def type_name(tp: Any) -> str:
    """A readable name for an annotation: Path, list[str], Optional[int], Iterator[str]."""
    if tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if is_union(tp):
        rest = [a for a in args if a is not type(None)]
        inner = " | ".join(type_name(a) for a in rest)
        return f"Optional[{inner}]" if len(rest) < len(args) else inner
    if origin is not None and args:
        base = getattr(origin, "__name__", None) or repr(origin)
        if is_literal(tp):
            base = "Literal"
        return f"{base}[{', '.join(type_name(a) if not is_literal(tp) else repr(a) for a in args)}]"
    return getattr(tp, "__name__", None) or repr(tp).replace("typing.", "")


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def item_type(tp: Any) -> Any:
    """The type of each yielded item: T for Iterator[T], ConcatenateIterator[T] and list[T]; else not
    checked (a generator returned for some other declared type is left to the encoder)."""
    if tp is _NOT_CHECKED:
        return _NOT_CHECKED
    args = typing.get_args(tp)
    if iterator_kind(tp) is not None or typing.get_origin(tp) is list:
        return args[0] if args else Any
    return _NOT_CHECKED


def check_output(tp: Any, value: Any, index: int | None = None) -> Any:
    """Return value (a path string for a Path type becomes a Path); raise OutputTypeError on a mismatch."""
    if tp is _NOT_CHECKED or tp is Any or tp is object or tp is inspect.Signature.empty:
        return value
    problem = _mismatch(tp, value)
    if problem is None:
        return Path(value) if is_path(tp) and isinstance(value, str) and not _is_url(value) else value
    what = "output" if index is None else f"output item {index}"
    verb = "returned" if index is None else "yielded"
    raise OutputTypeError(
        f"the {what} does not match the declared output type {type_name(tp)}: predict() {verb} "
        f"{_describe(value)}{problem}. Return a value of type {type_name(tp)}"
        + (" (or declare the type Optional)" if value is None else "")
    )


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://", "data:"))


def _mismatch(tp: Any, value: Any) -> str | None:
    """None when value fits tp; else a (possibly empty) detail to append to the error."""
    if tp is Any or tp is object or tp is _NOT_CHECKED:
        return None
    if tp is None or tp is type(None):
        return None  # `-> None`: whatever it returns is not checked (Cog does not either)
    if is_union(tp):
        args = typing.get_args(tp)
        if value is None:
            return None if type(None) in args else ""
        for a in args:
            if a is not type(None) and _mismatch(a, value) is None:
                return None
        return ""
    if value is None:
        return ""
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, str)):
        value = value.tolist()  # numpy scalars and arrays
    if is_literal(tp):
        return None if value in typing.get_args(tp) else ""
    if isinstance(value, enum.Enum):
        value = value.value
    if tp is str:
        return None if isinstance(value, (str, int, float, Secret)) and not isinstance(value, bool) else ""
    if tp is bool:
        return None if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)) else ""
    if tp is int:
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return None
        return ""
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        return ""
    if tp is Secret:
        return None if isinstance(value, (Secret, str)) else ""
    if is_path(tp) or is_file(tp):
        if isinstance(value, (pathlib.PurePath, io.IOBase)) or hasattr(value, "read"):
            if isinstance(value, pathlib.PurePath) and not os.path.isfile(value):
                return f" (no file at {os.fspath(value)!r})"
            return None
        if isinstance(value, str):
            if _is_url(value) or os.path.isfile(value):
                return None
            return " (not a file path or URL)"
        return ""
    if is_model(tp) or is_pydantic_model(tp):
        return None if isinstance(value, (tp, BaseModel, dict)) else ""
    if tp is dict or tp is typing.Dict or is_typeddict(tp) or typing.get_origin(tp) is dict:  # noqa: UP006
        return None if isinstance(value, dict) or hasattr(value, "__dataclass_fields__") else ""
    origin = typing.get_origin(tp)
    if origin is list or tp is list or tp is typing.List:  # noqa: UP006
        if not isinstance(value, (list, tuple, set)):
            return ""
        args = typing.get_args(tp)
        if args:
            for i, item in enumerate(value):
                if _mismatch(args[0], item) is not None:
                    return f" (item {i} is {_describe(item)}, not {type_name(args[0])})"
        return None
    return None  # a type this check does not know: the encoder decides
