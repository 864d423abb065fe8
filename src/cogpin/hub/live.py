"""A prediction's life in memory and its SSE events: :class:`Live` holds what a running prediction has
sent (replayed to every new stream, then followed), its task and its webhook queue; :func:`replay` gives
the events of a prediction finished before (from the store alone)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from cogpin.hub import core
from cogpin.hub.runner import Instance

KEEP_ALIVE = 10.0  # seconds without an event before a stream gets a keep-alive


@dataclass
class Live:
    """In-memory companions of a running prediction: its events and what follows them."""

    base: str
    events: list[tuple[str, str]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    task: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    dispatched: bool = False
    inst: Instance | None = None
    hook_queue: asyncio.Queue[str] | None = None
    done_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def emit(self, event: str, data: str) -> None:
        async with self.changed:
            self.events.append((event, data))
            self.changed.notify_all()

    async def follow(self) -> AsyncIterator[tuple[str, str, str]]:
        """SSE events (event, data, id): replayed from the start, then followed until ``done``; an empty
        event is a keep-alive."""
        i = 0
        while True:
            async with self.changed:
                while i >= len(self.events):
                    try:
                        await asyncio.wait_for(self.changed.wait(), timeout=KEEP_ALIVE)
                    except asyncio.TimeoutError:
                        yield "", "", ""  # keep-alive
                        continue
                batch = self.events[i:]
            for ev, data in batch:
                yield ev, data, str(i)
                i += 1
                if ev == "done":
                    return


def replay(p: core.Prediction, output: Any, iterates: bool) -> Iterator[tuple[str, str, str]]:
    """The SSE events of a prediction no longer in memory: its output (item by item when ``iterates``),
    its error, then ``done``. ``output`` is the output as the API shows it."""
    n = 0
    if output is not None and p.status == "succeeded":
        items = output if iterates and isinstance(output, list) else [output]
        for item in items:
            yield "output", core.output_event_data(item), str(n)
            n += 1
    if p.status == "failed":
        yield "error", json.dumps({"detail": p.error or "failed"}), str(n)
        n += 1
    yield "done", core.done_data(p.status), str(n)
