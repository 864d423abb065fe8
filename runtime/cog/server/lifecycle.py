"""The server's lifecycle lines in Cog's words (coglet-python's lib.rs and worker_bridge.rs, coglet's
orchestrator.rs and server.rs), so scripts that wait for or grep them work unchanged: each is Cog's
message followed by its fields as `key=value`, as tracing prints them on a console."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("cog.server")

SPAWNING = "Spawning worker subprocess"
LOADING = "Loading predictor"
RUNNING_SETUP = "Running setup"
SETUP_COMPLETE = "Setup complete"
SERVER_READY = "Server ready"
ACCEPTING = "Setup complete, now accepting requests"
INIT_FAILED = "Worker initialization failed"
STARTING_PREDICTION = "Starting prediction"
SUCCEEDED = "Prediction succeeded"
FAILED = "Prediction failed"
CANCELLED = "Prediction cancelled"
CANCELLING = "Cancelling prediction"
WORKER_CRASHED = "Control channel closed (worker crashed?)"
SIGTERM = "Received SIGTERM, shutting down..."
SIGINT = "Received SIGINT, shutting down..."
SHUTDOWN_REQUESTED = "Shutdown requested via /shutdown endpoint..."
SHUTDOWN_COMPLETE = "Server shutdown complete"


class Shown(str):
    """A field tracing shows with Display (`%field`: no quotes); a plain str field is quoted (Debug)."""


def _value(v: Any) -> str:
    if isinstance(v, Shown):
        return str(v)
    if isinstance(v, str):
        return f'"{v}"'
    return "true" if v is True else "false" if v is False else str(v)


def line(message: str, level: int = logging.INFO, **fields: Any) -> None:
    if not log.isEnabledFor(level):
        return
    if fields:
        message += " " + " ".join(f"{k}={_value(v)}" for k, v in fields.items())
    log.log(level, "%s", message)


def startup() -> None:
    """Cog's first lines: the SDK and Python versions, the predictor and the worker's concurrency."""
    import os
    import platform

    from .. import __version__

    line(f"python sdk {__version__}")
    line(f"python {platform.python_version()}")
    ref = os.environ.get("COG_PREDICT_TYPE_STUB") or os.environ.get("COG_TRAIN_TYPE_STUB")
    if not ref:
        return
    is_train = not os.environ.get("COG_PREDICT_TYPE_STUB")
    line("Using subprocess isolation", predictor_ref=Shown(ref), is_train=is_train)
