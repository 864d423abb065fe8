"""The hub's cluster backend: each version in use is a Docker Swarm service, scaled by the hub.

``SwarmRunner`` speaks the same ``Runner`` interface as ``DockerRunner`` (start a version, call it, look at
it, stop it, list), plus two calls for runners that scale (``scales = True``):

- ``route(inst, prediction_id, slots)`` waits for a replica that is READY (its own ``/health-check``, polled
  by the hub, not only Swarm's health check) and has a free slot, and returns it as an ``Instance`` of its
  own (the task id, the URL of its port 5000 published on its node); ``release(prediction_id)`` frees it.
- The number of replicas follows ``ceil((queued + running) / slots)`` between ``min_replicas`` (0: the
  service is removed after the idle timeout, like a container) and ``max_replicas``; it grows at once and
  shrinks only when the version is quiet (no prediction running: Swarm, not the hub, picks which task goes).

A service: ``REGISTRY/owner/name@sha256:<id>`` (pulled by each node from the registry), replicated, port 5000
published in host mode on a port of the node's choosing, CPU/memory limits, a health check on
``/health-check``, restart on failure, spread over the nodes; ``gpu: true`` reserves the generic resource
``NVIDIA-GPU`` (nodes advertise it with dockerd's ``--node-generic-resource``). Where the hub reaches a
node's published ports: its label ``dev.cogpin.addr`` if set, else the node's address as Swarm reports it.

This module and ``swarm_api.py`` (the service spec and the Swarm calls the SDK lacks) are the only ones that
know about Swarm; the pure decision (how many replicas, which replica) is in ``scaling.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from cogpin.hub.runner import HUB_LABEL, MODEL_LABEL, VERSION_LABEL, Instance, InstanceState, SetupFailed
from cogpin.hub.scaling import Replica, ReplicaState, ServiceState, pick_replica, wanted_replicas
from cogpin.hub.swarm_api import GONE, any_gpu, create_service, set_replicas, task_logs
from cogpin.labels import NODE_ADDR, NODE_NAME

log = logging.getLogger("cogpin.hub.swarm")
List = list  # `list` is a method name in SwarmRunner


class SwarmRunner:
    """Versions as Swarm services on the engine's swarm (this engine must be a manager)."""

    scales = True

    def __init__(
        self,
        registry: str,
        hub_id: str,
        *,
        min_replicas: int = 0,
        max_replicas: int = 4,
        cpus: float | None = None,
        memory: int | None = None,
        setup_timeout: float = 900.0,
        scale_down_after: float = 20.0,
    ) -> None:
        import docker

        self.registry = registry
        self.hub_id = hub_id
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.cpus = cpus
        self.memory = memory
        self.setup_timeout = setup_timeout
        self.scale_down_after = scale_down_after
        self.docker = docker.from_env(timeout=120)
        info = self.docker.info().get("Swarm") or {}
        if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
            raise RuntimeError(
                "this Docker Engine is not a swarm manager (docker swarm init, or scripts/dev-env cluster up)"
            )
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=5), limits=httpx.Limits(max_connections=400)
        )
        self.services: dict[str, ServiceState] = {}  # service id -> state
        self._nodes: dict[str, tuple[str, str]] = {}  # node id -> (address, name)
        self._nodes_at = 0.0

    def image_ref(self, model: str, version: str) -> str:
        return f"{self.registry}/{model}@sha256:{version}"

    def has_gpu(self) -> bool:
        return any_gpu(self.docker)

    # ------------------------------------------------------------------------------------ services
    def _create(self, model: str, version: str, gpu: bool, replicas: int) -> Any:
        labels = {HUB_LABEL: self.hub_id, VERSION_LABEL: version, MODEL_LABEL: model}
        slug = model.replace("/", "-")[:30]
        return create_service(
            self.docker, self.image_ref(model, version), f"cogpin-{self.hub_id[:8]}-{slug}-{version[:12]}",
            labels, gpu=gpu, replicas=replicas, cpus=self.cpus, memory=self.memory,
            setup_timeout=self.setup_timeout,
        )  # fmt: skip

    def _find(self, version: str) -> Any:
        found = self.docker.services.list(
            filters={"label": [f"{HUB_LABEL}={self.hub_id}", f"{VERSION_LABEL}={version}"]}
        )
        return found[0] if found else None

    async def start(self, model: str, version: str, *, gpu: bool) -> Instance:
        import docker.errors

        t0 = time.monotonic()
        try:
            svc_obj = await asyncio.to_thread(self._find, version)
            if svc_obj is None:
                n = max(1, self.min_replicas)
                svc_obj = await asyncio.to_thread(self._create, model, version, gpu, n)
        except docker.errors.APIError as e:
            raise SetupFailed(f"could not create the swarm service for {self.image_ref(model, version)}: "
                              f"{e.explanation or e}") from None  # fmt: skip
        svc = self.services.get(svc_obj.id)
        if svc is None:
            svc = self.services[svc_obj.id] = ServiceState(svc_obj.id, svc_obj.name, model, version)
            spec_mode = (svc_obj.attrs.get("Spec") or {}).get("Mode") or {}
            svc.wanted = int((spec_mode.get("Replicated") or {}).get("Replicas") or 0)
        if svc.wanted < 1:
            await self._scale(svc, max(1, self.min_replicas))
        if svc.monitor is None or svc.monitor.done():
            svc.monitor = asyncio.create_task(self._monitor(svc))
        deadline = t0 + self.setup_timeout
        while not any(r.ready and not r.dead for r in svc.replicas.values()):
            if svc.setup_error:
                err = svc.setup_error
                await self._remove(svc)
                raise err
            if time.monotonic() > deadline:
                await self._remove(svc)
                raise SetupFailed(f"no replica of the model was ready after {self.setup_timeout:.0f} s")
            svc.changed.clear()
            try:
                await asyncio.wait_for(svc.changed.wait(), timeout=0.5)
            except asyncio.TimeoutError:
                pass
        inst = Instance(svc.id, model, version, f"swarm://{svc.name}", {"ready": time.monotonic() - t0})
        return inst

    async def _scale(self, svc: ServiceState, n: int) -> None:
        import docker.errors

        if n == svc.wanted:
            return
        log.info("%s:%s: %d -> %d replicas", svc.model, svc.version[:12], svc.wanted, n)
        svc.wanted = n
        try:
            await asyncio.to_thread(set_replicas, self.docker, svc.id, n)
        except docker.errors.APIError as e:
            log.warning("scaling %s to %d failed: %s", svc.name, n, e)

    async def _remove(self, svc: ServiceState) -> None:
        import docker.errors

        self.services.pop(svc.id, None)
        if svc.monitor and svc.monitor is not asyncio.current_task():
            svc.monitor.cancel()
        try:
            obj = await asyncio.to_thread(self.docker.services.get, svc.id)
            await asyncio.to_thread(obj.remove)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            log.warning("removing %s failed: %s", svc.name, e)
        for r in svc.replicas.values():
            r.dead = True

    # ------------------------------------------------------------------------------------ watching
    def _node(self, node_id: str) -> tuple[str, str]:
        if node_id not in self._nodes or time.monotonic() - self._nodes_at > 30:
            for n in self.docker.nodes.list():
                labels = (n.attrs.get("Spec") or {}).get("Labels") or {}
                addr = labels.get(NODE_ADDR) or (n.attrs.get("Status") or {}).get("Addr") or "127.0.0.1"
                name = labels.get(NODE_NAME) or (n.attrs.get("Description") or {}).get("Hostname", "")
                self._nodes[n.id] = (addr, name)
            self._nodes_at = time.monotonic()
        return self._nodes.get(node_id, ("127.0.0.1", "?"))

    def _tasks(self, svc: ServiceState) -> list[dict[str, Any]]:
        tasks = self.docker.api.tasks(filters={"service": svc.id})
        for t in tasks:
            t["_node"] = self._node(t.get("NodeID") or "") if t.get("NodeID") else ("", "")
        return list(tasks)

    async def _monitor(self, svc: ServiceState) -> None:
        """Every half second: the service's tasks (new replicas, gone ones), the READY state of new ones
        (their /health-check), and the number of replicas the load wants."""
        while svc.id in self.services:
            try:
                await self._observe(svc)
                await self._autoscale(svc)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the engine may be busy; try again
                log.exception("watching %s", svc.name)
            await asyncio.sleep(0.5)

    async def _observe(self, svc: ServiceState) -> None:
        tasks = await asyncio.to_thread(self._tasks, svc)
        seen = set()
        for t in tasks:
            tid, st = t["ID"], t.get("Status") or {}
            state, desired = st.get("State"), t.get("DesiredState")
            if state in GONE or desired in ("shutdown", "remove"):
                r = svc.replicas.get(tid)
                if r and not r.dead:
                    r.dead = True
                    svc.kick()
                if state in ("failed", "rejected") and tid not in svc.failed_tasks:
                    svc.failed_tasks.add(tid)
                continue
            if state != "running":
                continue
            seen.add(tid)
            if tid not in svc.replicas:
                ports = (st.get("PortStatus") or {}).get("Ports") or []
                port = next((p.get("PublishedPort") for p in ports if p.get("TargetPort") == 5000), None)
                if not port:
                    continue
                addr, name = t["_node"]
                svc.replicas[tid] = Replica(tid, t.get("NodeID", ""), name, f"http://{addr}:{port}")
        for tid, r in list(svc.replicas.items()):
            if tid not in seen and not r.dead:
                r.dead = True
                svc.kick()
            if r.dead and r.active == 0:
                svc.replicas.pop(tid, None)
        await asyncio.gather(
            *(self._probe(svc, r) for r in svc.replicas.values() if not r.ready and not r.dead)
        )
        if not svc.ever_ready and len(svc.failed_tasks) >= 3 and not svc.setup_error:
            t = next((t for t in tasks if t["ID"] in svc.failed_tasks), {})
            err = (t.get("Status") or {}).get("Err") or "the replicas kept failing"
            logs = await asyncio.to_thread(task_logs, self.docker, t.get("ID", ""))
            svc.setup_error = SetupFailed(f"the model's replicas failed to start: {err}", logs)
            svc.kick()

    async def _probe(self, svc: ServiceState, r: Replica) -> None:
        try:
            resp = await self.http.get(f"{r.url}/health-check", timeout=2)
            body = resp.json() if resp.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return
        status = body.get("status")
        if status in ("READY", "BUSY"):
            r.ready = True
            svc.ever_ready = True
            now = time.monotonic()
            if svc.first_queued is not None and len([x for x in svc.replicas.values() if x.ready]) > 1:
                svc.scale_ups.append(now - svc.first_queued)
                svc.first_queued = None
            log.info(
                "%s:%s: replica %s on %s READY (%s)",
                svc.model,
                svc.version[:12],
                r.task[:12],
                r.node_name,
                r.url,
            )
            svc.kick()
        elif status in ("SETUP_FAILED", "DEFUNCT") and not svc.setup_error and not svc.ever_ready:
            setup = body.get("setup") or {}
            svc.setup_error = SetupFailed("the model's setup failed", str(setup.get("logs") or ""))
            svc.kick()

    async def _autoscale(self, svc: ServiceState) -> None:
        want = wanted_replicas(svc.load(), svc.slots, self.min_replicas, self.max_replicas)
        now = time.monotonic()
        if svc.load() > 0:
            svc.quiet_since = now
        if want > svc.wanted:
            if svc.first_queued is None and svc.waiting:
                svc.first_queued = now
            await self._scale(svc, want)
        elif want < svc.wanted and not svc.inflight and now - svc.quiet_since > self.scale_down_after:
            svc.resizing = True  # nothing is routed while Swarm picks the tasks to stop
            try:
                await self._scale(svc, want)
                for _ in range(20):
                    await self._observe(svc)
                    if sum(1 for r in svc.replicas.values() if not r.dead) <= want:
                        break
                    await asyncio.sleep(0.25)
            finally:
                svc.resizing = False
                svc.kick()

    # ------------------------------------------------------------------------------------ routing
    async def route(self, inst: Instance, pid: str, slots: int) -> Instance:
        svc = self.services.get(inst.id)
        if svc is None:  # the service went (idle stop) between start and route
            inst = await self.start(inst.model, inst.version, gpu=False)
            svc = self.services[inst.id]
        self.release(pid)
        svc.slots = slots
        svc.waiting += 1
        queued = time.monotonic()
        try:
            while True:
                r = None if svc.resizing else pick_replica(list(svc.replicas.values()), slots)
                if r is not None:
                    break
                if svc.first_queued is None and svc.load() > svc.wanted * slots:
                    svc.first_queued = queued
                if not svc.resizing:
                    await self._autoscale(svc)
                svc.changed.clear()
                try:
                    await asyncio.wait_for(svc.changed.wait(), timeout=0.5)
                except asyncio.TimeoutError:
                    pass
                if svc.setup_error:
                    raise svc.setup_error
                if svc.id not in self.services:
                    raise SetupFailed("the version's swarm service was removed")
        finally:
            svc.waiting -= 1
        r.active += 1
        svc.inflight[pid] = r.task
        svc.started[pid] = time.monotonic()
        return Instance(r.task, svc.model, svc.version, r.url, {"service": 0.0})

    def release(self, pid: str) -> None:
        for svc in self.services.values():
            tid = svc.inflight.pop(pid, None)
            if tid is not None:
                r = svc.replicas.get(tid)
                if r:
                    r.active = max(0, r.active - 1)
                t = svc.started.pop(pid, None)
                if t is not None:
                    svc.latencies.append(time.monotonic() - t)
                svc.kick()
                return

    def _replica(self, task_id: str) -> tuple[ServiceState, Replica] | None:
        for svc in self.services.values():
            r = svc.replicas.get(task_id)
            if r:
                return svc, r
        return None

    # ------------------------------------------------------------------------------------ Runner
    async def call(
        self, inst: Instance, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:  # fmt: skip
        url = inst.url
        if url.startswith("swarm://"):  # the service as a whole: the replica that runs it, or any READY one
            svc = self.services.get(inst.id)
            if svc is None:
                raise httpx.ConnectError(f"the service of {inst.model} is gone")
            pid = path.split("/")[2] if path.startswith("/predictions/") else ""
            tid = svc.inflight.get(pid)
            cands = (
                [svc.replicas[tid]]
                if tid in svc.replicas
                else [r for r in svc.replicas.values() if r.ready and not r.dead]
            )
            last: httpx.Response | None = None
            for r in cands:
                last = await self.http.request(
                    method, f"{r.url}{path}", json=json, headers=headers, timeout=timeout
                )
                if last.status_code != 404:
                    return last
            if last is None:
                raise httpx.ConnectError(f"no READY replica of {inst.model}")
            return last
        return await self.http.request(method, f"{url}{path}", json=json, headers=headers, timeout=timeout)

    async def state(self, inst: Instance) -> InstanceState:
        import docker.errors

        if inst.url.startswith("swarm://"):
            svc = self.services.get(inst.id)
            ok = bool(svc and any(r.ready and not r.dead for r in svc.replicas.values()))
            return InstanceState(ok, None, False, "")
        found = self._replica(inst.id)
        where = f" {inst.id[:12]} on node {found[1].node_name}" if found else f" {inst.id[:12]}"
        deadline = time.monotonic() + 10
        while True:  # a container that just died: give its node a moment to report it
            try:
                t = await asyncio.to_thread(self.docker.api.inspect_task, inst.id)
            except docker.errors.NotFound:
                return ReplicaState(False, None, False, "", where=where, error="the task is gone")
            st = t.get("Status") or {}
            cs = st.get("ContainerStatus") or {}
            if st.get("State") in GONE or t.get("DesiredState") in ("shutdown", "remove"):
                if found:
                    found[1].dead = True
                logs = await asyncio.to_thread(task_logs, self.docker, inst.id)
                code = cs.get("ExitCode")
                return ReplicaState(False, code, code == 137 and "OOM" in (st.get("Err") or ""), logs,
                                    where=where, error=str(st.get("Err") or ""))  # fmt: skip
            if time.monotonic() > deadline:
                return ReplicaState(True, None, False, "", where=where)
            await asyncio.sleep(0.25)

    async def stop(self, inst: Instance) -> None:
        """A service (idle): scaled to --min-replicas, removed at 0. A replica (it broke): no more
        predictions go to it, and Swarm replaces it."""
        svc = self.services.get(inst.id)
        if svc is not None:
            if self.min_replicas > 0:
                await self._scale(svc, self.min_replicas)
            else:
                await self._remove(svc)
            return
        found = self._replica(inst.id)
        if found:
            found[1].dead = True
            found[0].kick()
            return
        if inst.url.startswith("swarm://"):  # a leftover of an earlier hub process
            await asyncio.to_thread(self._remove_by_id, inst.id)

    def _remove_by_id(self, sid: str) -> None:
        import docker.errors

        try:
            self.docker.services.get(sid).remove()
        except docker.errors.NotFound:
            pass

    async def list(self) -> list[Instance]:
        objs = await asyncio.to_thread(
            self.docker.services.list, filters={"label": f"{HUB_LABEL}={self.hub_id}"}
        )
        out = []
        for o in objs:
            labels = (o.attrs.get("Spec") or {}).get("Labels") or {}
            out.append(
                Instance(
                    o.id, labels.get(MODEL_LABEL, ""), labels.get(VERSION_LABEL, ""), f"swarm://{o.name}"
                )
            )
        return out

    def status(self) -> List[dict[str, Any]]:
        """Per version: replicas wanted / running / ready, queue, running predictions, recent latency."""
        out = []
        for svc in self.services.values():
            live = [r for r in svc.replicas.values() if not r.dead]
            lat = sorted(svc.latencies)
            out.append({
                "model": svc.model,
                "version": svc.version,
                "service": svc.name,
                "replicas": {"wanted": svc.wanted, "running": len(live), "ready": sum(1 for r in live if r.ready)},
                "nodes": sorted({r.node_name for r in live}),
                "queued": svc.waiting,
                "running": len(svc.inflight),
                "latency_p50": lat[len(lat) // 2] if lat else None,
                "scale_up_seconds": list(svc.scale_ups[-5:]),
            })  # fmt: skip
        return out

    async def close(self) -> None:
        for svc in list(self.services.values()):
            await self._remove(svc)
        for inst in await self.list():
            await asyncio.to_thread(self._remove_by_id, inst.id)
        await self.http.aclose()
        self.docker.close()
