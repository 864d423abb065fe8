"""Server-Sent Events for `Accept: text/event-stream`, as Cog's coglet serves them (routes.rs,
prediction.rs): opt-in with `@cog.streaming` (`x-cog-streaming` in the schema), events `start`
({id, status}), `output` ({chunk, index}), `log` ({source, data}), `metric` ({name, value, mode}) and
`completed` (the final prediction), a `:keep-alive` comment every 15 s, and a per-prediction history of
the last COG_STREAM_HISTORY_CAPACITY events (default 1024, 0: none) replayed to a client that attaches
to a running prediction (PUT /predictions/{id}); a replay that lost events ends with an `error` event."""

from __future__ import annotations

import logging
import os
import queue
import time
from typing import Any

from .protocol import dumps

log = logging.getLogger("cog.server")

DEFAULT_HISTORY_CAPACITY = 1024
HISTORY_ENV = "COG_STREAM_HISTORY_CAPACITY"
KEEP_ALIVE = 15.0
NOT_STREAMING = (
    "This model does not support streaming responses. Add @cog.streaming to predict() to enable SSE."
)
TRAINING_NOT_STREAMING = "Training endpoints do not support streaming responses."
REPLAY_TRUNCATED = "SSE stream replay truncated; events were dropped"

_capacity: int | None = None


def history_capacity() -> int:
    """COG_STREAM_HISTORY_CAPACITY (read once); an invalid value is warned about and the default used."""
    global _capacity
    if _capacity is None:
        raw = os.environ.get(HISTORY_ENV)
        value = DEFAULT_HISTORY_CAPACITY
        if raw is not None:
            try:
                value = int(raw)
                if value < 0:
                    raise ValueError(raw)
            except ValueError:
                log.warning(
                    "Invalid stream history capacity; using default (%s=%r, default %d)",
                    HISTORY_ENV,
                    raw,
                    DEFAULT_HISTORY_CAPACITY,
                )
                value = DEFAULT_HISTORY_CAPACITY
        _capacity = value
    return _capacity


def wants_sse(accept: str) -> bool:
    """Cog's test: one of the comma-separated media ranges is text/event-stream (parameters ignored)."""
    return any(part.strip().split(";")[0].strip() == "text/event-stream" for part in accept.split(","))


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: ".encode() + dumps(data) + b"\n\n"


def serve(handler: Any, pred: Any, q: queue.Queue[tuple[str, Any]], replay: list[Any], skipped: int) -> None:
    """Answer handler's request with pred's events: `replay` (the history when q was subscribed), then
    what q receives, until `completed`. A client that goes away cancels the prediction, as in Cog."""
    handler.close_connection = True
    out = handler.wfile
    out.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Connection: close\r\n\r\n"
    )
    out.flush()
    try:
        if skipped:
            out.write(_event("error", {"error": REPLAY_TRUNCATED, "skipped": skipped}))
            out.flush()
            return
        pending = list(replay)
        last = time.monotonic()
        while True:
            if pending:
                event, data = pending.pop(0)
            else:
                try:
                    event, data = q.get(timeout=0.5)
                except queue.Empty:
                    if pred.done.is_set() and q.empty():
                        event, data = "completed", None  # (its event was published before q joined)
                    elif time.monotonic() - last >= KEEP_ALIVE:
                        out.write(b":keep-alive\n\n")
                        out.flush()
                        last = time.monotonic()
                        continue
                    else:
                        continue
            if event == "start":
                payload: Any = {"id": pred.id, "status": "processing"}
            elif event == "log":
                payload = {"source": data["source"], "data": pred.redact(data["data"])}
            elif event == "completed":
                out.write(_event("completed", pred.to_json()))
                out.flush()
                return
            else:
                payload = data
            out.write(_event(event, payload))
            out.flush()
            last = time.monotonic()
    except OSError:
        handler.server.runner.cancel(pred.id)
    finally:
        pred.unsubscribe(q)
