"""The Docker Engine, through the Docker SDK for Python. Honours DOCKER_HOST (tcp://, unix://, ssh://)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from cogpin.errors import CogpinError

if TYPE_CHECKING:
    import docker


class EngineUnavailable(CogpinError):
    pass


@lru_cache(maxsize=1)
def client() -> docker.DockerClient:
    """A connected client, or an error that says where it looked and how to get an engine."""
    import docker
    from docker.errors import DockerException

    from cogpin.settings import docker_host

    where = docker_host() or "unix:///var/run/docker.sock"
    try:
        c = docker.from_env(timeout=600)
        c.ping()
    except DockerException as e:
        raise EngineUnavailable(
            f"cannot reach a Docker Engine at {where}: {_short(e)}",
            "start one (`scripts/dev-env up` in a cogpin checkout, or your system's docker service), "
            "or point DOCKER_HOST at a running engine.",
        ) from e
    return c


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__


# ---------------------------------------------------------------------------------------------------------
# Building


class BuildFailed(CogpinError):
    pass


class NoBuildKit(CogpinError):
    pass


def engine_version() -> str:
    return str(client().version().get("Version", ""))


def find_buildkit_cli() -> str:
    """A docker CLI that builds with BuildKit (``RUN --mount=type=secret``, ``--secret``): one with the
    buildx plugin, or a client older than 23 (BuildKit built in, ``DOCKER_BUILDKIT=1``). ``COGPIN_DOCKER_CLI``
    names one explicitly."""
    import shutil
    import subprocess

    candidates: list[str] = []
    from cogpin.settings import docker_cli

    explicit = docker_cli()
    for c in (
        (explicit,) if explicit else ("/usr/bin/docker", shutil.which("docker"), "/usr/local/bin/docker")
    ):
        if c and c not in candidates and os.access(c, os.X_OK):
            candidates.append(c)
    seen: list[str] = []
    for cli in candidates:
        try:
            out = subprocess.run(
                [cli, "version", "--format", "{{.Client.Version}}"],
                capture_output=True,
                text=True,
                timeout=20,
            )
        except OSError:
            continue
        version = out.stdout.strip()
        if not version:
            continue
        seen.append(f"{cli} ({version})")
        try:
            major = int(version.split(".")[0])
        except ValueError:
            major = 99
        if major < 23:
            return cli
        buildx = subprocess.run([cli, "buildx", "version"], capture_output=True, text=True, timeout=20)
        if buildx.returncode == 0:
            return cli
    engine = ""
    try:
        version = engine_version()
        if int(version.split(".")[0]) < 18:
            engine = f" (engine {version} is older than 18.09 and has no BuildKit)"
    except Exception:  # noqa: BLE001
        pass
    raise NoBuildKit(
        "build.run steps with secret mounts need BuildKit, and no docker CLI here can build with it"
        f"{engine}; looked at: {', '.join(seen) or 'no docker CLI found'}",
        "install the buildx plugin for your docker CLI, or a docker CLI < 23 (Debian's docker.io), or point "
        "COGPIN_DOCKER_CLI at one; or drop the mounts from build.run.",
    )
