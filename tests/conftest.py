"""Shared test setup.

Tests marked ``engine`` need the real Docker Engine and the local registry that ``scripts/dev-env up``
provides. They are never skipped: when the engine is missing the session fails at once, in CI and
locally, with the command that fixes it.

Tests that start the in-image runtime's HTTP server (through ``tests/runtime/cogrt.py``) are marked
``runtime`` here, so the fastest loop (``./run quick``) can leave them out; ``./run unit`` runs them.
"""

from __future__ import annotations

import inspect
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


RUNTIME_TESTS = Path(__file__).resolve().parent / "runtime"
_SERVER_WORDS = ("CogServer(", "module_server(", "serve(")


def _starts_a_server(item: pytest.Item) -> bool:
    """A runtime test that starts the runtime's server: it asks for ``serve`` (or a fixture that starts
    one), or starts one itself."""
    if RUNTIME_TESTS not in Path(str(item.path)).parents:
        return False
    if "serve" in getattr(item, "fixturenames", ()):
        return True
    funcs = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    for defs in info.name2fixturedefs.values() if info is not None else ():
        funcs += [d.func for d in defs]
    for func in funcs:
        try:
            source = inspect.getsource(func) if func is not None else ""
        except (OSError, TypeError):
            continue
        if any(word in source for word in _SERVER_WORDS):
            return True
    return False


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    for item in items:
        if _starts_a_server(item):
            item.add_marker(pytest.mark.runtime)
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
    repeated runs on a shared machine do not fill its disk (they are unreferenced by definition). Only those
    older than half an hour: a build running in another session at this moment stands on untagged
    intermediate images of its own, and pruning them fails it ("No such image", "unknown parent image")."""
    if not any(item.get_closest_marker("engine") for item in session.items):
        return
    try:
        import docker

        docker.from_env(timeout=120).images.prune(filters={"dangling": True, "until": "30m"})
    except Exception:  # noqa: BLE001 - tidying up must never fail a run
        pass
