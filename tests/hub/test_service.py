"""The Hub on fake boundaries (registry index and runner): rules that need no engine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from cogpin.hub.registry_index import VersionInfo
from cogpin.hub.runner import Instance, InstanceState
from cogpin.hub.service import Hub
from cogpin.hub.store import Store

SCHEMA = {
    "components": {
        "schemas": {
            "Input": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "Output": {"type": "string"},
        }
    }
}
VID = "ab" * 32


class FakeIndex:
    registry = "fake:5000"

    def __init__(self, config: dict[str, Any]) -> None:
        self.info = VersionInfo("o/gpu", VID, "2026-01-01T00:00:00.000000Z", "0.23.1", SCHEMA, config)

    async def version(self, repo: str, vid: str) -> VersionInfo | None:
        return self.info if (repo, vid) == ("o/gpu", VID) else None

    async def holders(self, vid: str) -> list[str]:
        return ["o/gpu"] if vid == VID else []

    async def repositories(self) -> list[str]:
        return ["o/gpu"]

    async def tags(self, repo: str) -> list[tuple[str, str]]:
        return [("latest", VID)]

    async def versions(self, repo: str) -> list[VersionInfo]:
        return [self.info]

    async def close(self) -> None:
        pass


class NoGpuRunner:
    started = 0

    def has_gpu(self) -> bool:
        return False

    async def start(self, model: str, version: str, *, gpu: bool) -> Instance:
        self.started += 1
        raise AssertionError("no container may start for a GPU model on an engine without GPUs")

    async def call(self, inst: Instance, method: str, path: str, **kw: Any) -> httpx.Response:
        raise AssertionError

    async def state(self, inst: Instance) -> InstanceState:
        return InstanceState(False)

    async def stop(self, inst: Instance) -> None:
        pass

    async def list(self) -> list[Instance]:
        return []

    async def close(self) -> None:
        pass


def test_gpu_model_on_an_engine_without_gpus_fails_clearly(tmp_path: Path) -> None:
    async def go() -> tuple[list[dict[str, Any]], int]:
        runner = NoGpuRunner()
        hub = Hub(Store(tmp_path), FakeIndex({"build": {"gpu": True}}), runner)  # type: ignore[arg-type]
        await hub.start()
        try:
            out = [
                await hub.create_prediction(
                    {"version": VID, "input": {"text": "x"}}, "http://h", prefer="wait=5"
                )
                for _ in range(2)
            ]
            # bad input is refused before anything starts, naming the field
            try:
                await hub.create_prediction({"version": VID, "input": {"text": 3}}, "http://h")
            except Exception as e:  # noqa: BLE001
                out.append({"status": getattr(e, "status", None), "error": getattr(e, "detail", str(e))})
            return out, runner.started
        finally:
            await hub.close()

    results, started = asyncio.run(go())
    for p in results[:2]:
        assert p["status"] == "failed" and "needs a GPU" in p["error"], p
    assert results[2] == {"status": 422, "error": "text: expected a string, got 3"}
    assert started == 0
