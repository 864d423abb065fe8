"""Shared test setup.

Tests marked ``engine`` need the real Docker Engine and the local registry that ``scripts/dev-env up``
provides. They are never skipped: when the engine is missing the session fails at once, in CI and
locally, with the command that fixes it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV_ENV = ROOT / "scripts" / "dev-env"


def _engine_error() -> str | None:
    try:
        import docker

        docker.from_env(timeout=10).ping()
    except Exception as e:  # noqa: BLE001 - any failure means "no engine"
        return f"{type(e).__name__}: {e}"
    return None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    if not any(item.get_closest_marker("engine") for item in items):
        return
    err = _engine_error()
    if err:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise pytest.UsageError(
            f"tests marked 'engine' need a Docker Engine at {where} and none answers ({err}).\n"
            "Run `scripts/dev-env up` first (CI does, through `./run test`), or deselect them with "
            "-m 'not engine'. They are never skipped."
        )


@pytest.fixture(scope="session")
def dev_env() -> dict:
    """`scripts/dev-env status --json`: engine, registry address, mirror, base images."""
    out = subprocess.run([str(DEV_ENV), "status", "--json"], capture_output=True, text=True, check=False)
    try:
        status = json.loads(out.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"scripts/dev-env status --json printed no JSON: {out.stdout!r} {out.stderr!r}")
    if not (status.get("engine_up") and status.get("registry_up")):
        pytest.fail(f"the development environment is not up ({status}); run scripts/dev-env up")
    return status


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Builds leave untagged intermediate images (multi-stage stages, the image before its labels were
    added); the tests' own tagged images are removed by their fixtures. Drop the dangling ones so that
    repeated runs on a shared machine do not fill its disk (they are unreferenced by definition)."""
    if not any(item.get_closest_marker("engine") for item in session.items):
        return
    try:
        import docker

        docker.from_env(timeout=120).images.prune(filters={"dangling": True})
    except Exception:  # noqa: BLE001 - tidying up must never fail a run
        pass
