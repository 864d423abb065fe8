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


def title_of(name: str) -> str:
    return name.title().replace("_", " ")


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


def type_schema(tp: Any, where: str) -> dict[str, Any]:
    """JSON schema of one type (inputs and outputs)."""
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
    if is_model(tp):
        hints = model_type_hints(tp)
        props: dict[str, Any] = {}
        required: list[str] = []
        for name, default in tp.__cog_fields__.items():
            sub = type_schema(hints.get(name, Any), f"{where}.{name}")
            sub["title"] = title_of(name)
            props[name] = sub
            if default is not _NO_DEFAULT:
                if _jsonable(default):
                    sub["default"] = default
            else:
                required.append(name)
        out: dict[str, Any] = {"type": "object", "title": tp.__name__, "properties": props}
        if required:
            out["required"] = required
        return out
    if _is_class(tp) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        return {"enum": values, "type": _json_type_of(values)}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict:
        return {"type": "object"}
    if origin is list or tp is list or tp is typing.List:  # noqa: UP006
        return {"type": "array", "items": type_schema(args[0], where) if args else {}}
    if is_literal(tp):
        values = list(args)
        return {"enum": values, "type": _json_type_of(values)}
    if is_union(tp):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            sub = type_schema(rest[0], where)
        else:
            sub = {"anyOf": [type_schema(a, where) for a in rest]}
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
            "items": type_schema(args[0], "output") if args else {},
            "x-cog-array-type": "iterator",
        }
        if kind == "concatenate":
            schema["x-cog-array-display"] = "concatenate"
        return schema
    schema = type_schema(tp, "output")
    schema["title"] = where
    return schema


def _status() -> dict[str, Any]:
    return {
        "title": "Status",
        "description": "An enumeration.",
        "enum": ["starting", "processing", "succeeded", "canceled", "failed"],
        "type": "string",
    }


def _request(name: str, input_ref: str) -> dict[str, Any]:
    return {
        "title": name,
        "type": "object",
        "properties": {
            "id": {"title": "Id", "type": "string"},
            "input": {"$ref": f"#/components/schemas/{input_ref}"},
            "webhook": {
                "title": "Webhook",
                "type": "string",
                "format": "uri",
                "minLength": 1,
                "maxLength": 65536,
            },
            "webhook_events_filter": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/WebhookEvent"},
                "default": ["start", "output", "logs", "completed"],
            },
            "created_at": {"title": "Created At", "type": "string", "format": "date-time"},
            "output_file_prefix": {"title": "Output File Prefix", "type": "string"},
            "context": {"title": "Context", "type": "object", "additionalProperties": {"type": "string"}},
        },
    }


def _response(name: str, input_ref: str, output_ref: str) -> dict[str, Any]:
    return {
        "title": name,
        "type": "object",
        "properties": {
            "input": {"$ref": f"#/components/schemas/{input_ref}"},
            "output": {"$ref": f"#/components/schemas/{output_ref}"},
            "id": {"title": "Id", "type": "string"},
            "version": {"title": "Version", "type": "string"},
            "created_at": {"title": "Created At", "type": "string", "format": "date-time"},
            "started_at": {"title": "Started At", "type": "string", "format": "date-time"},
            "completed_at": {"title": "Completed At", "type": "string", "format": "date-time"},
            "logs": {"title": "Logs", "type": "string", "default": ""},
            "error": {"title": "Error", "type": "string"},
            "status": {"$ref": "#/components/schemas/Status"},
            "metrics": {"title": "Metrics", "type": "object"},
        },
    }


def _op(
    summary: str, op_id: str, request: str | None, response: str | None, params: list[str]
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "operationId": op_id}
    if params:
        op["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"title": title_of(p), "type": "string"}}
            for p in params
        ]
    if request is not None:
        op["parameters"] = op.get("parameters", []) + [
            {
                "name": "prefer",
                "in": "header",
                "required": False,
                "schema": {"title": "Prefer", "type": "string"},
            }
        ]
        op["requestBody"] = {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{request}"}}}
        }
    ok: dict[str, Any] = {
        "description": "Successful Response",
        "content": {"application/json": {"schema": {}}},
    }
    if response is not None:
        ok["content"]["application/json"]["schema"] = {"$ref": f"#/components/schemas/{response}"}
    responses: dict[str, Any] = {"200": ok}
    if request is not None or params:
        responses["422"] = {
            "description": "Validation Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
        }
    op["responses"] = responses
    return op


def openapi_schema(
    predict_fn: Callable[..., Any] | None, train_fn: Callable[..., Any] | None = None
) -> dict[str, Any]:
    """The whole OpenAPI document for a predictor (and an optional train function)."""
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {
        "/": {"get": _op("Root", "root__get", None, None, [])},
        "/health-check": {"get": _op("Healthcheck", "healthcheck_health_check_get", None, None, [])},
        "/shutdown": {"post": _op("Start Shutdown", "start_shutdown_shutdown_post", None, None, [])},
    }
    if predict_fn is not None:
        components["Input"] = input_schema(inputs_of(predict_fn), components, "Input")
        components["Output"] = output_schema(return_type_of(predict_fn), "Output")
        components["PredictionRequest"] = _request("PredictionRequest", "Input")
        components["PredictionResponse"] = _response("PredictionResponse", "Input", "Output")
        paths["/predictions"] = {
            "post": _op("Predict", "predict_predictions_post", "PredictionRequest", "PredictionResponse", [])
        }
        paths["/predictions/{prediction_id}"] = {
            "put": _op(
                "Predict Idempotent",
                "predict_idempotent_predictions__prediction_id__put",
                "PredictionRequest",
                "PredictionResponse",
                ["prediction_id"],
            )
        }
        paths["/predictions/{prediction_id}/cancel"] = {
            "post": _op(
                "Cancel", "cancel_predictions__prediction_id__cancel_post", None, None, ["prediction_id"]
            )
        }
    if train_fn is not None:
        components["TrainingInput"] = input_schema(inputs_of(train_fn), components, "TrainingInput")
        components["TrainingOutput"] = output_schema(return_type_of(train_fn), "TrainingOutput")
        components["TrainingRequest"] = _request("TrainingRequest", "TrainingInput")
        components["TrainingResponse"] = _response("TrainingResponse", "TrainingInput", "TrainingOutput")
        paths["/trainings"] = {
            "post": _op("Train", "train_trainings_post", "TrainingRequest", "TrainingResponse", [])
        }
        paths["/trainings/{training_id}"] = {
            "put": _op(
                "Train Idempotent",
                "train_idempotent_trainings__training_id__put",
                "TrainingRequest",
                "TrainingResponse",
                ["training_id"],
            )
        }
        paths["/trainings/{training_id}/cancel"] = {
            "post": _op(
                "Cancel Training",
                "cancel_training_trainings__training_id__cancel_post",
                None,
                None,
                ["training_id"],
            )
        }
    components["Status"] = _status()
    components["WebhookEvent"] = {
        "title": "WebhookEvent",
        "description": "An enumeration.",
        "enum": ["start", "output", "logs", "completed"],
        "type": "string",
    }
    components["ValidationError"] = {
        "title": "ValidationError",
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {
                "title": "Location",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
        },
    }
    components["HTTPValidationError"] = {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {
                "title": "Detail",
                "type": "array",
                "items": {"$ref": "#/components/schemas/ValidationError"},
            }
        },
    }
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0", "x-cogpin-version": __version__},
        "paths": paths,
        "components": {"schemas": components},
    }
