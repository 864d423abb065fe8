"""Model instances: the small interface the hub runs versions through, and its Docker Engine backend.

``Runner`` is all the hub knows: start a version (returns when its Cog HTTP API is READY, or raises
``SetupFailed``), call it over HTTP, look at it (running? exit code, OOM kill, logs), stop it, and list what
runs. An ``Instance`` is addressed only by the URL the backend gives, so a cluster backend can put it
anywhere.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from cogpin import labels
from cogpin.settings import docker_host

HUB_LABEL, VERSION_LABEL, MODEL_LABEL = labels.HUB, labels.HUB_VERSION, labels.HUB_MODEL


class SetupFailed(Exception):
    def __init__(self, reason: str, logs: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.logs = logs


@dataclass
class Instance:
    id: str
    model: str
    version: str
    url: str
    timings: dict[str, float] = field(default_factory=dict)  # pull / start / ready, seconds


@dataclass
class InstanceState:
    running: bool
    exit_code: int | None = None
    oom_killed: bool = False
    logs: str = ""

    def describe(self) -> str:
        if self.running:
            return "the model container is still running"
        why = "was killed: out of memory (OOM)" if self.oom_killed else f"exited with code {self.exit_code}"
        return f"the model container {why}"


class Runner(Protocol):
    async def start(self, model: str, version: str, *, gpu: bool) -> Instance: ...
    async def call(
        self, inst: Instance, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response: ...  # fmt: skip
    async def state(self, inst: Instance) -> InstanceState: ...
    async def stop(self, inst: Instance) -> None: ...
    async def list(self) -> list[Instance]: ...
    def has_gpu(self) -> bool: ...
    async def close(self) -> None: ...


class DockerRunner:
    """Runs ``REGISTRY/owner/name@sha256:<version>`` on a Docker Engine, its port 5000 published on the
    engine's host (loopback for a local engine)."""

    def __init__(self, registry: str, hub_id: str, *, setup_timeout: float = 900.0) -> None:
        import docker

        self.registry = registry
        self.hub_id = hub_id
        self.setup_timeout = setup_timeout
        self.docker = docker.from_env(timeout=600)
        host = urllib.parse.urlsplit(docker_host()).hostname
        self.host = host if host and not docker_host().startswith("unix") else "127.0.0.1"
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=5), limits=httpx.Limits(max_connections=200)
        )
        self._gpu: bool | None = None

    def image_ref(self, model: str, version: str) -> str:
        return f"{self.registry}/{model}@sha256:{version}"

    def has_gpu(self) -> bool:
        if self._gpu is None:
            try:
                self._gpu = "nvidia" in (self.docker.info().get("Runtimes") or {})
            except Exception:  # noqa: BLE001
                self._gpu = False
        return self._gpu

    async def start(self, model: str, version: str, *, gpu: bool) -> Instance:
        import docker.errors
        from docker.types import DeviceRequest

        ref = self.image_ref(model, version)
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        try:
            await asyncio.to_thread(self.docker.images.get, ref)
        except docker.errors.ImageNotFound:
            try:
                await asyncio.to_thread(self.docker.images.pull, ref)
            except docker.errors.APIError as e:
                raise SetupFailed(f"could not pull {ref}: {e.explanation or e}") from None
        t1 = time.monotonic()
        timings["pull"] = t1 - t0
        bind = "127.0.0.1" if self.host == "127.0.0.1" else "0.0.0.0"
        kwargs: dict[str, Any] = {}
        if gpu:
            kwargs["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
        try:
            c = await asyncio.to_thread(
                self.docker.containers.run,
                ref,
                detach=True,
                ports={"5000/tcp": (bind, None)},
                labels={HUB_LABEL: self.hub_id, VERSION_LABEL: version, MODEL_LABEL: model},
                name=f"cogpin-hub-{model.replace('/', '-')[:40]}-{version[:12]}-{os.urandom(3).hex()}",
                **kwargs,
            )
            await asyncio.to_thread(c.reload)
        except docker.errors.APIError as e:
            raise SetupFailed(f"could not start {ref}: {e.explanation or e}") from None
        port = c.attrs["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"]
        inst = Instance(c.id, model, version, f"http://{self.host}:{port}", timings)
        timings["start"] = time.monotonic() - t1
        try:
            await self._wait_ready(inst)
        except BaseException:
            await self.stop(inst)
            raise
        timings["ready"] = time.monotonic() - t1 - timings["start"]
        return inst

    async def _wait_ready(self, inst: Instance) -> None:
        deadline = time.monotonic() + self.setup_timeout
        delay = 0.05
        while True:
            try:
                r = await self.http.get(f"{inst.url}/health-check", timeout=5)
                body = r.json() if r.status_code == 200 else {}
                status = body.get("status")
                if status in ("READY", "BUSY"):
                    return
                if status in ("SETUP_FAILED", "DEFUNCT"):
                    setup = body.get("setup") or {}
                    raise SetupFailed("the model's setup failed", str(setup.get("logs") or ""))
            except (httpx.HTTPError, ValueError):
                pass
            st = await self.state(inst)
            if not st.running:
                raise SetupFailed(f"{st.describe()} before it was ready", st.logs)
            if time.monotonic() > deadline:
                raise SetupFailed(f"the model was not ready after {self.setup_timeout:.0f} s", st.logs)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    async def call(
        self, inst: Instance, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:  # fmt: skip
        return await self.http.request(
            method, f"{inst.url}{path}", json=json, headers=headers, timeout=timeout
        )

    async def state(self, inst: Instance) -> InstanceState:
        import docker.errors

        try:
            c = await asyncio.to_thread(self.docker.containers.get, inst.id)
        except docker.errors.NotFound:
            return InstanceState(False, None, False, "")
        st = c.attrs.get("State") or {}
        running = bool(st.get("Running"))
        logs = ""
        if not running:
            raw = await asyncio.to_thread(c.logs, tail=200)
            logs = raw.decode(errors="replace")
        return InstanceState(running, st.get("ExitCode"), bool(st.get("OOMKilled")), logs)

    async def stop(self, inst: Instance) -> None:
        import docker.errors

        try:
            c = await asyncio.to_thread(self.docker.containers.get, inst.id)
            await asyncio.to_thread(c.remove, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if "already in progress" not in str(e):
                raise

    async def list(self) -> list[Instance]:
        cs = await asyncio.to_thread(
            self.docker.containers.list, all=True, filters={"label": f"{HUB_LABEL}={self.hub_id}"}
        )
        out = []
        for c in cs:
            ports = (c.attrs.get("NetworkSettings") or {}).get("Ports") or {}
            binding = (ports.get("5000/tcp") or [{}])[0].get("HostPort")
            url = f"http://{self.host}:{binding}" if binding else ""
            out.append(Instance(c.id, c.labels.get(MODEL_LABEL, ""), c.labels.get(VERSION_LABEL, ""), url))
        return out

    async def close(self) -> None:
        await self.http.aclose()
        self.docker.close()
