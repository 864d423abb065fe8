"""Prediction inputs from the command line, checked against the model's OpenAPI schema before any
container starts.

``-i name=value`` values are strings; they are coerced by the schema's type (integer, number, boolean,
string, array of those, JSON object). A repeated name makes a list. ``name=@path`` sends a file as a data
URL (for a string input it sends the file's text). Every problem is reported as one line:
``unknown input "wrong"``, ``missing required input "s"``, ``input "n" must be an integer, got "x"``, ...
"""

from __future__ import annotations

import base64
import json
import math
import mimetypes
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogpin.errors import CogpinError


class InputError(CogpinError):
    """One or more input problems; ``lines`` holds one clear line per problem."""

    def __init__(self, lines: list[str], hint: str | None = None) -> None:
        super().__init__("\n".join(lines), hint)
        self.lines = lines


@dataclass
class ParsedInputs:
    values: dict[str, Any]
    files: list[Path] = field(default_factory=list)  # local files sent as inputs (never overwritten)


# ---------------------------------------------------------------------------------------------- schema


def _resolve(prop: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Inline ``$ref`` and single-element ``allOf`` (Cog's enum form), keeping the property's own keys."""
    out = dict(prop)
    ref = out.pop("$ref", None)
    if ref is None and isinstance(out.get("allOf"), list) and len(out["allOf"]) == 1:
        ref = out["allOf"][0].get("$ref")
        if ref is not None:
            out.pop("allOf")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = schema
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        merged = _resolve(node, schema) if isinstance(node, Mapping) else {}
        merged.update(out)
        return merged
    return out


def input_component(schema: Mapping[str, Any] | None, component: str = "Input") -> dict[str, Any] | None:
    """The Input object schema, or None when the schema has none (then inputs are sent unchecked)."""
    if not schema:
        return None
    comp = schema.get("components", {}).get("schemas", {}).get(component)
    return dict(comp) if isinstance(comp, Mapping) else None


def input_properties(
    schema: Mapping[str, Any], component: str = "Input"
) -> tuple[dict[str, dict], list[str]]:
    comp = input_component(schema, component) or {}
    props = {name: _resolve(p, schema) for name, p in (comp.get("properties") or {}).items()}
    return props, list(comp.get("required") or [])


def is_file_type(prop: Mapping[str, Any]) -> bool:
    return prop.get("type") == "string" and prop.get("format") == "uri"


# ---------------------------------------------------------------------------------------------- files


def data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


class _Problem(Exception):
    pass


def _read_file(name: str, raw: str, files: list[Path]) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        why = "is a folder" if path.is_dir() else "not found"
        raise _Problem(f'input "{name}": file {raw} {why}')
    files.append(path.resolve())
    return path


# ---------------------------------------------------------------------------------------------- coercion

_TRUE = {"true", "1", "yes", "y", "on", "t"}
_FALSE = {"false", "0", "no", "n", "off", "f"}
_TYPE_WORD = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "string": "a string",
    "object": "a JSON object",
    "array": "a list",
}


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else f'"{value}"'


def _coerce_str(name: str, raw: str, prop: Mapping[str, Any], files: list[Path]) -> Any:
    """One command-line string value → the JSON value the schema wants."""
    if "anyOf" in prop and "type" not in prop:
        problems = []
        for alt in prop["anyOf"]:
            try:
                return _coerce_str(name, raw, alt, files)
            except _Problem as e:
                problems.append(str(e))
        raise _Problem(f'input "{name}" does not match any allowed type, got "{raw}"')
    typ = prop.get("type")
    if is_file_type(prop):
        if raw.startswith("@"):
            return data_url(_read_file(name, raw[1:], files))
        if re.match(r"^(https?|data):", raw):
            return raw
        raise _Problem(f'input "{name}" is a file: use {name}=@PATH (or a URL), got "{raw}"')
    if raw.startswith("@") and typ in ("string", "object", None):
        text = _read_file(name, raw[1:], files).read_text(encoding="utf-8")
        return _coerce_str(name, text, prop, []) if typ == "object" else text
    if typ == "integer":
        try:
            return int(raw.strip())
        except ValueError:
            raise _Problem(f'input "{name}" must be an integer, got "{raw}"') from None
    if typ == "number":
        try:
            value = float(raw.strip())
        except ValueError:
            raise _Problem(f'input "{name}" must be a number, got "{raw}"') from None
        if not math.isfinite(value):
            raise _Problem(f'input "{name}" must be a finite number, got "{raw}"')
        return value
    if typ == "boolean":
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _Problem(f'input "{name}" must be true or false, got "{raw}"')
    if typ == "object" or (typ is None and "enum" not in prop):
        try:
            value = json.loads(raw)
        except ValueError:
            if typ == "object":
                raise _Problem(f'input "{name}" must be a JSON object, got "{raw}"') from None
            return raw
        if typ == "object" and not isinstance(value, dict):
            raise _Problem(f'input "{name}" must be a JSON object, got "{raw}"')
        return value
    if typ is None and "enum" in prop:
        for choice in prop["enum"]:
            if str(choice) == raw:
                return choice
        return raw
    return raw


def _check_json(name: str, value: Any, prop: Mapping[str, Any], files: list[Path]) -> Any:
    """A JSON value (from --json, or already coerced) against its property: type + constraints."""
    if value is None:
        if prop.get("nullable") or prop.get("type") is None:
            return None
        raise _Problem(f'input "{name}" must not be null')
    if "anyOf" in prop and "type" not in prop:
        for alt in prop["anyOf"]:
            try:
                return _check_json(name, value, alt, files)
            except _Problem:
                continue
        raise _Problem(f'input "{name}" does not match any allowed type, got {_show(value)}')
    typ = prop.get("type")
    if typ == "array":
        items = value if isinstance(value, list) else [value]
        item_prop = _resolve(prop.get("items") or {}, {})
        out = [_check_json(name, v, item_prop, files) for v in items]
        if "minItems" in prop and len(out) < prop["minItems"]:
            raise _Problem(f'input "{name}" needs at least {prop["minItems"]} items, got {len(out)}')
        if "maxItems" in prop and len(out) > prop["maxItems"]:
            raise _Problem(f'input "{name}" takes at most {prop["maxItems"]} items, got {len(out)}')
        return out
    if is_file_type(prop) and isinstance(value, str) and value.startswith("@"):
        return data_url(_read_file(name, value[1:], files))
    ok = {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "string": isinstance(value, str),
        "object": isinstance(value, dict),
    }.get(typ or "", True)
    if typ == "integer" and isinstance(value, float) and value.is_integer():
        value, ok = int(value), True
    if not ok:
        raise _Problem(f'input "{name}" must be {_TYPE_WORD.get(typ or "", typ)}, got {_show(value)}')
    if "enum" in prop and value not in prop["enum"]:
        choices = ", ".join(str(c) for c in prop["enum"])
        raise _Problem(f'input "{name}" must be one of {choices}; got {_show(value)}')
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in prop and value < prop["minimum"]:
            raise _Problem(f'input "{name}" must be >= {prop["minimum"]}, got {value}')
        if "maximum" in prop and value > prop["maximum"]:
            raise _Problem(f'input "{name}" must be <= {prop["maximum"]}, got {value}')
        if "exclusiveMinimum" in prop and value <= prop["exclusiveMinimum"]:
            raise _Problem(f'input "{name}" must be > {prop["exclusiveMinimum"]}, got {value}')
        if "exclusiveMaximum" in prop and value >= prop["exclusiveMaximum"]:
            raise _Problem(f'input "{name}" must be < {prop["exclusiveMaximum"]}, got {value}')
    if isinstance(value, str) and not is_file_type(prop):
        if "minLength" in prop and len(value) < prop["minLength"]:
            raise _Problem(
                f'input "{name}" must be at least {prop["minLength"]} characters, got {len(value)}'
            )
        if "maxLength" in prop and len(value) > prop["maxLength"]:
            raise _Problem(f'input "{name}" must be at most {prop["maxLength"]} characters, got {len(value)}')
        if "pattern" in prop and not re.search(prop["pattern"], value):
            raise _Problem(f'input "{name}" must match the pattern {prop["pattern"]}, got {_show(value)}')
    return value


# ---------------------------------------------------------------------------------------------- entry points


def split_pairs(pairs: Iterable[str]) -> tuple[dict[str, list[str]], list[str]]:
    """``name=value`` strings → {name: [values...]} (in order), plus error lines for malformed ones."""
    out: dict[str, list[str]] = {}
    problems = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(f'input "{pair}" is not NAME=VALUE')
            continue
        out.setdefault(name, []).append(value)
    return out, problems


def load_json_arg(arg: str) -> dict[str, Any]:
    """``--json``: an inline object, ``@file.json``, or ``@-`` / ``-`` (stdin)."""
    if arg in ("@-", "-"):
        text, where = sys.stdin.read(), "stdin"
    elif arg.startswith("@"):
        p = Path(arg[1:]).expanduser()
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise CogpinError(f"--json: cannot read {p}: {e.strerror}") from None
        where = str(p)
    else:
        text, where = arg, "--json"
    try:
        data = json.loads(text)
    except ValueError as e:
        raise CogpinError(f"--json: {where} is not valid JSON: {e}") from None
    if isinstance(data, dict) and isinstance(data.get("input"), dict) and len(data) <= 2:
        data = data["input"]  # a prediction request body is accepted too
    if not isinstance(data, dict):
        raise CogpinError(f'--json: {where} must be a JSON object of inputs, e.g. \'{{"text": "world"}}\'')
    return data


def parse(
    pairs: Iterable[str],
    schema: Mapping[str, Any] | None,
    json_inputs: Mapping[str, Any] | None = None,
    component: str = "Input",
) -> ParsedInputs:
    """Build the request's ``input`` object, or raise InputError with one line per problem."""
    raw, problems = split_pairs(pairs)
    files: list[Path] = []
    values: dict[str, Any] = {}
    comp = input_component(schema, component)
    if comp is None:  # no schema: send what was given (files still as data URLs)
        for name, vals in raw.items():
            conv = [data_url(Path(v[1:])) if v.startswith("@") and Path(v[1:]).is_file() else v for v in vals]
            values[name] = conv[0] if len(conv) == 1 else conv
        values = {**(json_inputs or {}), **values}
        if problems:
            raise InputError(problems)
        return ParsedInputs(values, files)

    assert schema is not None
    props, required = input_properties(schema, component)
    for name, given in (json_inputs or {}).items():
        if name not in props:
            problems.append(f'unknown input "{name}"')
            continue
        try:
            values[name] = _check_json(name, given, props[name], files)
        except _Problem as e:
            problems.append(str(e))
    for name, vals in raw.items():
        if name not in props:
            problems.append(f'unknown input "{name}"')
            continue
        prop = props[name]
        try:
            if prop.get("type") == "array":
                item = _resolve(prop.get("items") or {}, schema)
                value: Any = [_coerce_str(name, v, item, files) for v in vals]
            else:
                if len(vals) > 1:
                    raise _Problem(f'input "{name}" takes one value, got {len(vals)}')
                value = _coerce_str(name, vals[0], prop, files)
            values[name] = _check_json(name, value, prop, files)
        except _Problem as e:
            problems.append(str(e))
    for name in required:
        if name not in values and name not in raw and name not in (json_inputs or {}):
            problems.append(f'missing required input "{name}"')
    if problems:
        ordered = sorted(props, key=lambda n: props[n].get("x-order", 0))
        desc = ", ".join(
            f"{n} ({_describe(props[n])}{'' if n not in required else ', required'})" for n in ordered
        )
        raise InputError(problems, f"the model's inputs: {desc or 'none'}")
    return ParsedInputs(values, files)


def _describe(prop: Mapping[str, Any]) -> str:
    if is_file_type(prop):
        return "file"
    if "enum" in prop:
        return "one of " + "|".join(str(c) for c in prop["enum"])
    if prop.get("type") == "array":
        return "list of " + _describe(_resolve(prop.get("items") or {}, {}))
    if "anyOf" in prop:
        return " or ".join(_describe(a) for a in prop["anyOf"])
    return {"number": "float", "integer": "int", "boolean": "bool", "string": "str", "object": "JSON"}.get(
        prop.get("type") or "", "any"
    )


# ------------------------------------------------------------------------------- before anything is built


def static_input_names(root: Path, ref: str, method: str = "predict") -> dict[str, bool] | None:
    """``{input name: required}`` of ``ref`` ("predict.py:Predictor") read from the source without running
    it (as Cog reads the schema from the source before any build), or None when the inputs cannot be known
    for sure (``**kwargs``, a method from a base class of the project, a file that does not parse). An
    input is required when it has no default (none, or ``Input(...)`` without ``default=``) and its
    annotation is not optional."""
    import ast

    file, _, name = ref.partition(":")
    try:
        tree = ast.parse((root / file).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    node = next(
        (
            n
            for n in tree.body
            if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name
        ),
        None,
    )
    func: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    if isinstance(node, ast.ClassDef):
        methods = {m.name: m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if node.bases and not all(
            ast.unparse(b).split(".")[-1] in ("BasePredictor", "BaseRunner", "object") for b in node.bases
        ):
            return None  # the method may come from a base class of the project
        func = methods.get("run") if method == "predict" and "run" in methods else methods.get(method)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        func = node
    if func is None or func.args.vararg is not None or func.args.kwarg is not None:
        return None
    positional = [*func.args.posonlyargs, *func.args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(func.args.defaults))
    defaults += list(func.args.defaults)
    pairs = list(zip(positional, defaults, strict=True))
    pairs += list(zip(func.args.kwonlyargs, func.args.kw_defaults, strict=True))
    if isinstance(node, ast.ClassDef) and pairs:
        pairs = pairs[1:]  # self
    out: dict[str, bool] = {}
    for arg, default in pairs:
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        optional = "Optional[" in annotation or "None" in annotation.replace("NoneType", "None")
        no_default = default is None or (
            isinstance(default, ast.Call)
            and ast.unparse(default.func).split(".")[-1] == "Input"
            and not any(k.arg == "default" for k in default.keywords)
            and not default.args
        )
        out[arg.arg] = no_default and not optional
    return out


def check_names_early(
    pairs: Iterable[str], json_inputs: Mapping[str, Any] | None, names: dict[str, bool] | None
) -> None:
    """``unknown input "nope"`` (Cog's words) before any build or container start, from the inputs the
    source declares (with the required ones missing, as the schema check would say them); the types and
    the rest are checked against the schema later."""
    if names is None:
        return
    raw, _ = split_pairs(pairs)
    given = [*(json_inputs or {}), *raw]
    unknown = [n for n in given if n not in names]
    if unknown:
        missing = [n for n, required in names.items() if required and n not in given]
        raise InputError(
            [f'unknown input "{n}"' for n in dict.fromkeys(unknown)]
            + [f'missing required input "{n}"' for n in missing],
            f"valid inputs are: {', '.join(sorted(names))}" if names else "model does not accept inputs",
        )
