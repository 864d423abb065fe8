"""What several commands share: the ``--frozen``/``--relock`` lock mode, ``-e KEY=VALUE``, printing the
config's warnings, and the container spec for running the model from source (``run``, ``serve``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from cogpin.errors import CogpinError

if TYPE_CHECKING:
    from cogpin.config import Config
    from cogpin.containers.spec import RunSpec


def lock_mode(frozen: bool, relock: bool) -> str:
    if frozen and relock:
        raise CogpinError("--frozen and --relock exclude each other", "give one of them.")
    return "frozen" if frozen else "relock" if relock else "locked"


def parse_env(envs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``-e KEY=VALUE`` (or ``-e KEY`` to pass the host's value, like docker)."""
    out: dict[str, str] = {}
    for item in envs:
        key, sep, value = item.partition("=")
        if not key or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise CogpinError(f"-e {item!r}: not KEY=VALUE", "e.g. -e HF_HOME=/src/.hf")
        if not sep:
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


def note(message: str) -> None:
    """A line for the user on stderr (stdout is for results)."""
    click.echo(message, err=True)


def load_config(config_file: str | None) -> Config:
    """cog.yaml (``-f FILE``, else ./cog.yaml or the nearest parent's), its warnings printed."""
    from cogpin.config import load

    config = load(config_file)
    for w in config.warnings:
        note(f"warning: {w}")
    return config


def source_spec(config: Config, mode: str, command: list[str] | None, role: str = "predict") -> RunSpec:
    """The container that runs the model from source: the environment image (built or reused, per the
    lock ``mode``), the project mounted at /src, cog.yaml's environment. The caller chooses the GPUs."""
    from cogpin.containers import source
    from cogpin.containers.spec import RunSpec, project_mount

    built = source.environment_image(config, mode)
    return RunSpec(
        image=built.id,
        command=command,
        env=source.project_env(config),
        mounts=project_mount(config.root),
        working_dir="/src",
        role=role,
    )
