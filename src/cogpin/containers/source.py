"""Running a model from source: the environment image (everything but the project, which is mounted at
/src), the environment the runtime reads, and the predictor's schema read in a throwaway container
(cached by the project's source files and the image)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin.config import Config, runtime_env
from cogpin.containers.spec import (
    ContainerError,
    RunSpec,
    SetupFailed,
    create,
    project_mount,
    remove,
    sigterm_as_interrupt,
    start,
)
from cogpin.fsutil import atomic_write

if TYPE_CHECKING:
    from docker import DockerClient

    from cogpin.builder import BuiltImage

SCHEMA_COMMAND = ["python", "-m", "cog.command.openapi_schema"]


def project_env(config: Config) -> dict[str, str]:
    """The model's environment from cog.yaml, plus the predictor references the runtime reads."""
    return {**dict(config.environment), **runtime_env(config)}


def environment_image(config: Config, mode: str = "locked") -> BuiltImage:
    """Build (or reuse, by content identity) the environment image: everything but the project.
    ``mode`` is the lock mode (locked|frozen|relock)."""
    from cogpin.builder import BuildOptions, build_image

    opts = BuildOptions(tag=None, no_cache=False, secrets=(), progress="auto", lock_mode=mode)
    return build_image(config, opts, include_project=False)


def run_schema_command(
    client: DockerClient, spec: RunSpec, timeout: float | None = None
) -> tuple[int, str, str]:
    """``python -m cog.command.openapi_schema`` in a throwaway container of ``spec`` (always removed):
    its exit code, stdout (the schema) and stderr. The one way cogpin reads a predictor's schema."""
    spec.command = list(SCHEMA_COMMAND)
    cid = create(client, spec)
    try:
        with sigterm_as_interrupt():
            start(client, cid, spec)
            code = int(client.api.wait(cid, timeout=timeout).get("StatusCode", 1))
            out = client.api.logs(cid, stdout=True, stderr=False).decode(errors="replace")
            err = client.api.logs(cid, stdout=False, stderr=True).decode(errors="replace")
    finally:
        remove(client, cid)
    return code, out, err


_SKIP_DIRS = {"__pycache__", "node_modules", "venv", "env", "site-packages"}


def source_digest(root: Path) -> str:
    """sha256 over the project's Python files and cog.yaml (what the schema can depend on)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith((".py", ".pyi")) or name in ("cog.yaml", "cog.yml"):
                p = Path(dirpath) / name
                try:
                    data = p.read_bytes()
                except OSError:
                    continue
                h.update(str(p.relative_to(root)).encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def source_schema(client: DockerClient, image_id: str, config: Config) -> dict[str, Any]:
    """The schema of the current source: from the cache (keyed by project files + image id), or from
    ``python -m cog.command.openapi_schema`` in the environment image with the project mounted."""
    from cogpin.settings import Settings

    key = hashlib.sha256(
        json.dumps([image_id, config.predict, config.train, source_digest(config.root)]).encode()
    ).hexdigest()
    cache = Settings.from_env().cache_dir / "schemas" / f"{key}.json"
    try:
        return dict(json.loads(cache.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    spec = RunSpec(
        image=image_id,
        env=project_env(config),
        mounts=project_mount(config.root),
        working_dir="/src",
        network_mode="none",
        role="schema",
    )
    code, out, err = run_schema_command(client, spec)
    if code != 0:
        last = (err.strip().splitlines() or [f"exit code {code}"])[-1]
        raise SetupFailed(
            f"cannot read the model's inputs from {config.predict}: {last}",
            err.rstrip(),
            "fix predict.py (the full error is above); the runtime could not load the predictor.",
        )
    try:
        schema = json.loads(out)
    except ValueError:
        raise ContainerError(f"the runtime printed no schema for {config.predict}: {out[:200]!r}") from None
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(cache, json.dumps(schema), mode=0o644)
    return dict(schema)
