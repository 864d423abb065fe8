"""Find, parse and validate ``cog.yaml`` into a :class:`Config` (pure apart from reading files).

Cog's schema, key for key (unknown keys are errors, as in Cog)::

    build:
      gpu: true                          # bool
      python_version: "3.12"             # "3.X" or "3.X.Y", a string (3.10 unquoted is the number 3.1)
      python_packages: ["torch==2.3.1"]  # or python_requirements: requirements.txt (not both)
      system_packages: [libgl1]
      run: ["echo hi", {command: "...", mounts: [{type: secret, id: tok, target: /run/tok}]}]
      pre_install: ["..."]               # deprecated form of run (accepted, with a warning)
      cuda: "12.1"                       # strings
      cudnn: "8"
    predict: "predict.py:Predictor"      # or run: (newer name); not both
    train: "train.py:train"
    image: r8.im/user/model
    concurrency: {max: 4}
    environment: ["NAME=value"]

Every error is a :class:`ConfigError` whose message names the file, the line and the key
(``cog.yaml:3: build.python_version: …``) and whose hint says the fix.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from cogpin.errors import CogpinError

CONFIG_NAME = "cog.yaml"

# Python versions cogpin builds for (minor versions of CPython 3).
MIN_PYTHON_MINOR = 8
MAX_PYTHON_MINOR = 14
# Cog's default when build.python_version is absent.
DEFAULT_PYTHON_VERSION = "3.13"

TOP_LEVEL_KEYS = ("build", "predict", "run", "train", "image", "concurrency", "environment")
BUILD_KEYS = (
    "gpu",
    "python_version",
    "python_packages",
    "python_requirements",
    "system_packages",
    "run",
    "cuda",
    "cudnn",
    "pre_install",
)
CONCURRENCY_KEYS = ("max",)
RUN_ITEM_KEYS = ("command", "mounts")
MOUNT_KEYS = ("type", "id", "target")

# Cog refuses these in `environment` (they would break the image or the platform).
RESERVED_ENV_NAMES = frozenset(
    {"PATH", "LD_LIBRARY_PATH", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONUNBUFFERED", "LIBRARY_PATH"}
)
RESERVED_ENV_PREFIXES = ("CUDA_", "NVIDIA_", "NV_", "R8_", "REPLICATE_", "KUBERNETES_")


# --------------------------------------------------------------------------------------------- model


class ConfigError(CogpinError):
    """A cog.yaml (or requirements file) problem: the message names file, line and key; the hint, the fix."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.file = file
        self.line = line
        self.key = key


@dataclass(frozen=True)
class SecretMount:
    id: str
    target: str
    type: str = "secret"


@dataclass(frozen=True)
class RunStep:
    command: str
    mounts: tuple[SecretMount, ...] = ()


@dataclass(frozen=True)
class Requirements:
    """The Python requirements, from ``python_packages`` or a ``python_requirements`` file."""

    file: str | None  # python_requirements path relative to the project; None for python_packages
    lines: tuple[
        str, ...
    ] = ()  # PEP 508 requirement strings in file order; comments, blanks, options removed
    index_url: str | None = None  # --index-url / -i in the file
    extra_index_urls: tuple[str, ...] = ()  # --extra-index-url lines
    # --find-links / -f lines: URLs as written; local folders as absolute paths (relative ones resolved
    # against the folder of the file that names them). canonical_inputs() records them project-relative.
    find_links: tuple[str, ...] = ()
    # every requirements file read (the top one and `-r` includes), project-relative POSIX paths, in
    # reading order: the lock hashes their content.
    files: tuple[str, ...] = ()
    # other resolution options found, normalised: "--pre", "--no-index", "--prefer-binary",
    # "--only-binary=X", "--no-binary=X", "--trusted-host=H" (in file order, de-duplicated).
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    path: Path  # absolute path of cog.yaml
    root: Path  # the folder that holds it (the project)
    gpu: bool
    python_version: str  # "3.11" or "3.11.4" (validated)
    requirements: Requirements
    system_packages: tuple[str, ...]
    run: tuple[RunStep, ...]  # build.run, plus deprecated build.pre_install first
    cuda: str | None  # build.cuda ("12.1")
    cudnn: str | None  # build.cudnn ("8")
    predict: str | None  # predict: or run: ("predict.py:Predictor")
    train: str | None
    image: str | None
    concurrency_max: int | None
    environment: tuple[tuple[str, str], ...]
    raw: dict  # the parsed YAML as written
    warnings: tuple[str, ...] = field(default=())  # deprecations, printed by the CLI


# ------------------------------------------------------------------------------------ finding the file


def _display(path: Path) -> str:
    """A short form of a path for messages: relative to cwd when inside it, else ``~/…``, else absolute."""
    path = Path(os.path.abspath(path))
    try:
        cwd = Path.cwd()
    except OSError:
        cwd = None
    if cwd is not None:
        try:
            rel = path.relative_to(cwd)
            return str(rel) if str(rel) != "." else "."
        except ValueError:
            pass
    try:
        home = Path.home()
        rel = path.relative_to(home)
        return "~" if str(rel) == "." else f"~/{rel}"
    except (ValueError, RuntimeError):
        return str(path)


