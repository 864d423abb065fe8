"""The OpenAPI 3 schema of a predictor (the same components and `x-` extensions as Cog)."""

from __future__ import annotations

import collections.abc
import enum
import inspect
import pathlib
import types
import typing
from collections.abc import Callable
from typing import Any

from . import __version__
from .input import _MISSING
from .model import _NO_DEFAULT, BaseModel
from .openapi_parts import (
    fixed_components,
    operation,
    predict_paths,
    request_schema,
    response_schema,
    title_of,
    train_paths,
)
from .signature import Param, inputs_of, model_type_hints, return_type_of
from .types import AsyncConcatenateIterator, ConcatenateIterator, File, Secret

try:
    from typing import Literal
except ImportError:  # pragma: no cover
    Literal = None  # type: ignore[assignment]


class SchemaError(TypeError):
    """The predictor's signature cannot be expressed (an unsupported type, a bad Input(...))."""


ITERATOR_ORIGINS = (
    collections.abc.Iterator,
    collections.abc.Iterable,
    collections.abc.Generator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
)
CONCAT_ORIGINS = (ConcatenateIterator, AsyncConcatenateIterator)
_UNION_TYPES: tuple[Any, ...] = (typing.Union,) + ((types.UnionType,) if hasattr(types, "UnionType") else ())


def _is_class(tp: Any) -> bool:
    """A real class (on 3.9 `list[int]` passes isinstance(..., type))."""
    return isinstance(tp, type) and typing.get_origin(tp) is None


def is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in _UNION_TYPES or isinstance(tp, _UNION_TYPES[1:])


def is_literal(tp: Any) -> bool:
    return Literal is not None and typing.get_origin(tp) is Literal


def is_typeddict(tp: Any) -> bool:
    return _is_class(tp) and issubclass(tp, dict) and hasattr(tp, "__total__")


def is_path(tp: Any) -> bool:
    return _is_class(tp) and issubclass(tp, (pathlib.PurePath,))


def is_file(tp: Any) -> bool:
    return tp is File or (_is_class(tp) and issubclass(tp, File))


def is_model(tp: Any) -> bool:
    return _is_class(tp) and issubclass(tp, BaseModel)


def iterator_kind(tp: Any) -> str | None:
    """'concatenate' / 'iterator' for streamed output types, else None."""
    origin = typing.get_origin(tp) or tp
    if origin in CONCAT_ORIGINS:
        return "concatenate"
    if origin in ITERATOR_ORIGINS:
        return "iterator"
    return None


def is_pydantic_model(tp: Any) -> bool:
    """A pydantic (v2, or v1) BaseModel subclass, told by its bases: pydantic is never imported here, so a
    model without pydantic loads none."""
    return _is_class(tp) and any(
        c.__name__ == "BaseModel" and c.__module__.split(".")[0] == "pydantic" for c in tp.__mro__[1:]
    )


def _is_optional(tp: Any) -> bool:
    return is_union(tp) and type(None) in typing.get_args(tp)


def object_fields(tp: Any) -> list[tuple[str, Any, bool]] | None:
    """(name, type, required) of the fields of a structured output type (cog.BaseModel, pydantic
    BaseModel, TypedDict) with Cog's rule for `required`: no default and not Optional (a TypedDict: its
    required keys); None for any other type."""
    if is_model(tp):
        hints = model_type_hints(tp)
        return [
            (name, hints.get(name, Any), default is _NO_DEFAULT and not _is_optional(hints.get(name, Any)))
            for name, default in tp.__cog_fields__.items()
        ]
    if is_pydantic_model(tp):
        fields = getattr(tp, "model_fields", None)
        if isinstance(fields, dict):  # pydantic 2
            return [
                (name, f.annotation, bool(f.is_required()) and not _is_optional(f.annotation))
                for name, f in fields.items()
            ]
        legacy = getattr(tp, "__fields__", None) or {}  # pydantic 1
        return [
            (name, f.outer_type_, bool(f.required) and not _is_optional(f.outer_type_))
            for name, f in legacy.items()
        ]
    if is_typeddict(tp):
        hints = model_type_hints(tp)
        required_keys = getattr(tp, "__required_keys__", frozenset(hints) if tp.__total__ else frozenset())
        return [(name, hint, name in required_keys) for name, hint in hints.items()]
    return None


