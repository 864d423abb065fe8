"""Schema → form: a version's OpenAPI `Input` schema turned into field descriptions for the Playground.

Pure (no I/O, no web framework): `fields(openapi_schema)` returns one `Field` per input, in `x-order`,
each naming its widget and carrying what the page shows next to it (description, default, limits,
required mark) and the resolved JSON schema that the browser validates against before submit.
`output_display(openapi_schema)` says how the page renders the version's output.

Widget choice (Cog's playground, `lib/input/openapi.ts`, with its gaps closed):

| schema                                           | widget     |
|--------------------------------------------------|------------|
| enum (direct, `allOf`/`$ref`, `anyOf` minus null)| `select`   |
| boolean                                          | `checkbox` |
| string `format: password` (Secret)               | `password` |
| string `format: uri` (Path, File)                | `file`     |
| string, short (`maxLength` ≤ 200 or a pattern)   | `text`     |
| other string                                     | `textarea` |
| integer / number with both bounds                | `slider`   |
| integer / number                                 | `number`   |
| array of a scalar or file item                   | `list`     |
| object, array of objects, anything else          | `json`     |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Field", "FormError", "fields", "initial_values", "output_display", "resolve", "secret_names"]

SHORT_TEXT = 200  # a string whose maxLength is at most this gets a one-line input
UNORDERED = 999  # Cog's playground's x-order for a property without one


class FormError(ValueError):
    """The version's schema has no usable Input (what is wrong, and where)."""


@dataclass(frozen=True)
class Field:
    name: str
    title: str
    widget: str  # one of the table in the module docstring
    required: bool = False
    description: str | None = None
    default: Any = None
    has_default: bool = False
    nullable: bool = False
    deprecated: bool = False
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    accept: str | None = None
    item: Field | None = None  # the row widget of a `list`
    schema: dict[str, Any] = field(default_factory=dict)  # resolved (no $ref), for browser-side checks

    @property
    def hints(self) -> list[str]:
        """The facts printed under the field: default, limits, length, pattern, accepted types."""
        out: list[str] = []
        if self.has_default and self.default is not None:
            out.append(f"default: {_show(self.default)}")
        if self.minimum is not None:
            out.append(f"min: {_num(self.minimum)}")
        if self.maximum is not None:
            out.append(f"max: {_num(self.maximum)}")
        noun = "items" if self.widget == "list" else "chars"
        if self.min_length is not None:
            out.append(f"min {noun}: {self.min_length}")
        if self.max_length is not None:
            out.append(f"max {noun}: {self.max_length}")
        if self.pattern:
            out.append(f"pattern: {self.pattern}")
        if self.accept:
            out.append(f"accepts: {self.accept}")
        return out

    @property
    def kind(self) -> str:
        """The JSON type the browser turns the widget's text into: string, integer, number, boolean, json."""
        t = self.schema.get("type")
        if self.widget == "json":
            return "json"
        if t in ("integer", "number", "boolean"):
            return str(t)
        return "string"


