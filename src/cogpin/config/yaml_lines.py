"""YAML read with lines: ``cog.yaml`` parsed into mappings and sequences that remember the line and the
source text of every key and value, so each error can name the line; :class:`FieldReader`, the typed
reads of such values; and the words messages use for what YAML read (``a YAML number``, ``"3.10"``)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from cogpin.config.model import ConfigError
from cogpin.fsutil import display_path


class Map(dict):
    """A mapping that remembers the (1-based) line of each key and the source text of scalar values."""

    line: int
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]
    source: dict[Any, str]
    key_source: dict[Any, str]


class Seq(list):
    """A sequence that remembers the line and the source text of each item."""

    line: int
    item_lines: list[int]
    source: list[str | None]


class DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


class Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: Loader, node: yaml.MappingNode) -> Map:
    loader.flatten_mapping(node)
    result = Map()
    result.line = node.start_mark.line + 1
    result.key_lines, result.value_lines, result.source, result.key_source = {}, {}, {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (dict, list)):
            key = yaml.safe_dump(key, default_flow_style=True).strip()
        value = loader.construct_object(value_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in result:
            raise DuplicateKey(key, line, result.key_lines[key])
        result[key] = value
        result.key_lines[key] = line
        if isinstance(key_node, yaml.ScalarNode):
            result.key_source[key] = key_node.value
        result.value_lines[key] = value_node.start_mark.line + 1
        if isinstance(value_node, yaml.ScalarNode):
            result.source[key] = value_node.value
    return result


def _construct_seq(loader: Loader, node: yaml.SequenceNode) -> Seq:
    result = Seq(loader.construct_object(item, deep=True) for item in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [item.start_mark.line + 1 for item in node.value]
    result.source = [item.value if isinstance(item, yaml.ScalarNode) else None for item in node.value]
    return result


Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)  # type: ignore[arg-type]
Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)  # type: ignore[arg-type]


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def type_name(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a YAML number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse(text: str, path: Path, shown: str) -> Map:
    """The YAML ``text`` of the file at ``path`` (``shown`` in messages) as a :class:`Map`; a syntax error,
    a key given twice, an empty file or a top level that is not a mapping is a ConfigError with the line."""
    try:
        data = yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKey as exc:
        raise ConfigError(
            f"{shown}:{exc.line}: {exc.key}: the key is given twice (first on line {exc.first}).",
            "keep one of them (YAML would silently use the last).",
            file=str(path),
            line=exc.line,
            key=str(exc.key),
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        context = (
            f" ({exc.context}" + (f" at line {exc.context_mark.line + 1})" if exc.context_mark else ")")
            if exc.context and exc.problem
            else ""
        )
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
        raise ConfigError(
            f"{where}: YAML syntax error: {problem}{context}.",
            "fix the YAML at that position (indent with spaces, not tabs; quote values that contain ': ' or start with special characters).",
            file=str(path),
            line=mark.line + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{shown}: YAML error: {exc}.", "fix the YAML syntax.", file=str(path)) from None
    if data is None:
        raise ConfigError(
            f"{shown}: the file is empty.",
            'give at least the build settings, e.g.\n    build:\n      python_version: "3.12"\n    predict: "predict.py:Predictor"\n'
            "  or run `cogpin init` in an empty folder for a starter cog.yaml.",
            file=str(path),
        )
    if not isinstance(data, Map):
        line = 1
        raise ConfigError(
            f"{shown}:{line}: the file must be a mapping of keys (build:, predict:, …), not {type_name(data)}.",
            'start it like\n    build:\n      python_version: "3.12"\n    predict: "predict.py:Predictor"',
            file=str(path),
            line=line,
        )
    return data


class FieldReader:
    """Typed reads of the values of one YAML file (a string, a list of strings, a mapping, known keys),
    each failing as a ConfigError that names the file, the line and the key; warnings are collected."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shown = display_path(path)
        self.warnings: list[str] = []

    # -- error/warning helpers

    def fail(self, line: int | None, key: str | None, message: str, hint: str | None = None) -> ConfigError:
        where = f"{self.shown}:{line}" if line else self.shown
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        return ConfigError(text, hint, file=str(self.path), line=line, key=key)

    def warn(self, line: int | None, key: str, message: str) -> None:
        where = f"{self.shown}:{line}" if line else self.shown
        self.warnings.append(f"{where}: {key}: {message}")

    def check_keys(
        self, mapping: Map, allowed: tuple[str, ...], prefix: str, elsewhere: dict[str, str]
    ) -> None:
        for key in mapping:
            if isinstance(key, str) and key in allowed:
                continue
            name = f"{prefix}{getattr(mapping, 'key_source', {}).get(key, key)}"
            line = mapping.key_lines.get(key)
            if isinstance(key, str) and key in elsewhere:
                raise self.fail(
                    line,
                    name,
                    f"unknown key here; `{key}` belongs {elsewhere[key]}.",
                    f"move `{key}:` {elsewhere[key]}.",
                )
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            valid = ", ".join(allowed)
            if close:
                hint = f"did you mean `{prefix}{close[0]}`? (valid keys here: {valid})"
            else:
                hint = (
                    f"remove it; valid keys here: {valid}. cogpin-only settings are flags, not cog.yaml keys."
                )
            raise self.fail(line, name, "unknown key (Cog rejects it too).", hint)

    def number_trap(self, mapping: Map, key: str, name: str, value: Any, example: str) -> ConfigError:
        written = mapping.source.get(key, str(value))
        line = mapping.value_lines.get(key)
        if isinstance(value, float) and written != str(value):
            what = f"{value} is a YAML number ({written} read as {value})"
        else:
            what = f"{written} is a YAML number, not a string"
        short = name.rsplit(".", 1)[-1]
        return self.fail(
            line,
            name,
            f"{what}; write it as a string: {short}: {yaml_str(written)}",
            f"quote it so YAML keeps it as written: {short}: {yaml_str(written)}",
        )

    def string(self, mapping: Map, key: str, name: str, example: str) -> str | None:
        value = mapping.get(key)
        if value is None:
            if key in mapping:
                raise self.fail(
                    mapping.value_lines.get(key),
                    name,
                    "is empty.",
                    f"give a value, e.g. {key}: {example}, or remove the key.",
                )
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise self.number_trap(mapping, key, name, value, example)
        if not isinstance(value, str):
            raise self.fail(
                mapping.value_lines.get(key),
                name,
                f"must be a string, not {type_name(value)}.",
                f"write it as {key}: {example}",
            )
        if not value.strip():
            raise self.fail(
                mapping.value_lines.get(key),
                name,
                "is an empty string.",
                f"give a value, e.g. {key}: {example}, or remove the key.",
            )
        return value.strip()

    def string_list(self, mapping: Map, key: str, name: str, example: str) -> list[tuple[str, int]]:
        """A list of non-empty strings: [(value, line)]."""
        value = mapping.get(key)
        line = mapping.value_lines.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            raise self.fail(
                line,
                name,
                "must be a list, not a single string.",
                f"write it as a list:\n    {key}:\n      - {yaml_str(value)}",
            )
        if not isinstance(value, Seq):
            raise self.fail(
                line, name, f"must be a list of strings, not {type_name(value)}.", f"e.g. {key}: [{example}]"
            )
        items: list[tuple[str, int]] = []
        for index, item in enumerate(value):
            item_line = value.item_lines[index]
            item_name = f"{name}[{index}]"
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                written = value.source[index] or str(item)
                raise self.fail(
                    item_line,
                    item_name,
                    f"{written} is a YAML number, not a string.",
                    f"quote it: - {yaml_str(written)}",
                )
            if not isinstance(item, str):
                raise self.fail(
                    item_line, item_name, f"must be a string, not {type_name(item)}.", f"e.g. - {example}"
                )
            if not item.strip():
                raise self.fail(item_line, item_name, "is an empty string.", "remove the empty item.")
            items.append((item.strip(), item_line))
        return items

    def mapping(self, parent: Map, key: str, name: str, example: str) -> Map | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, Map):
            raise self.fail(
                parent.value_lines.get(key),
                name,
                f"must be a mapping, not {type_name(value)}.",
                f"e.g.\n{example}",
            )
        return value
