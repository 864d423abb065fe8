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

    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
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