def find_config(start: Path | None = None, file: str | None = None) -> Path:
    """The cog.yaml to use, as an absolute path.

    ``file`` (the ``-f`` flag) is taken relative to the current folder (a folder means its cog.yaml);
    otherwise ``cog.yaml`` in ``start`` (default: the current folder) or the nearest parent folder.
    """
    if file is not None:
        candidate = Path(os.path.abspath(file))
        if candidate.is_dir():
            candidate = candidate / CONFIG_NAME
        if not candidate.is_file():
            raise ConfigError(
                f"{_display(candidate)}: no such file (given with -f/--file).",
                "check the path (it is relative to the current folder), or leave out -f to use ./cog.yaml "
                "or the nearest one in a parent folder.",
                file=str(candidate),
            )
        return candidate
    folder = Path(os.path.abspath(start if start is not None else Path.cwd()))
    looked: list[Path] = []
    for candidate_dir in (folder, *folder.parents):
        looked.append(candidate_dir)
        candidate = candidate_dir / CONFIG_NAME
        if candidate.is_file():
            return candidate
    shown = [_display(p) for p in looked]
    if len(shown) > 8:  # a very deep folder: the nearest ones and the root say enough
        shown = [*shown[:5], f"… ({len(shown) - 7} more)", *shown[-2:]]
    raise ConfigError(
        f"no {CONFIG_NAME} found in {_display(folder)} or any parent folder (looked in: {', '.join(shown)}).",
        f"run `cogpin init` to create a starter project here, or point at one with `-f path/to/{CONFIG_NAME}`.",
    )


# --------------------------------------------------------------------------------- YAML with lines


class _Map(dict):
    """A mapping that remembers the (1-based) line of each key and the source text of scalar values."""

    line: int
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]
    source: dict[Any, str]
    key_source: dict[Any, str]


class _Seq(list):
    """A sequence that remembers the line and the source text of each item."""

    line: int
    item_lines: list[int]
    source: list[str | None]


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first = key, line, first


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines, result.value_lines, result.source, result.key_source = {}, {}, {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (dict, list)):
            key = yaml.safe_dump(key, default_flow_style=True).strip()
        value = loader.construct_object(value_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in result:
            raise _DuplicateKey(key, line, result.key_lines[key])
        result[key] = value
        result.key_lines[key] = line
        if isinstance(key_node, yaml.ScalarNode):
            result.key_source[key] = key_node.value
        result.value_lines[key] = value_node.start_mark.line + 1
        if isinstance(value_node, yaml.ScalarNode):
            result.source[key] = value_node.value
    return result


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    result = _Seq(loader.construct_object(item, deep=True) for item in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [item.start_mark.line + 1 for item in node.value]
    result.source = [item.value if isinstance(item, yaml.ScalarNode) else None for item in node.value]
    return result


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)  # type: ignore[arg-type]
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)  # type: ignore[arg-type]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------ helpers


