"""The HTTP process's record of a prediction: a running `Prediction` (its state, redaction of its secrets,
its SSE subscribers, Cog's response JSON) and a kept `Finished` one (its final JSON, encoded once)."""

from __future__ import annotations

import collections
import datetime
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from .protocol import Raw
from .webhook import WebhookSender

REDACTED = "**********"


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class Busy(Exception):
    """All concurrency slots are taken (409)."""


class NotReady(Exception):
    """Setup has not finished or failed (503)."""


class Prediction:
    """A prediction (or training) as the HTTP process sees it; to_json() is Cog's response shape."""

    def __init__(
        self,
        kind: str,
        pid: str,
        input_echo: dict[str, Any],
        secrets: list[str],
        webhook: str | None,
        events_filter: list[str] | None,
        context: dict[str, str] | None,
    ) -> None:
        self.kind = kind
        self.id = pid
        self.input = input_echo
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._held = ""  # log text not yet echoed (a secret may continue in the next chunk)
        self.context = context or {}
        self.output: Any = None
        self.status = "starting"
        self.error: str | None = None
        self.logs: list[str] = []
        self.created_at = now_iso()
        self.started_at: str | None = None
        self.completed_at: str | None = None
        self.metrics: dict[str, Any] = {}
        self.done = threading.Event()
        self.subscribers: list[queue.Queue[tuple[str, Any]]] = []
        # the last events, replayed to an SSE client attaching later (cog.server.sse); a streaming model only
        self.history: collections.deque[tuple[str, Any]] | None = None
        self.history_skipped = 0
        self._sub_lock = threading.Lock()
        self.log_source = "stdout"
        self._t0 = time.monotonic()
        self.cancel_requested = False
        self.start_logged = False  # its "Starting prediction" line (written off the request's path)
        self.spooled: list[str] = []  # spool folders of its big file inputs (removed when it ends)
        self.final: bytes | None = None
        self.polled = False  # created with Prefer: respond-async and no webhook: the client will GET it
        # writes the final JSON to the waiting client; returns what is left for the client's handler
        self.answer: Callable[[bytes], bytes | None] | None = None
        self.unanswered: bytes | None = None  # None: not answered (the handler sends the whole answer)
        self.webhook = WebhookSender(webhook, events_filter, self.to_json) if webhook else None
        if self.webhook is not None:
            self.webhook.key = pid

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, REDACTED)
        return text

    def redact_stream(self, chunk: str, final: bool = False) -> str:
        """For text echoed piece by piece (stderr, SSE): redacted whole lines only, so a secret written in
        two pieces is still caught; a long line without a newline is let out once it is 64 KiB, minus a
        tail as long as the longest secret."""
        if not self.secrets:
            return chunk
        text = self._held + chunk
        if final:
            self._held = ""
            return self.redact(text)
        cut = text.rfind("\n") + 1
        if cut == 0 and len(text) > 65536:
            cut = len(text) - len(self.secrets[0])
        self._held = text[cut:]
        return self.redact(text[:cut])

    def to_json(self) -> Any:
        """The response body: a dict while it runs; once finished, its final JSON (a Raw, encoded once)."""
        if self.final is not None:
            return Raw(self.final)
        return self._json()

    def _json(self) -> dict[str, Any]:
        logs = "".join(self.logs)
        return {
            "id": self.id,
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "error": self.redact(self.error) if self.error else self.error,
            "logs": self.redact(logs) if self.secrets else logs,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "metrics": dict(self.metrics),
        }

    def subscribe(self, q: queue.Queue[tuple[str, Any]]) -> tuple[list[tuple[str, Any]], int]:
        """Add q; returns the history so far and how many events it lost (no event is missed or doubled)."""
        with self._sub_lock:
            self.subscribers.append(q)
            return list(self.history or ()), self.history_skipped

    def unsubscribe(self, q: queue.Queue[tuple[str, Any]]) -> None:
        with self._sub_lock:
            if q in self.subscribers:
                self.subscribers.remove(q)

    def publish(self, event: str, data: Any) -> None:
        with self._sub_lock:
            if self.history is not None:
                if len(self.history) == self.history.maxlen:
                    self.history_skipped += 1
                self.history.append((event, data))
            subscribers = list(self.subscribers)
        for q in subscribers:
            q.put((event, data))
        if self.webhook is not None:
            self.webhook.notify({"log": "logs"}.get(event, event))


_DONE = threading.Event()
_DONE.set()


class Finished:
    """A finished prediction as kept: its kind and final JSON."""

    __slots__ = ("id", "kind", "final")
    done = _DONE

    def __init__(self, pid: str, kind: str, final: bytes) -> None:
        self.id = pid
        self.kind = kind
        self.final = final

    def to_json(self) -> Raw:
        return Raw(self.final)
