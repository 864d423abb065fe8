"""Reading a predictor's signature: parameters, their types and Input(...) specs, and the return type."""

from __future__ import annotations

import ast
import copy
import inspect
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

from .input import _MISSING, FieldInfo


class Param:
    """One predictor input: name, resolved type, and its Input(...) spec (defaults filled in)."""

    __slots__ = ("name", "type", "field", "order")

    def __init__(self, name: str, tp: Any, field: FieldInfo, order: int) -> None:
        self.name = name
        self.type = tp
        self.field = field
        self.order = order


class _UnionRewriter(ast.NodeTransformer):
    """Turns `A | B` into `__cog_Union[A, B]` so PEP 604 annotations evaluate on Python 3.9."""

    def visit_BinOp(self, node: ast.BinOp) -> Any:  # noqa: N802 - ast API
        self.generic_visit(node)
        if isinstance(node.op, ast.BitOr):
            sub = ast.Subscript(
                value=ast.Name(id="__cog_Union", ctx=ast.Load()),
                slice=ast.Tuple(elts=[node.left, node.right], ctx=ast.Load()),  # type: ignore[arg-type]
                ctx=ast.Load(),
            )
            return ast.copy_location(sub, node)
        return node


def _eval_annotation(value: Any, globalns: dict[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    ns = dict(globalns)
    ns["__cog_Union"] = typing.Union
    tree = _UnionRewriter().visit(ast.parse(value, mode="eval"))
    ast.fix_missing_locations(tree)
    result = eval(compile(tree, "<annotation>", "eval"), ns)  # noqa: S307 - evaluating the model's own annotations
    return _eval_annotation(result, globalns) if isinstance(result, str) else result


def type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """typing.get_type_hints, with a fallback that understands `X | None` strings on Python 3.9."""
    target = getattr(fn, "__func__", fn)
    try:
        from .opaque import opaque_as_any

        return {k: opaque_as_any(v) for k, v in typing.get_type_hints(target, include_extras=True).items()}
    except Exception:
        globalns = getattr(target, "__globals__", {})
        raw = getattr(target, "__annotations__", {}) or {}
        out = {}
        for k, v in raw.items():
            try:
                out[k] = _eval_annotation(v, globalns)
            except Exception as e:  # an unresolvable annotation: name it (the build fails on it)
                what = "the return annotation" if k == "return" else f"the annotation of input {k!r}"
                raise TypeError(
                    f"{getattr(target, '__qualname__', target)}: {what} ({v!r}) cannot be resolved: "
                    f"{type(e).__name__}: {e}; import the type in the predictor's module"
                ) from None
        return out


def model_type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        hints: dict[str, Any] = {}
        for base in reversed(cls.__mro__):
            globalns = vars(sys.modules.get(base.__module__, typing))
            for k, v in base.__dict__.get("__annotations__", {}).items():
                if not k.startswith("_"):
                    hints[k] = _eval_annotation(v, globalns)
        return hints


def inputs_of(fn: Callable[..., Any]) -> list[Param]:
    hints = type_hints(fn)
    params: list[Param] = []
    for p in inspect.signature(fn).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name not in hints:
            raise TypeError(f"input {p.name!r} has no type annotation")
        default = p.default
        if isinstance(default, FieldInfo):
            field = default
        elif default is inspect.Parameter.empty:
            field = FieldInfo()
        else:
            field = FieldInfo(default=default)
        if field.required and _is_optional(hints[p.name]):
            # an optional input with no default is None when omitted (as with Cog), not required
            field = copy.copy(field)
            field.default = None
        params.append(Param(p.name, hints[p.name], field, len(params)))
    return params


def _is_optional(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    is_union = origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType)
    return is_union and type(None) in typing.get_args(tp)


def return_type_of(fn: Callable[..., Any]) -> Any:
    hints = type_hints(fn)
    return hints.get("return", _MISSING)
