"""Model instances per version: one :class:`Pool` per version in use, with ``concurrency.max`` slots
(from ``run.cog.config``) taken in turn (FIFO), so no prediction is refused with a 409.

An instance starts on the first prediction, stops after ``idle_timeout`` and, when ``max_containers`` run,
the least recently used idle one stops to make room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cogpin.hub import core
from cogpin.hub.registry_index import VersionInfo
from cogpin.hub.runner import Instance, Runner, SetupFailed

log = logging.getLogger("cogpin.hub")


@dataclass
class Pool:
    model: str
    version: str
    slots: int
    gpu: bool
    inst: Instance | None = None
    starting: asyncio.Task[Instance] | None = None
    sem: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    active: int = 0
    waiting: int = 0
    last_used: float = field(default_factory=time.monotonic)
    setup_error: SetupFailed | None = None

    @property
    def idle(self) -> bool:
        return self.active == 0 and self.waiting == 0 and self.starting is None


class Pools:
    def __init__(self, runner: Runner, *, idle_timeout: float, max_containers: int) -> None:
        self.runner = runner
        self.idle_timeout = idle_timeout
        self.max_containers = max_containers
        self.by_version: dict[str, Pool] = {}
        self._room = asyncio.Condition()

    def pool(self, info: VersionInfo) -> Pool:
        pool = self.by_version.get(info.id)
        if pool is None:
            slots = core.concurrency(info.config)
            pool = self.by_version[info.id] = Pool(info.model, info.id, slots, core.needs_gpu(info.config))
            # a runner that scales (swarm) has up to max_replicas instances' worth of slots, and queues
            # the rest itself (route) so that it sees the load it scales on
            pool.sem = asyncio.Semaphore(slots * getattr(self.runner, "max_replicas", 1))
        return pool

    @contextlib.asynccontextmanager
    async def slot(self, pool: Pool) -> AsyncIterator[None]:
        """One of the pool's slots, in turn; giving it back may let an instance of another pool start."""
        pool.waiting += 1
        try:
            await pool.sem.acquire()
        finally:
            pool.waiting -= 1
        pool.active += 1
        try:
            yield
        finally:
            pool.active -= 1
            pool.sem.release()
            pool.last_used = time.monotonic()
            async with self._room:
                self._room.notify_all()

    async def instance(self, pool: Pool) -> Instance:
        """The pool's instance, started once however many predictions ask at the same time."""
        if pool.setup_error:
            raise pool.setup_error
        if pool.inst:
            return pool.inst
        if pool.starting is None:
            pool.starting = asyncio.create_task(self._start_instance(pool))
        try:
            return await asyncio.shield(pool.starting)
        finally:
            if pool.starting and pool.starting.done():
                pool.starting = None

    async def _start_instance(self, pool: Pool) -> Instance:
        if pool.gpu and not self.runner.has_gpu():
            pool.setup_error = SetupFailed(
                "this model needs a GPU (gpu: true in cog.yaml), and the engine this hub runs on has none"
            )
            raise pool.setup_error
        await self._make_room(pool)
        try:
            inst = await self.runner.start(pool.model, pool.version, gpu=pool.gpu)
        except SetupFailed as e:
            pool.setup_error = e  # no retry loop: the version fails until the hub restarts
            raise
        pool.inst = inst
        t = inst.timings
        log.info(
            "started %s:%s in %.2f s (pull %.2f s, start %.2f s, ready %.2f s)",
            pool.model, pool.version[:12], sum(t.values()), t.get("pull", 0), t.get("start", 0), t.get("ready", 0),
        )  # fmt: skip
        return inst

    async def _make_room(self, pool: Pool) -> None:
        """Wait until fewer than max_containers instances run, stopping the least recently used idle one."""
        async with self._room:
            while sum(1 for p in self.by_version.values() if p.inst) >= self.max_containers:
                idle = [p for p in self.by_version.values() if p.inst and p.idle and p is not pool]
                if idle:
                    victim = min(idle, key=lambda p: p.last_used)
                    inst, victim.inst = victim.inst, None
                    if inst:
                        await self.runner.stop(inst)
                    continue
                await self._room.wait()

    async def stop(self, pool: Pool) -> None:
        inst, pool.inst = pool.inst, None
        if inst:
            await self.runner.stop(inst)
        async with self._room:
            self._room.notify_all()

    async def reaper(self) -> None:
        """Forever: stop the instances idle for longer than idle_timeout."""
        while True:
            await asyncio.sleep(min(5.0, max(self.idle_timeout / 4, 0.2)))
            now = time.monotonic()
            for pool in list(self.by_version.values()):
                if pool.inst and pool.idle and now - pool.last_used > self.idle_timeout:
                    await self.stop(pool)

    async def stop_all(self) -> None:
        """Stop every instance: the pools' own and any other the runner still lists."""
        for pool in list(self.by_version.values()):
            if pool.starting:
                pool.starting.cancel()
        insts = [p.inst for p in self.by_version.values() if p.inst]
        try:
            insts += [i for i in await self.runner.list() if i.id not in {x.id for x in insts}]
        except Exception:  # noqa: BLE001
            pass
        await asyncio.gather(*(self.runner.stop(i) for i in insts), return_exceptions=True)
