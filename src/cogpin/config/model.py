"""The parsed ``cog.yaml``: :class:`Config` and its parts, the schema's constants, :class:`ConfigError`,
and :func:`effective_json` (the config in Cog's own shape, as the ``run.cog.config`` label carries it).

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogpin.errors import CogpinError

CONFIG_NAME = "cog.yaml"

# Python versions cogpin builds for (minor versions of CPython 3).
MIN_PYTHON_MINOR = 10  # Cog's minimum (pkg/config: MinimumMinorPythonVersion)
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
    # local artifacts named as requirements (a wheel, an sdist .tar.gz/.zip, a package folder), as
    # project-relative POSIX paths in file order: the lock hashes them (cogpin.lock.local).
    local_artifacts: tuple[str, ...] = ()


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
    build["run"] = [run_step_json(step) for step in config.run]
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


def run_step_json(step: RunStep) -> dict[str, Any]:
    item: dict[str, Any] = {"command": step.command}
    if step.mounts:
        item["mounts"] = [{"type": m.type, "id": m.id, "target": m.target} for m in step.mounts]
    return item


def runtime_env(config: Config) -> dict[str, str]:
    """The environment the in-image runtime reads to find the predictor (the image's ``ENV``, or the
    container's environment when the project is mounted): ``COG_PREDICT_TYPE_STUB``,
    ``COG_TRAIN_TYPE_STUB``, ``COG_MAX_CONCURRENCY``, each only when cog.yaml sets it."""
    env: dict[str, str] = {}
    if config.predict:
        env["COG_PREDICT_TYPE_STUB"] = config.predict
    if config.train:
        env["COG_TRAIN_TYPE_STUB"] = config.train
    if config.concurrency_max is not None:
        env["COG_MAX_CONCURRENCY"] = str(int(config.concurrency_max))
    return env
