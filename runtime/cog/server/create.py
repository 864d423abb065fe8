"""The create-prediction flow (POST /predictions, PUT /predictions/{id}, and the same for trainings):
the id, an existing prediction of that id, readiness, the input against the schema, the request's other
fields, spooling big file inputs, submitting, and answering (sync, async or SSE)."""

from __future__ import annotations

import logging
import queue
import select
import socket
from typing import TYPE_CHECKING, Any

from ..validate import redact_secrets, validate_input
from . import spool, sse
from .framing import HTTPError, RequestReader, body_error
from .memory import give_memory_back
from .protocol import BIG
from .records import REDACTED, Busy, NotReady, Prediction
from .respond import ResponseWriter

if TYPE_CHECKING:
    from .http import Server

log = logging.getLogger("cog.server.http")


class CreateFlow(RequestReader, ResponseWriter):
    server: Server

    def create(self, kind: str, path_id: str | None) -> None:
        runner = self.server.runner
        body = self.read_json()
        pid = _prediction_id(body, path_id)
        prefer_async = "respond-async" in self.headers.get("Prefer", "")
        wants_sse = sse.wants_sse(self.headers.get("Accept", ""))
        if wants_sse and (kind == "train" or not runner.streaming):  # Cog's 406s, before anything else
            raise HTTPError(
                406, {"error": sse.TRAINING_NOT_STREAMING if kind == "train" else sse.NOT_STREAMING}
            )
        if pid and self.answer_existing(kind, pid, wants_sse, prefer_async):
            return
        schema, component = self.input_component(kind)
        cleaned = self.validated_input(schema, body, component)
        webhook, events, context = _other_fields(body)
        echo, secret_values = redact_secrets(schema, cleaned, component, REDACTED)
        spooled: list[str] = []
        if self.body_size >= spool.SPOOL_MIN:  # big file inputs go to the worker as files, not text
            cleaned, echo, spooled = spool.spool_inputs(schema, component, cleaned, echo)
            del body  # the parsed request: its big strings are now files (worker) and bytes (echo)
        sse_queue: queue.Queue[tuple[str, Any]] | None = queue.Queue() if wants_sse else None
        try:
            pred = runner.submit(
                kind,
                pid,
                cleaned,
                echo,
                secret_values,
                webhook,
                events,
                context,
                prefer_async and not webhook,
                None if wants_sse or prefer_async else self.answer_directly,
                sse_queue,
                spooled,
            )
        except Busy:
            spool.discard(spooled)
            raise HTTPError(409, {"detail": "Already running a prediction"}) from None
        except NotReady:
            spool.discard(spooled)
            raise HTTPError(503, {"detail": "the model is not ready"}) from None
        self.answer_new(pred, sse_queue, prefer_async)

    def answer_existing(self, kind: str, pid: str, wants_sse: bool, prefer_async: bool) -> bool:
        """An idempotent PUT (or a POST with an id) of a prediction that exists: answered with it (SSE:
        attached to it, its history, then live). False: there is none of that id and kind."""
        existing = self.server.runner.get(str(pid))
        if wants_sse and isinstance(existing, Prediction) and existing.kind == kind:
            q: queue.Queue[tuple[str, Any]] = queue.Queue()  # attach to it: its history, then live
            sse.serve(self, existing, q, *existing.subscribe(q))
            return True
        if existing is not None and existing.kind == kind:
            finished = existing.done.is_set()
            self.send(200 if finished and not prefer_async else 202, existing.to_json())
            return True
        return False

    def input_component(self, kind: str) -> tuple[dict[str, Any], str]:
        """The schema and its component the input is checked against; 503 before setup, 404 without that function."""
        runner = self.server.runner
        if runner.schema is None or runner.state != "READY":
            raise HTTPError(
                503,
                {"detail": "the model is not ready: setup has not finished or failed (see /health-check)"},
            )
        component = "Input" if kind == "predict" else "TrainingInput"
        if component not in runner.schema.get("components", {}).get("schemas", {}):
            raise HTTPError(404, {"detail": f"this model has no {kind} function"})
        return runner.schema, component

    def validated_input(self, schema: dict[str, Any], body: dict[str, Any], component: str) -> dict[str, Any]:
        cleaned, errors, unknown = validate_input(schema, body.get("input"), component)
        if errors:
            raise HTTPError(422, {"detail": errors})
        if unknown:
            log.warning("dropping unknown input field(s): %s", ", ".join(unknown))
        return cleaned

    def answer_new(
        self, pred: Prediction, sse_queue: queue.Queue[tuple[str, Any]] | None, prefer_async: bool
    ) -> None:
        """SSE events, a 202 at once (Prefer: respond-async), or the result when it is there."""
        if sse_queue is not None:
            return sse.serve(self, pred, sse_queue, [], 0)
        if prefer_async:
            return self.send(202, pred.to_json())
        self.wait_for(pred)
        if pred.unanswered is None:
            self.send(200, pred.to_json())
        elif pred.unanswered:  # what the socket did not take at once
            self.wfile.write(pred.unanswered)
        if self.body_size > BIG:
            give_memory_back()
        return None

    def wait_for(self, pred: Prediction) -> None:
        """Wait for the result; a client that hangs up cancels its prediction."""
        sock = self.connection
        watching = True
        while not pred.done.wait(0.1):
            if not watching:
                continue
            try:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        log.info("client of %s went away: cancelling it", pred.id)
                        self.server.runner.cancel(pred.id)
                        watching = False
                        self.close_connection = True
                    else:
                        watching = False  # a pipelined request; keep waiting
            except OSError:
                self.server.runner.cancel(pred.id)
                watching = False
                self.close_connection = True


def _prediction_id(body: dict[str, Any], path_id: str | None) -> str | None:
    """The id from the URL or the body (as text), 1 to 256 printable characters; both given: the same."""
    pid = path_id or body.get("id")
    if pid is not None and not isinstance(pid, str):
        pid = str(pid)
    if pid is not None and (not pid or len(pid) > 256 or not pid.isprintable()):
        raise body_error("id", "id must be 1 to 256 printable characters", "value_error.id")
    if path_id and body.get("id") not in (None, path_id):
        raise body_error("id", "id in the body does not match the URL", "value_error")
    return pid


def _other_fields(body: dict[str, Any]) -> tuple[str | None, list[str] | None, dict[str, Any] | None]:
    """The request's webhook, webhook_events_filter and context, checked."""
    webhook = body.get("webhook")
    if webhook is not None and not (isinstance(webhook, str) and webhook.startswith(("http://", "https://"))):
        raise body_error("webhook", "invalid or missing URL scheme", "value_error.url.scheme")
    events = body.get("webhook_events_filter")
    if events is not None and not (
        isinstance(events, list) and all(e in ("start", "output", "logs", "completed") for e in events)
    ):
        raise body_error(
            "webhook_events_filter",
            "value is not a list of start, output, logs, completed",
            "type_error.enum",
        )
    context = body.get("context")
    if context is not None and not isinstance(context, dict):
        raise body_error("context", "value is not a valid dict", "type_error.dict")
    return webhook, events, context
