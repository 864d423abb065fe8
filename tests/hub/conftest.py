"""Fixtures for the hub's tests: models pushed with `cogpin push` to the dev registry, a `cogpin hub serve`
on a free port, and the official `replicate==1.0.7` client in its own venv (made from the package index).

Shared with the web pages' tests (tests/hub/test_web*.py): see /work/coord/HUB-API.md.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = Path(__file__).resolve().parent / "models"
REPLICATE_VERSION = "1.0.7"
# name -> project folder: two examples and every test model under tests/hub/models/ (each with its cog.yaml
# and cog.lock), pushed once per test session
PROJECTS = {
    "hello-world": ROOT / "examples" / "hello-world",
    "streaming": ROOT / "examples" / "streaming",
    **{p.name: p for p in sorted(MODELS.iterdir()) if (p / "cog.yaml").is_file()},
}


@dataclass(frozen=True)
class Pushed:
    ref: str  # owner/name
    version: str  # 64 hex: the manifest digest `cogpin push` printed
    image: str  # registry/owner/name@sha256:...

    @property
    def versioned(self) -> str:
        return f"{self.ref}:{self.version}"


def cogpin(
    *args: str, cwd: Path | None = None, timeout: float = 900, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cogpin", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def dev_registry() -> str:
    r = subprocess.run(
        [str(ROOT / "scripts" / "dev-env"), "status", "--json"], capture_output=True, text=True
    )
    info = json.loads(r.stdout or "{}")
    if not info.get("registry_up"):
        pytest.fail("the dev registry is not up: run ./run env up")
    return str(info["registry"])


def push(project: Path, target: str) -> Pushed:
    r = cogpin("push", target, cwd=project)
    assert r.returncode == 0, f"cogpin push {target} failed:\n{r.stdout}\n{r.stderr}"
    pinned = r.stdout.strip().splitlines()[-1]
    digest = pinned.split("@sha256:", 1)[1]
    registry, ref = target.split("/", 1)
    assert f"Version: {ref}:{digest}" in r.stderr, r.stderr
    return Pushed(ref, digest, f"{registry}/{ref}@sha256:{digest}")


@pytest.fixture(scope="session")
def registry() -> str:
    return dev_registry()


@pytest.fixture(scope="session")
def hub_owner() -> str:
    return f"hubt{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def hub_models(registry: str, hub_owner: str) -> Any:
    """Every project of PROJECTS pushed as REGISTRY/hubt<random>/<name>; name -> Pushed."""
    import docker

    pushed = {name: push(path, f"{registry}/{hub_owner}/{name}") for name, path in PROJECTS.items()}
    yield pushed
    client = docker.from_env()
    for name in PROJECTS:
        # out of the registry too (it outlives test runs): another run's hub must not find this run's
        # repositories holding its version ids
        try:
            httpx.delete(
                f"http://{registry}/v2/{hub_owner}/{name}/manifests/sha256:{pushed[name].version}", timeout=10
            )
        except httpx.HTTPError:
            pass
        for ref in (f"{registry}/{hub_owner}/{name}:latest", pushed[name].image):
            try:
                # untag only: never force, never prune parents (another session may be building on them)
                client.images.remove(ref, noprune=True)
            except docker.errors.DockerException:
                pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    """`cogpin hub serve` in a subprocess, on a free port, with its own data dir and one token."""

    def __init__(self, data: Path, registry: str, *extra: str) -> None:
        self.data = data
        self.registry = registry
        self.extra = extra
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        data.mkdir(parents=True, exist_ok=True)
        r = cogpin("hub", "token", "create", "--data", str(data), "--name", "tests")
        assert r.returncode == 0, r.stderr
        self.token = r.stdout.strip()
        self.log = data / "hub.log"

    def start(self) -> HubProcess:
        args = [
            sys.executable,
            "-m",
            "cogpin",
            "hub",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(self.data),
        ]
        args += ["--registry", self.registry, *self.extra]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the hub exited:\n{self.log.read_text()}"
            try:
                r = httpx.get(f"{self.url}/v1/account", headers=self.headers, timeout=2)
                if r.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the hub did not come up:\n{self.log.read_text()}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def kill(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def env(self) -> dict[str, str]:
        return {
            "REPLICATE_BASE_URL": self.url,
            "REPLICATE_API_TOKEN": self.token,
            "REPLICATE_POLL_INTERVAL": "0.1",
        }


def _stop_containers_of(data: Path) -> None:
    import hashlib

    import docker

    hub_id = hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:16]
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": f"dev.cogpin.hub={hub_id}"}):
        c.remove(force=True)


@pytest.fixture(scope="session")
def hub_server(hub_models: Any, registry: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A hub on a free port serving the pushed models; `.url`, `.token`, `.data`, `.stop()`, `.start()`."""
    data = tmp_path_factory.mktemp("hub-data")
    hub = HubProcess(data, registry).start()
    yield hub
    hub.stop()
    _stop_containers_of(data)


