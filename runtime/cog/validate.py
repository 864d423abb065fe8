"""Checking a request's input against the schema's Input component (Cog's 422 error shape).

Runs in the HTTP process, which never imports model code: the schema is the single source of truth.
"""

from __future__ import annotations

import math
import mimetypes
import posixpath
import re
import urllib.parse
from typing import Any

_URL_SCHEMES = ("http://", "https://", "data:")


class _Invalid(Exception):
    def __init__(self, msg: str, type_: str) -> None:
        super().__init__(msg)
        self.msg = msg
        self.type = type_


def validate_input(
    schema: dict[str, Any], value: Any, component: str = "Input"
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """(cleaned input, errors in Cog's `detail` shape, unknown field names that were dropped)."""
    components = schema.get("components", {}).get("schemas", {})
    spec = components.get(component, {"properties": {}})
    errors: list[dict[str, Any]] = []
    if value is None:
        value = {}
    if not isinstance(value, dict):
        return {}, [_err(["body", "input"], "value is not a valid dict", "type_error.dict")], []
    props: dict[str, Any] = spec.get("properties", {})
    cleaned: dict[str, Any] = {}
    unknown = sorted(k for k in value if k not in props)
    for name in spec.get("required", []):
        if name not in value:
            errors.append(_err(["body", "input", name], "field required", "value_error.missing"))
    for name, prop in props.items():
        if name not in value:
            continue
        try:
            cleaned[name] = _check(value[name], prop, components)
        except _Invalid as e:
            errors.append(_err(["body", "input", name], e.msg, e.type))
    return cleaned, errors, unknown


def redact_secrets(
    schema: dict[str, Any], cleaned: dict[str, Any], component: str = "Input", mask: str = "**********"
) -> tuple[dict[str, Any], list[str]]:
    """(the input as echoed back, with every Secret masked, and the secret values), wherever a Secret sits
    in the schema: top level, in lists, optionals, unions and nested objects."""
    components = schema.get("components", {}).get("schemas", {})
    props = components.get(component, {}).get("properties", {})
    found: list[str] = []
    echo = {k: _mask(v, props[k], components, mask, found) if k in props else v for k, v in cleaned.items()}
    return echo, found


def _mask(value: Any, prop: dict[str, Any], components: dict[str, Any], mask: str, found: list[str]) -> Any:
    if value is None:
        return None
    prop = _resolve(prop, components)
    if prop.get("x-cog-secret"):
        if isinstance(value, str):
            found.append(value)
        return mask
    if "anyOf" in prop:
        secret_options = [o for o in prop["anyOf"] if _has_secret(o, components)]
        for option in secret_options:
            try:
                _check(value, option, components)
            except _Invalid:
                continue
            return _mask(value, option, components, mask, found)
        return value
    if isinstance(value, list) and "items" in prop:
        return [_mask(v, prop["items"], components, mask, found) for v in value]
    if isinstance(value, dict) and "properties" in prop:
        sub = prop["properties"]
        return {k: _mask(v, sub[k], components, mask, found) if k in sub else v for k, v in value.items()}
    return value


def _has_secret(prop: dict[str, Any], components: dict[str, Any], depth: int = 0) -> bool:
    prop = _resolve(prop, components)
    if prop.get("x-cog-secret"):
        return True
    if depth > 20:
        return False
    subs = list(prop.get("anyOf", [])) + ([prop["items"]] if "items" in prop else [])
    subs += list(prop.get("properties", {}).values())
    return any(_has_secret(p, components, depth + 1) for p in subs)


def _err(loc: list[Any], msg: str, type_: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": type_}


def _resolve(prop: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    merged = {k: v for k, v in prop.items() if k not in ("allOf", "$ref")}
    refs = list(prop.get("allOf", []))
    if "$ref" in prop:
        refs.append({"$ref": prop["$ref"]})
    for ref in refs:
        target = ref.get("$ref", "")
        sub = components.get(target.rsplit("/", 1)[-1], {}) if target else ref
        for k, v in _resolve(sub, components).items():
            merged.setdefault(k, v)
    return merged


def _check(value: Any, prop: dict[str, Any], components: dict[str, Any]) -> Any:
    """The value, coerced to the property's type, or _Invalid (Cog's message and error type)."""
    prop = _resolve(prop, components)
    if value is None:
        if (
            prop.get("nullable")
            or prop == {}
            or prop.keys() <= {"title", "x-order", "description", "default"}
        ):
            return None
        raise _Invalid("none is not an allowed value", "type_error.none.not_allowed")
    if "anyOf" in prop:
        for option in prop["anyOf"]:
            try:
                return _check(value, option, components)
            except _Invalid:
                continue
        raise _Invalid("value does not match any of the allowed types", "type_error.union")
    value = _typed(value, prop, components)
    if "enum" in prop and value not in prop["enum"]:
        permitted = ", ".join(repr(v) for v in prop["enum"])
        raise _Invalid(f"value is not a valid enumeration member; permitted: {permitted}", "type_error.enum")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number_bounds(value, prop)
    if isinstance(value, str):
        _check_string_bounds(value, prop)
    return value


def _typed(value: Any, prop: dict[str, Any], components: dict[str, Any]) -> Any:
    """The value as the property's `type` wants it (items checked for arrays)."""
    kind = prop.get("type")
    if kind == "string":
        if not isinstance(value, str):
            raise _Invalid("str type expected", "type_error.str")
        if prop.get("format") == "uri" and not value.startswith(_URL_SCHEMES):
            raise _Invalid(
                "invalid or missing URL scheme: expected http(s):// or data:", "value_error.url.scheme"
            )
        if "x-cog-accept" in prop and not accepts(prop["x-cog-accept"], value):
            raise _Invalid(
                f"file type not accepted: expected {prop['x-cog-accept']}", "value_error.file_type"
            )
    elif kind == "integer":
        value = _integer(value)
    elif kind == "number":
        value = _number(value)
    elif kind == "boolean":
        if not isinstance(value, bool):
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            else:
                raise _Invalid("value could not be parsed to a boolean", "type_error.bool")
    elif kind == "array":
        if not isinstance(value, list):
            raise _Invalid("value is not a valid list", "type_error.list")
        items = prop.get("items", {})
        value = [_check(v, items, components) for v in value]
        if "minItems" in prop and len(value) < prop["minItems"]:
            raise _Invalid(
                f"ensure this value has at least {prop['minItems']} items", "value_error.list.min_items"
            )
        if "maxItems" in prop and len(value) > prop["maxItems"]:
            raise _Invalid(
                f"ensure this value has at most {prop['maxItems']} items", "value_error.list.max_items"
            )
    elif kind == "object" and not isinstance(value, dict):
        raise _Invalid("value is not a valid dict", "type_error.dict")
    return value


def _check_number_bounds(value: float, prop: dict[str, Any]) -> None:
    if "minimum" in prop and value < prop["minimum"]:
        raise _Invalid(
            f"ensure this value is greater than or equal to {prop['minimum']}",
            "value_error.number.not_ge",
        )
    if "maximum" in prop and value > prop["maximum"]:
        raise _Invalid(
            f"ensure this value is less than or equal to {prop['maximum']}", "value_error.number.not_le"
        )


def _check_string_bounds(value: str, prop: dict[str, Any]) -> None:
    if "minLength" in prop and len(value) < prop["minLength"]:
        raise _Invalid(
            f"ensure this value has at least {prop['minLength']} characters",
            "value_error.any_str.min_length",
        )
    if "maxLength" in prop and len(value) > prop["maxLength"]:
        raise _Invalid(
            f"ensure this value has at most {prop['maxLength']} characters",
            "value_error.any_str.max_length",
        )
    if "pattern" in prop and re.search(prop["pattern"], value) is None:
        raise _Invalid(f'string does not match regex "{prop["pattern"]}"', "value_error.str.regex")


def accepts(accept: str, url: str) -> bool:
    """Whether a file URL matches an `accept` list like "image/*,.png" (unknown types are let through)."""
    mime = ext = ""
    if url.startswith("data:"):
        mime = url[5:].split(",", 1)[0].split(";", 1)[0].lower()
    else:
        path = urllib.parse.urlsplit(url).path
        ext = posixpath.splitext(path)[1].lower()
        mime = (mimetypes.guess_type(path)[0] or "").lower()
    if not mime and not ext:
        return True
    for item in (a.strip().lower() for a in accept.split(",")):
        if not item:
            continue
        if item.startswith("."):
            if ext == item or (mime and mimetypes.guess_extension(mime) == item):
                return True
        elif item.endswith("/*"):
            if mime.startswith(item[:-1]):
                return True
        elif mime == item:
            return True
    return False


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid("value is not a valid integer", "type_error.integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _Invalid("value is not a valid integer", "type_error.integer")


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise _Invalid("value is not a valid float", "type_error.float")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _Invalid("value is not a valid float", "type_error.float") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid(
            "ensure this value is a finite number (not NaN or infinity)", "value_error.number.not_finite"
        )
    if isinstance(value, (int, float)):
        return value
    raise _Invalid("value is not a valid float", "type_error.float")
