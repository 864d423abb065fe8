"""``GET /v1/hub/status`` (``cogpin hub status``): per version in use, replicas wanted / running / ready,
predictions queued and running, and the recent latency; from the hub's pools and, for a runner that
scales, the runner's own view of its replicas."""

from __future__ import annotations

from typing import Any


def _p50(xs: list[float]) -> float | None:
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def hub_status(hub: Any) -> dict[str, Any]:
    runner = hub.runner
    by_version: dict[str, dict[str, Any]] = {}
    if hasattr(runner, "status"):
        for row in runner.status():
            by_version[row["version"]] = row
    recent = hub.store.recent(500)
    for pool in hub.pools.by_version.values():
        row = by_version.get(pool.version)
        if row is None:
            up = 1 if pool.inst else 0
            times = [
                float(p.metrics["predict_time"])
                for p in recent
                if p.version == pool.version and p.status == "succeeded" and "predict_time" in p.metrics
            ][-50:]
            row = by_version[pool.version] = {
                "model": pool.model,
                "version": pool.version,
                "replicas": {"wanted": up, "running": up, "ready": up},
                "nodes": [],
                "queued": 0,
                "running": pool.active,
                "latency_p50": _p50(times),
            }
        # predictions waiting in the hub for a slot (beyond what the runner was given)
        row["queued"] += max(0, pool.waiting)
        row["slots"] = pool.slots
    name = type(runner).__name__
    return {
        "hub": getattr(hub.store, "instance_id", ""),
        "runner": {"DockerRunner": "docker", "SwarmRunner": "swarm"}.get(name, name),
        "store": "postgresql" if getattr(hub.store, "is_postgres", False) else "sqlite",
        "versions": sorted(by_version.values(), key=lambda r: (r["model"], r["version"])),
    }