def _type_name(value: Any) -> str:
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


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_PREDICT_REF = re.compile(r"^(?P<file>[^:]+\.py):(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
_PYTHON_VERSION = re.compile(r"^3\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?$")
_CUDA_VERSION = re.compile(r"^\d+(?:\.\d+){0,2}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Docker image reference: [registry[:port]/]path[:tag][@digest], lowercase path components.
_IMAGE_REF = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9.-]+(?::\d+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


class _Checker:
    """Validates one cog.yaml; raises the first problem as a ConfigError naming file, line and key."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self.shown = _display(path)
        self.warnings: list[str] = []
        self.build_line = 1

    # -- error/warning helpers

    def fail(self, line: int | None, key: str | None, message: str, hint: str | None = None) -> ConfigError:
        where = f"{self.shown}:{line}" if line else self.shown
        text = f"{where}: {key}: {message}" if key else f"{where}: {message}"
        return ConfigError(text, hint, file=str(self.path), line=line, key=key)

    def warn(self, line: int | None, key: str, message: str) -> None:
        where = f"{self.shown}:{line}" if line else self.shown
        self.warnings.append(f"{where}: {key}: {message}")

    def check_keys(
        self, mapping: _Map, allowed: tuple[str, ...], prefix: str, elsewhere: dict[str, str]
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

    def number_trap(self, mapping: _Map, key: str, name: str, value: Any, example: str) -> ConfigError:
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
            f"{what}; write it as a string: {short}: {_yaml_str(written)}",
            f"quote it so YAML keeps it as written: {short}: {_yaml_str(written)}",
        )

    def string(self, mapping: _Map, key: str, name: str, example: str) -> str | None:
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
                f"must be a string, not {_type_name(value)}.",
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

    def string_list(self, mapping: _Map, key: str, name: str, example: str) -> list[tuple[str, int]]:
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
                f"write it as a list:\n    {key}:\n      - {_yaml_str(value)}",
            )
        if not isinstance(value, _Seq):
            raise self.fail(
                line, name, f"must be a list of strings, not {_type_name(value)}.", f"e.g. {key}: [{example}]"
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
                    f"quote it: - {_yaml_str(written)}",
                )
            if not isinstance(item, str):
                raise self.fail(
                    item_line, item_name, f"must be a string, not {_type_name(item)}.", f"e.g. - {example}"
                )
            if not item.strip():
                raise self.fail(item_line, item_name, "is an empty string.", "remove the empty item.")
            items.append((item.strip(), item_line))
        return items

    def mapping(self, parent: _Map, key: str, name: str, example: str) -> _Map | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, _Map):
            raise self.fail(
                parent.value_lines.get(key),
                name,
                f"must be a mapping, not {_type_name(value)}.",
                f"e.g.\n{example}",
            )
        return value

    def ref(self, mapping: _Map, key: str, name: str, example: str) -> str | None:
        value = self.string(mapping, key, name, f'"{example}"')
        if value is None:
            return None
        line = mapping.value_lines.get(key)
        match = _PREDICT_REF.match(value)
        if not match:
            raise self.fail(
                line,
                name,
                f"{_yaml_str(value)} is not of the form file.py:Name.",
                f'name the Python file (relative to the project) and the class or function in it, e.g. {key}: "{example}"',
            )
        file = match.group("file")
        target = (self.root / file).resolve()
        if not target.is_file():
            raise self.fail(
                line,
                name,
                f"{file} does not exist in the project ({_display(self.root / file)}).",
                f"create {file}, or fix the path (it is relative to the folder that holds {CONFIG_NAME}).",
            )
        return value

    # -- the whole file

    def check(self, data: _Map) -> Config:
        self.check_keys(
            data,
            TOP_LEVEL_KEYS,
            "",
            {k: "under `build:`" for k in BUILD_KEYS if k != "run"},
        )
        build = self.mapping(data, "build", "build", '  build:\n    python_version: "3.12"')
        if build is None:
            build = _Map()
            build.line, build.key_lines, build.value_lines, build.source = data.line, {}, {}, {}
            build.key_source = {}
        self.build_line = data.key_lines.get("build", 1)
        self.check_keys(
            build,
            BUILD_KEYS,
            "build.",
            {
                k: "at the top level (not under `build:`)"
                for k in ("predict", "train", "image", "concurrency", "environment")
            },
        )

        # gpu
        gpu_value = build.get("gpu", False)
        if gpu_value is None:
            gpu_value = False
        if not isinstance(gpu_value, bool):
            raise self.fail(
                build.value_lines.get("gpu"),
                "build.gpu",
                f"must be true or false, not {_type_name(gpu_value)} ({build.source.get('gpu', gpu_value)!r}).",
                "write gpu: true or gpu: false (without quotes).",
            )
        gpu = gpu_value

        python_version = self.python_version(build)
        requirements = self.requirements(build)
        system_packages = tuple(
            v for v, _ in self.string_list(build, "system_packages", "build.system_packages", '"libgl1"')
        )
        run = self.run_steps(build)

        cuda = self.version_string(build, "cuda", "12.1")
        cudnn = self.version_string(build, "cudnn", "8")
        if not gpu:
            for key, value in (("cuda", cuda), ("cudnn", cudnn)):
                if value is not None:
                    self.warn(
                        build.key_lines.get(key), f"build.{key}", "is ignored because build.gpu is not true."
                    )

        # predict / run
        if "predict" in data and "run" in data:
            raise self.fail(
                data.key_lines["run"],
                "run",
                f"both `predict:` (line {data.key_lines['predict']}) and `run:` are given; they are the same setting.",
                "keep one: `run:` is the newer name, `predict:` the older.",
            )
        predict_key = "run" if "run" in data else "predict"
        predict = self.ref(data, predict_key, predict_key, "predict.py:Predictor")
        train = self.ref(data, "train", "train", "train.py:train")

        image = self.string(data, "image", "image", '"r8.im/user/model"')
        if image is not None and not _IMAGE_REF.match(image):
            raise self.fail(
                data.value_lines.get("image"),
                "image",
                f"{_yaml_str(image)} is not a valid image name.",
                "use lowercase letters, digits and . _ - / separators, an optional registry and :tag, "
                "e.g. image: r8.im/user/model",
            )

        concurrency_max = self.concurrency(data)
        environment = self.environment(data)

        return Config(
            path=self.path,
            root=self.root,
            gpu=gpu,
            python_version=python_version,
            requirements=requirements,
            system_packages=system_packages,
            run=run,
            cuda=cuda,
            cudnn=cudnn,
            predict=predict,
            train=train,
            image=image,
            concurrency_max=concurrency_max,
            environment=environment,
            raw=_plain(data),
            warnings=tuple(self.warnings),
        )

    def python_version(self, build: _Map) -> str:
        if "python_version" not in build:
            self.warn(
                self.build_line,
                "build.python_version",
                f'not set; using {DEFAULT_PYTHON_VERSION} (Cog\'s default). Set it, e.g. python_version: "3.12".',
            )
            return DEFAULT_PYTHON_VERSION
        value = self.string(build, "python_version", "build.python_version", "3.12")
        assert value is not None
        line = build.value_lines.get("python_version")
        match = _PYTHON_VERSION.match(value)
        if not match:
            raise self.fail(
                line,
                "build.python_version",
                f"{_yaml_str(value)} is not a Python version of the form 3.X or 3.X.Y.",
                'write e.g. python_version: "3.12" or "3.12.4"',
            )
        minor = int(match.group("minor"))
        if not MIN_PYTHON_MINOR <= minor <= MAX_PYTHON_MINOR:
            raise self.fail(
                line,
                "build.python_version",
                f"Python {value} is not supported (supported: 3.{MIN_PYTHON_MINOR} to 3.{MAX_PYTHON_MINOR}).",
                'pick a supported version, e.g. python_version: "3.12"',
            )
        return value

    def version_string(self, build: _Map, key: str, example: str) -> str | None:
        value = self.string(build, key, f"build.{key}", example)
        if value is not None and not _CUDA_VERSION.match(value):
            raise self.fail(
                build.value_lines.get(key),
                f"build.{key}",
                f"{_yaml_str(value)} is not a version number.",
                f'write e.g. {key}: "{example}"',
            )
        return value

    def requirements(self, build: _Map) -> Requirements:
        if "python_packages" in build and "python_requirements" in build:
            first, second = sorted(
                ("python_packages", "python_requirements"), key=lambda k: build.key_lines[k]
            )
            raise self.fail(
                build.key_lines[second],
                f"build.{second}",
                f"both build.python_packages and build.python_requirements are given (the other on line "
                f"{build.key_lines[first]}); use one.",
                "move the packages into the requirements file and remove python_packages "
                "(python_requirements is the newer form).",
            )
        if "python_requirements" in build:
            file = self.string(build, "python_requirements", "build.python_requirements", "requirements.txt")
            assert file is not None
            line = build.value_lines.get("python_requirements")
            target = self.root / file
            if not target.is_file():
                raise self.fail(
                    line,
                    "build.python_requirements",
                    f"{file}: no such file ({_display(target)}).",
                    f"create it, or fix the path (it is relative to the folder that holds {CONFIG_NAME}).",
                )
            parser = _RequirementsParser(self.root, f"build.python_requirements in {self.shown}:{line}")
            parser.read_file(Path(os.path.abspath(target)), ())
            return parser.result(file=_relative(self.root, Path(os.path.abspath(target))))
        items = self.string_list(build, "python_packages", "build.python_packages", '"torch==2.3.1"')
        parser = _RequirementsParser(self.root, "build.python_packages")
        for index, (text, line) in enumerate(items):
            parser.line(
                text, source=self.shown, line=line, key=f"build.python_packages[{index}]", base=self.root
            )
        return parser.result(file=None)

    def run_steps(self, build: _Map) -> tuple[RunStep, ...]:
        steps: list[RunStep] = []
        if "pre_install" in build:
            for pre_command, _ in self.string_list(build, "pre_install", "build.pre_install", '"echo hello"'):
                steps.append(RunStep(command=pre_command))
            self.warn(
                build.key_lines.get("pre_install"),
                "build.pre_install",
                "is deprecated; move its commands to build.run (they run first, before build.run's).",
            )
        value = build.get("run")
        if value is None:
            return tuple(steps)
        line = build.value_lines.get("run")
        if not isinstance(value, _Seq):
            raise self.fail(
                line,
                "build.run",
                f"must be a list of commands, not {_type_name(value)}.",
                'write it as a list:\n    run:\n      - "echo hello"',
            )
        for index, item in enumerate(value):
            name = f"build.run[{index}]"
            item_line = value.item_lines[index]
            if isinstance(item, str):
                if not item.strip():
                    raise self.fail(item_line, name, "is an empty command.", "remove it.")
                steps.append(RunStep(command=item.strip()))
                continue
            if not isinstance(item, _Map):
                raise self.fail(
                    item_line,
                    name,
                    f"must be a command string or a mapping {{command, mounts}}, not {_type_name(item)}.",
                    'e.g. - "echo hello", or - {command: "...", mounts: [{type: secret, id: mytoken, target: /run/secrets/tok}]}',
                )
            self.check_keys(item, RUN_ITEM_KEYS, f"{name}.", {})
            command = self.string(item, "command", f"{name}.command", '"pip install ..."')
            if command is None:
                raise self.fail(
                    item.line, f"{name}.command", "is missing.", 'give the shell command: command: "..."'
                )
            mounts: list[SecretMount] = []
            mounts_value = item.get("mounts")
            if mounts_value is not None:
                if not isinstance(mounts_value, _Seq):
                    raise self.fail(
                        item.value_lines.get("mounts"),
                        f"{name}.mounts",
                        f"must be a list of mounts, not {_type_name(mounts_value)}.",
                        "e.g. mounts: [{type: secret, id: mytoken, target: /run/secrets/tok}]",
                    )
                for m_index, mount in enumerate(mounts_value):
                    m_name = f"{name}.mounts[{m_index}]"
                    m_line = mounts_value.item_lines[m_index]
                    if not isinstance(mount, _Map):
                        raise self.fail(
                            m_line,
                            m_name,
                            f"must be a mapping {{type, id, target}}, not {_type_name(mount)}.",
                            "e.g. - {type: secret, id: mytoken, target: /run/secrets/tok}",
                        )
                    self.check_keys(mount, MOUNT_KEYS, f"{m_name}.", {})
                    for required in MOUNT_KEYS:
                        if required not in mount:
                            raise self.fail(
                                mount.line,
                                f"{m_name}.{required}",
                                "is missing.",
                                "a mount needs type: secret, id: <secret id> and target: <path in the build>.",
                            )
                    m_type = self.string(mount, "type", f"{m_name}.type", "secret")
                    if m_type != "secret":
                        raise self.fail(
                            mount.value_lines.get("type"),
                            f"{m_name}.type",
                            f"{_yaml_str(str(m_type))} is not supported; only secret mounts are.",
                            "write type: secret",
                        )
                    m_id = self.string(mount, "id", f"{m_name}.id", "mytoken")
                    m_target = self.string(mount, "target", f"{m_name}.target", "/run/secrets/tok")
                    assert m_id is not None and m_target is not None
                    if not re.match(r"^[A-Za-z0-9_.-]+$", m_id):
                        raise self.fail(
                            mount.value_lines.get("id"),
                            f"{m_name}.id",
                            f"{_yaml_str(m_id)} is not a valid secret id.",
                            "use letters, digits, '.', '_' and '-' (the id passed to `--secret id=…`).",
                        )
                    if not m_target.startswith("/"):
                        raise self.fail(
                            mount.value_lines.get("target"),
                            f"{m_name}.target",
                            f"{_yaml_str(m_target)} is not an absolute path.",
                            "give the path where the secret appears during the build, e.g. target: /run/secrets/tok",
                        )
                    mounts.append(SecretMount(id=m_id, target=m_target))
            steps.append(RunStep(command=command, mounts=tuple(mounts)))
        return tuple(steps)

    def concurrency(self, data: _Map) -> int | None:
        block = self.mapping(data, "concurrency", "concurrency", "  concurrency:\n    max: 4")
        if block is None:
            return None
        self.check_keys(block, CONCURRENCY_KEYS, "concurrency.", {})
        if "max" not in block:
            return None
        value = block["max"]
        line = block.value_lines.get("max")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(
                line,
                "concurrency.max",
                f"must be a whole number, not {_type_name(value)} ({block.source.get('max', value)!r}).",
                "write e.g. max: 4 (without quotes).",
            )
        if value < 1:
            raise self.fail(line, "concurrency.max", f"must be at least 1, not {value}.", "write e.g. max: 4")
        return value

    def environment(self, data: _Map) -> tuple[tuple[str, str], ...]:
        value = data.get("environment")
        line = data.value_lines.get("environment")
        if value is None:
            return ()
        if isinstance(value, _Map):
            example = "\n".join(f"      - {k}={v}" for k, v in list(value.items())[:3])
            raise self.fail(
                line,
                "environment",
                "must be a list of NAME=value strings, not a mapping.",
                f"write it as a list:\n    environment:\n{example}",
            )
        items = self.string_list(data, "environment", "environment", '"NAME=value"')
        seen: dict[str, int] = {}
        result: list[tuple[str, str]] = []
        for index, (item, item_line) in enumerate(items):
            name_key = f"environment[{index}]"
            if "=" not in item:
                raise self.fail(
                    item_line,
                    name_key,
                    f"{_yaml_str(item)} is not of the form NAME=value.",
                    f'write e.g. - "{item}=value"',
                )
            name, env_value = item.split("=", 1)
            name = name.strip()
            if not _ENV_NAME.match(name):
                raise self.fail(
                    item_line,
                    name_key,
                    f"{_yaml_str(name)} is not a valid variable name.",
                    "use letters, digits and _, not starting with a digit.",
                )
            if name in RESERVED_ENV_NAMES:
                raise self.fail(
                    item_line,
                    name_key,
                    f"{name} is reserved (Cog refuses it: the image and platform set it).",
                    f"remove it; reserved names: {', '.join(sorted(RESERVED_ENV_NAMES))}.",
                )
            prefix = next((p for p in RESERVED_ENV_PREFIXES if name.startswith(p)), None)
            if prefix:
                raise self.fail(
                    item_line,
                    name_key,
                    f"{name} uses the reserved prefix {prefix} (Cog refuses it).",
                    f"rename it; reserved prefixes: {', '.join(RESERVED_ENV_PREFIXES)}.",
                )
            if name in seen:
                raise self.fail(
                    item_line,
                    name_key,
                    f"{name} is set twice (first on line {seen[name]}).",
                    "keep one of them.",
                )
            seen[name] = item_line
            result.append((name, env_value))
        return tuple(result)


# ------------------------------------------------------------------------------- requirements files


def _relative(root: Path, path: Path) -> str:
    """A project-relative POSIX path (with ``..`` when outside the project)."""
    return Path(os.path.relpath(path, root)).as_posix()


_COMMENT = re.compile(r"(^|\s+)#.*$")
_OPTION = re.compile(r"^(?P<opt>--?[A-Za-z][A-Za-z0-9-]*)(?:(?:=|\s+)(?P<value>.*))?$")
_HASH_OPTION = re.compile(r"\s+--hash(?:=|\s+)\S+")
_TRAILING_OPTION = re.compile(r"\s(--?[A-Za-z][A-Za-z0-9-]*)")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

_FLAG_OPTIONS = {"--pre": "--pre", "--no-index": "--no-index", "--prefer-binary": "--prefer-binary"}
_VALUE_OPTIONS = {"--only-binary", "--no-binary", "--trusted-host"}
_IGNORED_OPTIONS = {"--require-hashes", "--use-feature"}  # cogpin always pins by hash


class _RequirementsParser:
    """Reads requirement lines (from python_packages or files with ``-r`` includes) into Requirements."""

    def __init__(self, root: Path, origin: str) -> None:
        self.root = root
        self.origin = origin  # "build.python_requirements in cog.yaml:7", for messages
        self.lines: list[str] = []
        self.index_url: str | None = None
        self.index_url_where = ""
        self.extra_index_urls: list[str] = []
        self.find_links: list[str] = []
        self.files: list[str] = []
        self.options: list[str] = []

    def result(self, file: str | None) -> Requirements:
        return Requirements(
            file=file,
            lines=tuple(self.lines),
            index_url=self.index_url,
            extra_index_urls=tuple(self.extra_index_urls),
            find_links=tuple(self.find_links),
            files=tuple(self.files),
            options=tuple(self.options),
        )

    def fail(self, source: str, line: int, key: str | None, message: str, hint: str) -> ConfigError:
        text = f"{source}:{line}: {key}: {message}" if key else f"{source}:{line}: {message}"
        return ConfigError(text, hint, file=source, line=line, key=key)

    def read_file(
        self, path: Path, stack: tuple[Path, ...], included_from: tuple[str, int] | None = None
    ) -> None:
        shown = _display(path)
        if path in stack:
            assert included_from is not None
            chain = " -> ".join(_display(p) for p in (*stack, path))
            raise self.fail(
                included_from[0],
                included_from[1],
                None,
                f"requirements files include each other in a loop ({chain}).",
                "remove one of the -r lines.",
            )
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            if included_from is None:
                raise ConfigError(
                    f"{shown}: no such file ({self.origin}).", "create it or fix the path."
                ) from None
            raise self.fail(
                included_from[0],
                included_from[1],
                None,
                f"-r {_relative(path.parent, path)}: no such file ({shown}).",
                "fix the path: it is relative to the file that includes it.",
            ) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{shown}: not UTF-8 text ({exc.reason}).", "save the file as UTF-8.") from None
        rel = _relative(self.root, path)
        if rel not in self.files:
            self.files.append(rel)
        for number, logical in _logical_lines(text):
            self.line(logical, source=shown, line=number, key=None, base=path.parent, stack=(*stack, path))

    def line(
        self,
        text: str,
        *,
        source: str,
        line: int,
        key: str | None,
        base: Path,
        stack: tuple[Path, ...] | None = None,
    ) -> None:
        text = _COMMENT.sub("", text).strip()
        if not text:
            return
        if text.startswith("-"):
            self.option(text, source=source, line=line, key=key, base=base, stack=stack)
            return
        self.requirement(text, source=source, line=line, key=key)

    def option(
        self,
        text: str,
        *,
        source: str,
        line: int,
        key: str | None,
        base: Path,
        stack: tuple[Path, ...] | None,
    ) -> None:
        match = _OPTION.match(text)
        if not match:
            raise self.fail(
                source,
                line,
                key,
                f"cannot read option {text!r}.",
                "write options as --name value or --name=value.",
            )
        opt = match.group("opt")
        value = (match.group("value") or "").strip()
        if value.startswith(("'", '"')) and value.endswith(value[0]) and len(value) > 1:
            value = value[1:-1]
        if opt in ("-e", "--editable"):
            raise self.fail(
                source,
                line,
                key,
                f"editable requirement {text!r}: an editable (local, mutable) install is not reproducible.",
                "build a wheel of it (`uv build` / `pip wheel . -w wheels`) and add `--find-links ./wheels` plus the "
                "pinned name, or publish it to an index, or copy the code into the project.",
            )
        needs_value = {
            "-r",
            "--requirement",
            "-c",
            "--constraint",
            "-i",
            "--index-url",
            "--extra-index-url",
            "-f",
            "--find-links",
        }
        if (opt in needs_value or opt in _VALUE_OPTIONS) and not value:
            raise self.fail(source, line, key, f"{opt} needs a value.", f"write {opt} <value>.")
        if opt in ("-r", "--requirement"):
            if stack is None:
                raise self.fail(
                    source,
                    line,
                    key,
                    f"{opt} is not allowed in python_packages.",
                    "use build.python_requirements: <file> instead.",
                )
            self.read_file(Path(os.path.abspath(base / value)), stack, included_from=(source, line))
        elif opt in ("-c", "--constraint"):
            raise self.fail(
                source,
                line,
                key,
                f"{opt} constraints files are not supported.",
                "put the pins into the requirements file itself (cog.lock pins every package anyway).",
            )
        elif opt in ("-i", "--index-url"):
            if self.index_url is not None and self.index_url != value:
                raise self.fail(
                    source,
                    line,
                    key,
                    f"a second --index-url ({value}); the first is {self.index_url} ({self.index_url_where}).",
                    "keep one --index-url; add further indexes with --extra-index-url.",
                )
            self.index_url = value
            self.index_url_where = f"{source}:{line}"
        elif opt == "--extra-index-url":
            if value not in self.extra_index_urls:
                self.extra_index_urls.append(value)
        elif opt in ("-f", "--find-links"):
            link = value if _URL.match(value) else os.path.abspath(base / os.path.expanduser(value))
            if link not in self.find_links:
                self.find_links.append(link)
        elif opt in _FLAG_OPTIONS:
            if value:
                raise self.fail(
                    source, line, key, f"{opt} takes no value.", f"write {opt} alone on its line."
                )
            if _FLAG_OPTIONS[opt] not in self.options:
                self.options.append(_FLAG_OPTIONS[opt])
        elif opt in _VALUE_OPTIONS:
            normalised = f"{opt}={value}"
            if normalised not in self.options:
                self.options.append(normalised)
        elif opt in _IGNORED_OPTIONS:
            pass
        else:
            raise self.fail(
                source,
                line,
                key,
                f"option {opt} is not supported in a requirements file for cogpin.",
                "supported: -r, -i/--index-url, --extra-index-url, -f/--find-links, --pre, --no-index, "
                "--prefer-binary, --only-binary, --no-binary, --trusted-host, and --hash on requirement lines.",
            )

    def requirement(self, text: str, *, source: str, line: int, key: str | None) -> None:
        text = _HASH_OPTION.sub("", text).strip()
        # options after the requirement, other than --hash: only outside of a marker's quotes
        trailing = _TRAILING_OPTION.search(text)
        if trailing and "'" not in text[: trailing.start()] and '"' not in text[: trailing.start()]:
            raise self.fail(
                source,
                line,
                key,
                f"option {trailing.group(1)} on a requirement line is not supported.",
                "remove it (only --hash=… is accepted on a requirement line, and ignored: cog.lock records hashes).",
            )
        local_hint = (
            "a local path is not reproducible: build a wheel into a folder of the project and add "
            "`--find-links ./wheels` with the pinned name (e.g. mypkg==1.0), or publish it to an index."
        )
        if text.startswith((".", "/", "~", "file:")) or re.match(r"^[A-Za-z]:[\\/]", text):
            raise self.fail(source, line, key, f"local path {text!r} as a requirement.", local_hint)
        if _URL.match(text):
            raise self.fail(
                source,
                line,
                key,
                f"a bare URL {text!r} has no package name.",
                "write it as `name @ URL` (e.g. mypkg @ https://example.com/mypkg-1.0-py3-none-any.whl).",
            )
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            if "/" in text.split(";")[0] or text.endswith((".whl", ".tar.gz", ".zip")):
                raise self.fail(
                    source, line, key, f"local path {text!r} as a requirement.", local_hint
                ) from None
            problem = str(exc).splitlines()[0]
            raise self.fail(
                source,
                line,
                key,
                f"invalid requirement {text!r}: {problem}",
                'write a PEP 508 requirement, e.g. torch==2.3.1 or pillow>=10; python_version < "3.12".',
            ) from None
        if req.url and req.url.startswith("file:"):
            raise self.fail(source, line, key, f"{req.name} @ {req.url}: a local file URL.", local_hint)
        self.lines.append(text)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines as pip reads them: a trailing backslash joins the next physical line (concatenated, as pip
    does), and runs of whitespace become one space; with the number of the first physical line."""
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        stripped = raw.rstrip()
        if stripped.endswith("\\") and not _COMMENT.search(stripped):
            buffer.append(stripped[:-1])
            continue
        buffer.append(raw)
        yield start, " ".join("".join(buffer).split())
        buffer = []
    if buffer:
        yield start, " ".join("".join(buffer).split())


# ------------------------------------------------------------------------------------------- loading


def load_config(path: Path) -> Config:
    """Parse and validate the cog.yaml at ``path``; every problem is a ConfigError naming file, line, key."""
    path = Path(os.path.abspath(path))
    shown = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{shown}: no such file.",
            f"run `cogpin init` to create one, or point at one with `-f path/to/{CONFIG_NAME}`.",
            file=str(path),
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{shown}: not UTF-8 text ({exc.reason}).", "save the file as UTF-8.", file=str(path)
        ) from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read it ({exc.strerror}).", None, file=str(path)) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
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
    if not isinstance(data, _Map):
        line = 1
        raise ConfigError(
            f"{shown}:{line}: the file must be a mapping of keys (build:, predict:, …), not {_type_name(data)}.",
            'start it like\n    build:\n      python_version: "3.12"\n    predict: "predict.py:Predictor"',
            file=str(path),
            line=line,
        )
    return _Checker(path, path.parent).check(data)


def load(file: str | None = None, start: Path | None = None) -> Config:
    """Find cog.yaml (``-f FILE``, else ./cog.yaml or the nearest parent's) and load it."""
    return load_config(find_config(start=start, file=file))


# ------------------------------------------------------------------------------------ derived views


def effective_json(config: Config) -> dict:
    """The effective config in Cog's shape, as Cog writes it in the ``run.cog.config`` image label.

    ``{"build": {"gpu", "python_version", "python_packages" | "python_requirements", "system_packages",
    "run": [{"command", "mounts"?}], "cuda"?, "cudnn"?}, "predict"?, "train"?, "image"?, "concurrency"?,
    "environment"?}``. Deprecated ``pre_install`` commands appear as the first ``run`` items; ``run:`` at the
    top level is written as ``predict``. Deterministic: same config, same dict (serialise with sort_keys).
    """
    build: dict[str, Any] = {"gpu": config.gpu, "python_version": config.python_version}
    if config.requirements.file is not None:
        build["python_requirements"] = config.requirements.file
    else:
        raw_build = config.raw.get("build") or {}
        if "python_packages" in raw_build:
            packages = raw_build.get("python_packages") or []
            build["python_packages"] = [str(p).strip() for p in packages]
    build["system_packages"] = list(config.system_packages)
    build["run"] = [_run_step_json(step) for step in config.run]
    if config.cuda is not None:
        build["cuda"] = config.cuda
    if config.cudnn is not None:
        build["cudnn"] = config.cudnn
    result: dict[str, Any] = {"build": build}
    if config.predict is not None:
        result["predict"] = config.predict
    if config.train is not None:
        result["train"] = config.train
    if config.image is not None:
        result["image"] = config.image
    if config.concurrency_max is not None:
        result["concurrency"] = {"max": config.concurrency_max}
    if config.environment:
        result["environment"] = [f"{name}={value}" for name, value in config.environment]
    return result


def _run_step_json(step: RunStep) -> dict[str, Any]:
    item: dict[str, Any] = {"command": step.command}
    if step.mounts:
        item["mounts"] = [{"type": m.type, "id": m.id, "target": m.target} for m in step.mounts]
    return item


def canonical_requirement(line: str) -> str:
    """A requirement in packaging's canonical form: normalised name and extras, sorted specifiers,
    normalised marker, no insignificant whitespace (``Torch >= 2.3 ,<3`` → ``torch<3,>=2.3``)."""
    req = Requirement(line)
    text: str = canonicalize_name(req.name)
    if req.extras:
        text += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
    if req.url:
        text += f" @ {req.url}"
        if req.marker:
            text += " "
    else:
        text += str(req.specifier)
    if req.marker:
        text += f"; {req.marker}"
    return text


def _redact(url: str) -> str:
    """A URL without credentials (``https://user:token@host/simple`` → ``https://host/simple``)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def canonical_inputs(config: Config) -> dict:
    """The build-relevant request, canonicalised: the lock's input hash and its ``[original]`` table.

    Included, because each changes what gets resolved or built:
      - ``python_version`` (as written, "3.12" or "3.12.4"), ``gpu``, ``cuda``/``cudnn`` ("" when not set):
        they choose the base image, the CUDA variant and the wheels;
      - ``requirements``: the requirement lines from python_packages or the requirements file (with its
        ``-r`` includes), each in packaging's canonical form (normalised name/extras, sorted specifiers,
        normalised markers, whitespace-insensitive), sorted and de-duplicated — order and spelling do not
        change the resolution;
      - ``index_url`` ("" when not set), ``extra_index_urls`` (kept in the order written: index priority can
        depend on it), ``find_links`` (URLs as written, local folders project-relative, never machine
        paths), ``options`` (--pre, --no-index, --only-binary=… and the like, sorted): they change where
        and what the resolver may pick. Credentials (``user:token@``) are removed from every URL: they
        differ between machines and must never reach the lock;
      - ``system_packages`` (sorted, de-duplicated: apt installs them in one step);
      - ``run``: the build.run steps in order (pre_install first), with their secret mounts: they are
        image layers;
      - ``environment``: ``NAME=value`` in the order written (set at build time, so they can affect builds);
      - ``predict``/``train`` references ("" when not set): they go into the image's config.
    Excluded: ``image`` (where to push, not what is built), ``concurrency`` (a runtime setting),
    ``python_requirements``' file name (the lock hashes the referenced files separately via
    ``Requirements.files``), comments, key order, quoting and any other formatting of cog.yaml.
    """
    req = config.requirements
    requirements = sorted({canonical_requirement(line) for line in req.lines})
    find_links = []
    for link in req.find_links:
        if _URL.match(link):
            find_links.append(_redact(link))
        else:
            find_links.append(_relative(config.root, Path(link)))
    return {
        "python_version": config.python_version,
        "gpu": config.gpu,
        "cuda": config.cuda or "",
        "cudnn": config.cudnn or "",
        "requirements": requirements,
        "index_url": _redact(req.index_url) if req.index_url else "",
        "extra_index_urls": [_redact(url) for url in req.extra_index_urls],
        "find_links": find_links,
        "options": sorted(req.options),
        "system_packages": sorted(set(config.system_packages)),
        "run": [_run_step_json(step) for step in config.run],
        "environment": [f"{name}={value}" for name, value in config.environment],
        "predict": config.predict or "",
        "train": config.train or "",
    }
