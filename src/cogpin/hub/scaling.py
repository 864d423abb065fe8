"""The cluster backend's pure part: how many replicas a load wants (:func:`wanted_replicas`), which
replica takes a prediction (:func:`pick_replica`), and what the hub knows of each swarm service
(:class:`ServiceState`) and replica (:class:`Replica`, :class:`ReplicaState`). No Docker here."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field

from cogpin.hub.runner import InstanceState, SetupFailed


def wanted_replicas(load: int, slots: int, lo: int, hi: int) -> int:
    """Replicas for ``load`` predictions (queued + running) at ``slots`` each, within [lo, hi]; a version in
    use has at least one."""
    need = math.ceil(load / max(slots, 1)) if load > 0 else 0
    return max(lo, 1, min(hi, need))


@dataclass
class Replica:
    task: str
    node: str  # node id
    node_name: str  # its dev.cogpin.node label, else its hostname
    url: str
    ready: bool = False
    dead: bool = False
    active: int = 0
    since: float = field(default_factory=time.monotonic)


def pick_replica(replicas: list[Replica], slots: int) -> Replica | None:
    """The READY replica with the fewest predictions running, if one has a free slot (oldest first on ties,
    so a warm replica is preferred to a new one)."""
    free = [r for r in replicas if r.ready and not r.dead and r.active < slots]
    return min(free, key=lambda r: (r.active, r.since)) if free else None


@dataclass
class ReplicaState(InstanceState):
    where: str = ""
    error: str = ""

    def describe(self) -> str:
        if self.running:
            return f"the model replica{self.where} is still running"
        why = f"exited with code {self.exit_code}" if self.exit_code is not None else "was stopped"
        if self.exit_code == 137:
            why += " (killed)"
        if self.error and str(self.exit_code) not in self.error:
            why += f": {self.error}"
        return f"the model replica{self.where} {why}"


@dataclass
class ServiceState:
    id: str
    name: str
    model: str
    version: str
    slots: int = 1
    wanted: int = 0
    replicas: dict[str, Replica] = field(default_factory=dict)
    inflight: dict[str, str] = field(default_factory=dict)  # prediction id -> task id
    waiting: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    monitor: asyncio.Task[None] | None = None
    setup_error: SetupFailed | None = None
    ever_ready: bool = False  # after a first READY replica, failures are replicas dying, not setup
    failed_tasks: set[str] = field(default_factory=set)
    quiet_since: float = field(default_factory=time.monotonic)
    resizing: bool = False
    first_queued: float | None = None  # scale-up timing: first prediction that waited for a replica
    scale_ups: list[float] = field(
        default_factory=list
    )  # seconds from a queued prediction to a new READY replica
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=50))
    started: dict[str, float] = field(default_factory=dict)

    def load(self) -> int:
        return self.waiting + len(self.inflight)

    def kick(self) -> None:
        self.changed.set()
