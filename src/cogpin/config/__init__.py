"""``cog.yaml``: find the file and load it into a :class:`Config` (pure apart from reading files).

The parts: ``model`` (the Config and its schema's constants, ConfigError, Cog's label view),
``yaml_lines`` (YAML that remembers lines), ``check`` (the schema, one method per key) and
``requirements`` (the pip requirements dialect). Every error is a :class:`ConfigError` whose message
names the file, the line and the key (``cog.yaml:3: build.python_version: …``) and whose hint says the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from cogpin.config.check import Checker
from cogpin.config.model import (
    BUILD_KEYS,
    CONFIG_NAME,
    DEFAULT_PYTHON_VERSION,
    MAX_PYTHON_MINOR,
    MIN_PYTHON_MINOR,
    Config,
    ConfigError,
    Requirements,
    RunStep,
    SecretMount,
    effective_json,
    runtime_env,
)
from cogpin.config.requirements import canonical_requirement
from cogpin.config.yaml_lines import parse
from cogpin.fsutil import display_path

__all__ = [
    "BUILD_KEYS",
    "CONFIG_NAME",
    "DEFAULT_PYTHON_VERSION",
    "MAX_PYTHON_MINOR",
    "MIN_PYTHON_MINOR",
    "Config",
    "ConfigError",
    "Requirements",
    "RunStep",
    "SecretMount",
    "canonical_requirement",
    "effective_json",
    "find_config",
    "load",
    "load_config",
    "runtime_env",
]


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
                f"{display_path(candidate)}: no such file (given with -f/--file).",
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
    shown = [display_path(p) for p in looked]
    if len(shown) > 8:  # a very deep folder: the nearest ones and the root say enough
        shown = [*shown[:5], f"… ({len(shown) - 7} more)", *shown[-2:]]
    raise ConfigError(
        f"no {CONFIG_NAME} found in {display_path(folder)} or any parent folder (looked in: {', '.join(shown)}).",
        f"run `cogpin init` to create a starter project here, or point at one with `-f path/to/{CONFIG_NAME}`.",
    )


def load_config(path: Path) -> Config:
    """Parse and validate the cog.yaml at ``path``; every problem is a ConfigError naming file, line, key."""
    path = Path(os.path.abspath(path))
    shown = display_path(path)
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
    data = parse(text, path, shown)
    return Checker(path, path.parent).check(data)


def load(file: str | None = None, start: Path | None = None) -> Config:
    """Find cog.yaml (``-f FILE``, else ./cog.yaml or the nearest parent's) and load it."""
    return load_config(find_config(start=start, file=file))