def type_schema(tp: Any, where: str, output: bool = False) -> dict[str, Any]:
    """JSON schema of one type (inputs and outputs). Structured outputs (BaseModels, TypedDicts) are inline
    objects as Cog renders them: each property titled, `required`, Optional fields `nullable`; as an input
    a TypedDict is a JSON object (Cog's schema has no fields for it either)."""
    fields = object_fields(tp) if output or is_model(tp) else None
    if fields is not None:
        props: dict[str, Any] = {}
        required: list[str] = []
        for name, hint, is_required in fields:
            sub = type_schema(hint, f"{where}.{name}", output)
            sub["title"] = title_of(name)
            props[name] = sub
            if is_required:
                required.append(name)
        out: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            out["required"] = required
        return out
    if tp is Any or tp is dict or tp is typing.Dict or is_typeddict(tp):  # noqa: UP006
        return {"type": "object"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is Secret:
        return {"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True}
    if is_path(tp) or is_file(tp):
        return {"type": "string", "format": "uri"}
    if _is_class(tp) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        return {"enum": values, "type": _json_type_of(values)}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict:
        if output and len(args) == 2:  # Cog: dict[str, X] as an output has X as additionalProperties
            return {"type": "object", "additionalProperties": type_schema(args[1], where, output)}
        return {"type": "object"}
    if origin is list or tp is list or tp is typing.List:  # noqa: UP006
        return {"type": "array", "items": type_schema(args[0], where, output) if args else {}}
    if is_literal(tp):
        values = list(args)
        return {"enum": values, "type": _json_type_of(values)}
    if is_union(tp):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            sub = type_schema(rest[0], where, output)
        else:
            sub = {"anyOf": [type_schema(a, where, output) for a in rest]}
        if len(rest) < len(args):
            sub["nullable"] = True
        return sub
    raise SchemaError(f"{where}: unsupported type {_type_name(tp)}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _json_type_of(values: list[Any]) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "number"
    return "string"


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


def _default_json(value: Any) -> Any:
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _check_spec(name: str, f: Any, prop: dict[str, Any], choices: list[Any] | None, tp: Any) -> None:
    """A contradictory Input(...) fails schema generation, hence the build (cog.schema_checks)."""
    from .schema_checks import InputSpecError, check_accept, check_default

    items = prop.get("items") if prop.get("type") == "array" else prop
    try:
        if f.accept is not None:
            check_accept(name, f.accept, isinstance(items, dict) and items.get("format") == "uri")
        if not f.required and tp is not Secret:
            check_default(
                name,
                f.default,
                ge=f.ge,
                le=f.le,
                min_length=f.min_length,
                max_length=f.max_length,
                regex=f.regex,
                choices=choices,
            )
    except InputSpecError as e:
        raise SchemaError(str(e)) from None


def input_schema(params: list[Param], components: dict[str, Any], where: str = "Input") -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for p in params:
        f = p.field
        tp = p.type
        choices = f.choices
        nullable = False
        if is_union(tp):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(rest) == 1 and is_literal(rest[0]):
                tp, nullable = rest[0], True
        if is_literal(tp):
            choices = list(typing.get_args(tp))
        if choices is not None:
            enum_schema = {
                "title": p.name,
                "description": "An enumeration.",
                "enum": choices,
                "type": _json_type_of(choices),
            }
            components[p.name] = enum_schema
            prop: dict[str, Any] = {"allOf": [{"$ref": f"#/components/schemas/{p.name}"}]}
            if nullable:
                prop["nullable"] = True
        else:
            prop = type_schema(tp, f"input {p.name!r}")
        prop["title"] = title_of(p.name)
        prop["x-order"] = p.order
        if f.required:
            required.append(p.name)
        elif f.default is not None and tp is not Secret:
            default = _default_json(f.default)
            if not _jsonable(default):
                raise SchemaError(f"input {p.name!r}: default {f.default!r} is not JSON")
            prop["default"] = default
        if f.description is not None:
            prop["description"] = f.description
        if f.ge is not None:
            prop["minimum"] = f.ge
        if f.le is not None:
            prop["maximum"] = f.le
        is_array = prop.get("type") == "array"
        if f.min_length is not None:
            prop["minItems" if is_array else "minLength"] = f.min_length
        if f.max_length is not None:
            prop["maxItems" if is_array else "maxLength"] = f.max_length
        if f.regex is not None:
            prop["pattern"] = f.regex
        if f.deprecated:
            prop["deprecated"] = True
        if f.accept is not None:
            prop["x-cog-accept"] = f.accept
        _check_spec(p.name, f, prop, choices, tp)
        props[p.name] = prop
    schema: dict[str, Any] = {"title": where, "type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def output_schema(tp: Any, where: str = "Output") -> dict[str, Any]:
    if tp is _MISSING or tp is None or tp is type(None) or tp is inspect.Signature.empty:
        return {"title": where}
    kind = iterator_kind(tp)
    if kind is not None:
        args = typing.get_args(tp)
        schema: dict[str, Any] = {
            "title": where,
            "type": "array",
            "items": type_schema(args[0], "output", output=True) if args else {},
            "x-cog-array-type": "iterator",
        }
        if kind == "concatenate":
            schema["x-cog-array-display"] = "concatenate"
        return schema
    schema = type_schema(tp, "output", output=True)
    schema["title"] = where
    return schema


def openapi_schema(
    predict_fn: Callable[..., Any] | None, train_fn: Callable[..., Any] | None = None
) -> dict[str, Any]:
    """The whole OpenAPI document for a predictor (and an optional train function)."""
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {
        "/": {"get": operation("Root", "root__get", None, None, [])},
        "/health-check": {"get": operation("Healthcheck", "healthcheck_health_check_get", None, None, [])},
        "/shutdown": {"post": operation("Start Shutdown", "start_shutdown_shutdown_post", None, None, [])},
    }
    if predict_fn is not None:
        _function_components(components, predict_fn, "Input", "Output", "Prediction")
        paths.update(predict_paths(getattr(predict_fn, "__cog_streaming__", False)))
    if train_fn is not None:
        _function_components(components, train_fn, "TrainingInput", "TrainingOutput", "Training")
        paths.update(train_paths())
    fixed_components(components)
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0", "x-cogpin-version": __version__},
        "paths": paths,
        "components": {"schemas": components},
    }


def _function_components(
    components: dict[str, Any], fn: Callable[..., Any], inp: str, out: str, noun: str
) -> None:
    """A function's Input/Output schemas and its Request/Response (noun: Prediction or Training)."""
    components[inp] = input_schema(inputs_of(fn), components, inp)
    components[out] = output_schema(return_type_of(fn), out)
    components[f"{noun}Request"] = request_schema(f"{noun}Request", inp)
    components[f"{noun}Response"] = response_schema(f"{noun}Response", inp, out)