@pytest.fixture
def own_hub(registry: str, tmp_path: Path) -> Any:
    """A hub of the test's own (for tests that kill or restart it)."""
    made: list[HubProcess] = []

    def make(*extra: str) -> HubProcess:
        h = HubProcess(tmp_path / f"hub-{len(made)}", registry, *extra)
        made.append(h)
        return h

    yield make
    for h in made:
        if h.proc and h.proc.poll() is None:
            h.proc.kill()
            h.proc.wait(10)
        _stop_containers_of(h.data)


@pytest.fixture(scope="session")
def replicate_venv() -> Path:
    """A venv with the official client, `pip install replicate==1.0.7` from the package index (kept
    between runs under ~/.cache/cogpin-test)."""
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cogpin-test"
    venv = home / f"replicate-{REPLICATE_VERSION}"
    py = venv / "bin" / "python"
    ok = py.exists() and subprocess.run(
        [str(py), "-c", f"import replicate, importlib.metadata as m; assert m.version('replicate') == '{REPLICATE_VERSION}'"],
        capture_output=True,
    ).returncode == 0  # fmt: skip
    if not ok:
        shutil.rmtree(venv, ignore_errors=True)
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        r = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", f"replicate=={REPLICATE_VERSION}"],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, f"pip install replicate=={REPLICATE_VERSION} failed:\n{r.stderr}"
    return py


def run_client(
    py: Path, hub: HubProcess, code: str, *, env: dict[str, str] | None = None, timeout: float = 300
) -> Any:
    """Run a snippet with the official client against the hub; it sets `result`, which comes back as JSON."""
    prog = "import json, replicate\n" + textwrap.dedent(code) + "\nprint('@@RESULT@@' + json.dumps(result))\n"
    full_env = {**os.environ, **hub.env(), **(env or {})}
    r = subprocess.run([str(py), "-c", prog], capture_output=True, text=True, timeout=timeout, env=full_env)
    assert r.returncode == 0, f"client snippet failed:\n{r.stdout}\n{r.stderr}"
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("@@RESULT@@")][-1]
    return json.loads(line[len("@@RESULT@@") :])


@pytest.fixture
def client(replicate_venv: Path, hub_server: HubProcess) -> Any:
    """`client(code, **kw)`: run a snippet with the official client against the session hub."""

    def run(code: str, **kw: Any) -> Any:
        return run_client(replicate_venv, hub_server, code, **kw)

    return run


@pytest.fixture(scope="session")
def coglet_model(
    hub_models: Any, registry: str, hub_owner: str, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """hello-world on Replicate's own runtime (cog==0.23.1, the Rust coglet), pushed as OWNER/coglet-hello."""
    import docker

    from tests.hub.coglet_image import build_and_push

    schema = json.loads(
        docker.from_env().images.get(hub_models["hello-world"].image).labels["run.cog.openapi_schema"]
    )
    ref = f"{hub_owner}/coglet-hello"
    version, image = build_and_push(registry, ref, tmp_path_factory.mktemp("coglet"), schema)
    yield Pushed(ref, version, image)
    client = docker.from_env()
    for r in (f"{registry}/{ref}:latest", image):
        try:
            client.images.remove(r, noprune=True)  # untag only (see hub_models)
        except docker.errors.DockerException:
            pass
