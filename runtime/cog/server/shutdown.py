"""Shutting down (SIGTERM, or POST /shutdown): running predictions first, then the worker, then pending
terminal webhooks."""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from .webhook import wait_for_webhooks

if TYPE_CHECKING:
    from .http import Server

log = logging.getLogger("cog.server.http")
SHUTDOWN_TIMEOUT = float(os.environ.get("COG_SHUTDOWN_TIMEOUT", "60"))  # running predictions, at SIGTERM
WEBHOOK_GRACE = float(os.environ.get("COG_SHUTDOWN_WEBHOOK_TIMEOUT", "10"))


def shutdown(server: Server, own_requests: int = 0) -> None:
    """Finish the running predictions (within COG_SHUTDOWN_TIMEOUT, then they are canceled), stop the
    worker, give pending terminal webhooks a last chance, stop serving."""
    if server.shutting_down.is_set():
        return
    server.shutting_down.set()
    runner = server.runner
    runner.stopping = True
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT
    for pred in list(runner.active.values()):
        pred.done.wait(max(0.0, deadline - time.monotonic()))
    late = list(runner.active.values())
    if late:
        log.warning("shutting down: canceling %d prediction(s) still running", len(late))
        for pred in late:
            runner.cancel(pred.id)
        for pred in late:
            pred.done.wait(3.0)
    deadline = time.monotonic() + 5  # let handlers write the answers of those predictions
    while server.in_flight > own_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.stop(timeout=5)
    wait_for_webhooks(WEBHOOK_GRACE)
    server.shutdown()