def resolve(node: Any, components: dict[str, Any], seen: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`node` with `$ref`s into `#/components/schemas/` inlined and single-branch `allOf` merged in.

    Keys on the property itself (title, default, description, x-order) win over the referenced ones."""
    if not isinstance(node, dict):
        return {}
    out = dict(node)
    ref = out.pop("$ref", None)
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if not ref.startswith("#/components/schemas/") or name not in components:
            raise FormError(f"schema reference {ref!r} points nowhere (components.schemas has no {name!r})")
        if name in seen:
            raise FormError(f"schema reference {ref!r} is circular")
        base = resolve(components[name], components, seen | {name})
        out = {**base, **out}
    all_of = out.pop("allOf", None)
    if isinstance(all_of, list):
        merged: dict[str, Any] = {}
        for part in all_of:
            merged.update(resolve(part, components, seen))
        out = {**merged, **out}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = resolve(out[key], components, seen)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: resolve(v, components, seen) for k, v in out["properties"].items()}
    any_of = out.get("anyOf")
    if isinstance(any_of, list):
        branches = [resolve(b, components, seen) for b in any_of]
        rest = [b for b in branches if b.get("type") != "null"]
        if len(rest) < len(branches):
            out["nullable"] = True
        if len(rest) == 1:
            out.pop("anyOf")
            out = {**rest[0], **out}
        else:
            out["anyOf"] = rest
    return out


def fields(openapi_schema: dict[str, Any]) -> list[Field]:
    """The Playground's fields for a version, in `x-order` (ties by name)."""
    components = _components(openapi_schema)
    raw = components.get("Input")
    if not isinstance(raw, dict):
        raise FormError("the version's OpenAPI schema has no components.schemas.Input")
    schema = resolve(raw, components)
    props = schema.get("properties") or {}
    if not isinstance(props, dict):
        raise FormError("components.schemas.Input.properties is not an object")
    required = set(schema.get("required") or [])
    ordered = sorted(props.items(), key=lambda kv: (_order(kv[1]), kv[0]))
    return [_field(name, prop, name in required) for name, prop in ordered]


def _components(openapi_schema: dict[str, Any]) -> dict[str, Any]:
    comps = (openapi_schema or {}).get("components", {})
    schemas = comps.get("schemas", {}) if isinstance(comps, dict) else {}
    return schemas if isinstance(schemas, dict) else {}


def _order(prop: Any) -> float:
    v = prop.get("x-order") if isinstance(prop, dict) else None
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else UNORDERED


def _field(name: str, prop: dict[str, Any], required: bool) -> Field:
    widget = _widget(prop)
    item = None
    title = str(prop.get("title") or name.replace("_", " ").capitalize())
    if widget == "list":
        item = _field(f"{name}[]", {"title": f"{title}, one item", **(prop.get("items") or {})}, True)
        if item.widget == "textarea":  # a row is one line
            item = replace(item, widget="text")
    lo, hi = _bound(prop, "minimum"), _bound(prop, "maximum")
    is_list = widget == "list"
    return Field(
        name=name,
        title=title,
        widget=widget,
        required=required,
        description=prop.get("description") if isinstance(prop.get("description"), str) else None,
        default=prop.get("default"),
        has_default="default" in prop,
        nullable=bool(prop.get("nullable")),
        deprecated=bool(prop.get("deprecated")),
        choices=tuple(prop["enum"]) if isinstance(prop.get("enum"), list) else (),
        minimum=lo,
        maximum=hi,
        step=_step(prop, lo, hi),
        min_length=_int(prop.get("minItems" if is_list else "minLength")),
        max_length=_int(prop.get("maxItems" if is_list else "maxLength")),
        pattern=prop.get("pattern") if isinstance(prop.get("pattern"), str) else None,
        accept=prop.get("x-cog-accept") if isinstance(prop.get("x-cog-accept"), str) else None,
        item=item,
        schema=prop,
    )


def _widget(prop: dict[str, Any]) -> str:
    t = prop.get("type")
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        return "select"
    if t == "boolean":
        return "checkbox"
    if t == "string":
        fmt = prop.get("format")
        if fmt == "password" or prop.get("x-cog-secret"):
            return "password"
        if fmt == "uri":
            return "file"
        max_len = _int(prop.get("maxLength"))
        if (max_len is not None and max_len <= SHORT_TEXT) or prop.get("pattern"):
            return "text"
        return "textarea"
    if t in ("integer", "number"):
        return (
            "slider"
            if _bound(prop, "minimum") is not None and _bound(prop, "maximum") is not None
            else "number"
        )
    if t == "array":
        items = prop.get("items") or {}
        if isinstance(items, dict) and _widget(items) in (
            "text",
            "textarea",
            "number",
            "slider",
            "file",
            "password",
            "select",
            "checkbox",
        ):
            return "list"
        return "json"
    return "json"


def _bound(prop: dict[str, Any], key: str) -> float | None:
    v = prop.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return v


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _step(prop: dict[str, Any], lo: float | None, hi: float | None) -> str:
    if prop.get("type") == "integer":
        return "1"
    if isinstance(prop.get("multipleOf"), (int, float)) and not isinstance(prop.get("multipleOf"), bool):
        return _num(prop["multipleOf"])
    if lo is not None and hi is not None and hi > lo:
        return _num(_nice_step((hi - lo) / 100))
    return "any"


def _nice_step(raw: float) -> float:
    """The largest of 1, 2, 5 × 10^k at most `raw` (a slider over [0, 1] steps by 0.01)."""
    exp = math.floor(math.log10(raw))
    for m in (5, 2, 1):
        if m * 10**exp <= raw:
            return round(m * 10**exp, 12)
    return round(10**exp, 12)


def _num(v: float) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v)) if abs(v) < 1e15 else repr(v)
    return repr(v) if isinstance(v, float) else str(v)


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if v else '""'
    if isinstance(v, (int, float)):
        return _num(v)
    import json

    return json.dumps(v)


def secret_names(form: list[Field]) -> set[str]:
    """Inputs typed as `Secret` (format: password): never written back into a page."""
    return {f.name for f in form if f.widget == "password"}


def initial_values(form: list[Field], given: dict[str, Any] | None = None) -> dict[str, Any]:
    """What each field starts with: the given input (a prediction run again), else the default.

    Fields with neither are left out (the form shows them empty)."""
    given = given or {}
    out: dict[str, Any] = {}
    for f in form:
        if f.name in given:
            out[f.name] = given[f.name]
        elif f.has_default and f.default is not None:
            out[f.name] = f.default
    return out


def output_display(openapi_schema: dict[str, Any]) -> dict[str, Any]:
    """How the page renders this version's output: {"iterator": bool, "concatenate": bool, "file": bool}.

    `file` is true when the output (or its items) is a `format: uri` string, i.e. a Path or File."""
    components = _components(openapi_schema)
    raw = components.get("Output")
    out = resolve(raw, components) if isinstance(raw, dict) else {}
    items: dict[str, Any] = out["items"] if isinstance(out.get("items"), dict) else {}
    iterator = out.get("type") == "array" and out.get("x-cog-array-type") == "iterator"
    target = items if out.get("type") == "array" else out
    return {
        "iterator": iterator,
        "concatenate": iterator and out.get("x-cog-array-display") == "concatenate",
        "file": target.get("type") == "string" and target.get("format") == "uri",
        "list": out.get("type") == "array",
    }
