"""The HTTP server: `python -m cog.server.http [--host H] [--port P] [--upload-url U]
[--await-explicit-shutdown true] [--threads N]`.

Environment: PORT (default 5000), COG_PREDICT_TYPE_STUB, COG_TRAIN_TYPE_STUB, COG_MAX_CONCURRENCY,
COG_SETUP_TIMEOUT, COG_LOG_LEVEL, COG_LOG_FORMAT=json, COG_WEIGHTS, WEBHOOK_AUTH_TOKEN,
COG_MAX_BODY_BYTES. The model runs in a worker process (cog.server.worker); this process never imports it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import select
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .. import __version__
from ..validate import validate_input
from .protocol import dumps
from .runner import REDACTED, Busy, NotReady, Prediction, Runner

log = logging.getLogger("cog.server.http")
MAX_BODY = int(os.environ.get("COG_MAX_BODY_BYTES", str(512 << 20)))
JSON_HEADERS = "application/json"


class HTTPError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _body_error(field: str, msg: str, kind: str) -> HTTPError:
    """A 422 about a top-level request field, in Cog's (FastAPI's) shape."""
    return HTTPError(422, {"detail": [{"loc": ["body", field], "msg": msg, "type": kind}]})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], runner: Runner, await_explicit_shutdown: bool) -> None:
        super().__init__(addr, Handler)
        self.runner = runner
        self.await_explicit_shutdown = await_explicit_shutdown
        self.shutting_down = threading.Event()
        self.in_flight = 0
        self.in_flight_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cogpin"
    sys_version = ""
    server: Server

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.client_address[0], *args)

    # ------------------------------------------------------------ plumbing
    def send(
        self, status: int, body: Any, content_type: str = JSON_HEADERS, headers: dict[str, str] | None = None
    ) -> None:
        data = body if isinstance(body, bytes) else dumps(body)
        reason = self.responses.get(status, ("",))[0]
        head = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(data)}",
        ]
        head.append(f"Server: cogpin/{__version__}")
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        if self.close_connection:
            head.append("Connection: close")
        header = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if len(data) < 65536:
            self.wfile.write(header + data)  # one segment for small answers
        else:
            self.wfile.write(header)
            self.wfile.write(data)
        self.wfile.flush()

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                total += size
                if total > MAX_BODY:
                    self.close_connection = True
                    raise HTTPError(413, {"detail": f"request body larger than {MAX_BODY} bytes"})
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise HTTPError(413, {"detail": f"request body larger than {MAX_BODY} bytes"})
        return self.rfile.read(length) if length else b""

    def read_json(self) -> dict[str, Any]:
        raw = self.read_body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise HTTPError(
                422,
                {
                    "detail": [
                        {
                            "loc": ["body", getattr(e, "pos", 0)],
                            "msg": f"malformed JSON: {e}",
                            "type": "value_error.jsondecode",
                        }
                    ]
                },
            ) from None
        if not isinstance(body, dict):
            raise HTTPError(
                422,
                {
                    "detail": [
                        {"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}
                    ]
                },
            )
        return body

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route(self, method: str) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        with self.server.in_flight_lock:
            self.server.in_flight += 1
        try:
            self._route(method, path)
        finally:
            with self.server.in_flight_lock:
                self.server.in_flight -= 1

    def _route(self, method: str, path: str) -> None:
        try:
            self.dispatch(method, path)
        except HTTPError as e:
            self.send(e.status, e.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug must not take the server down
            log.exception("internal error on %s %s", method, path)
            self.send(500, {"detail": f"internal server error: {type(e).__name__}"})

    def do_GET(self) -> None:  # noqa: N802
        self.route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.route("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self.route("PUT")

    # ------------------------------------------------------------ endpoints
    def dispatch(self, method: str, path: str) -> None:
        runner = self.server.runner
        parts = path.strip("/").split("/") if path != "/" else []
        if method == "GET" and not parts:
            return self.send(200, self.discovery())
        if method == "GET" and path == "/health-check":
            return self.send(200, runner.health())
        if method == "GET" and path == "/openapi.json":
            if runner.schema is None:
                runner.schema_ready.wait(5.0)
            if runner.schema is None:
                raise HTTPError(503, {"detail": "the schema is not available: the model has not been loaded"})
            return self.send(200, runner.schema)
        if method == "POST" and path == "/shutdown":
            self.read_body()
            self.send(200, {})
            threading.Thread(target=shutdown, args=(self.server, 1), daemon=True).start()
            return None
        if parts and parts[0] in ("predictions", "trainings"):
            kind = "predict" if parts[0] == "predictions" else "train"
            if method == "POST" and len(parts) == 1:
                return self.create(kind, None)
            if method == "PUT" and len(parts) == 2:
                return self.create(kind, parts[1])
            if method == "GET" and len(parts) == 2:
                pred = runner.get(parts[1])
                if pred is None or pred.kind != kind:
                    raise HTTPError(404, {"detail": "Not found"})
                return self.send(200, pred.to_json())
            if method == "POST" and len(parts) == 3 and parts[2] == "cancel":
                self.read_body()
                if not runner.cancel(parts[1]):
                    raise HTTPError(404, {"detail": "Not found"})
                return self.send(200, {})
        if method in ("POST", "PUT"):
            self.read_body()
        raise HTTPError(404 if method == "GET" or parts else 405, {"detail": "Not Found"})

    def discovery(self) -> dict[str, Any]:
        body = {
            "cog_version": __version__,
            "docs_url": "/docs",
            "openapi_url": "/openapi.json",
            "shutdown_url": "/shutdown",
            "healthcheck_url": "/health-check",
            "predictions_url": "/predictions",
            "predictions_idempotent_url": "/predictions/{prediction_id}",
            "predictions_cancel_url": "/predictions/{prediction_id}/cancel",
        }
        schema = self.server.runner.schema or {}
        if "/trainings" in schema.get("paths", {}):
            body.update(
                trainings_url="/trainings",
                trainings_idempotent_url="/trainings/{training_id}",
                trainings_cancel_url="/trainings/{training_id}/cancel",
            )
        return body

    def create(self, kind: str, path_id: str | None) -> None:
        runner = self.server.runner
        body = self.read_json()
        pid = path_id or body.get("id")
        if pid is not None and not isinstance(pid, str):
            pid = str(pid)
        if path_id and body.get("id") not in (None, path_id):
            raise _body_error("id", "id in the body does not match the URL", "value_error")
        prefer_async = "respond-async" in self.headers.get("Prefer", "")
        if pid:
            existing = runner.get(str(pid))
            if existing is not None and existing.kind == kind:
                finished = existing.done.is_set()
                return self.send(200 if finished and not prefer_async else 202, existing.to_json())
        if runner.schema is None or runner.state != "READY":
            raise HTTPError(
                503,
                {"detail": "the model is not ready: setup has not finished or failed (see /health-check)"},
            )
        component = "Input" if kind == "predict" else "TrainingInput"
        if component not in runner.schema.get("components", {}).get("schemas", {}):
            raise HTTPError(404, {"detail": f"this model has no {kind} function"})
        cleaned, errors, unknown = validate_input(runner.schema, body.get("input"), component)
        if errors:
            raise HTTPError(422, {"detail": errors})
        if unknown:
            log.warning("dropping unknown input field(s): %s", ", ".join(unknown))
        webhook = body.get("webhook")
        if webhook is not None and not (
            isinstance(webhook, str) and webhook.startswith(("http://", "https://"))
        ):
            raise _body_error("webhook", "invalid or missing URL scheme", "value_error.url.scheme")
        events = body.get("webhook_events_filter")
        if events is not None and not (
            isinstance(events, list) and all(e in ("start", "output", "logs", "completed") for e in events)
        ):
            raise _body_error(
                "webhook_events_filter",
                "value is not a list of start, output, logs, completed",
                "type_error.enum",
            )
        context = body.get("context")
        if context is not None and not isinstance(context, dict):
            raise _body_error("context", "value is not a valid dict", "type_error.dict")
        wants_sse = "text/event-stream" in self.headers.get("Accept", "")
        if wants_sse and not runner.streaming:
            raise HTTPError(
                406, {"detail": "this predictor does not stream: mark predict with @cog.streaming"}
            )
        secrets = secret_fields(runner.schema, component)
        echo = {k: (REDACTED if k in secrets and v is not None else v) for k, v in cleaned.items()}
        secret_values = [str(cleaned[k]) for k in secrets if isinstance(cleaned.get(k), str)]
        try:
            pred = runner.submit(kind, pid, cleaned, echo, secret_values, webhook, events, context)
        except Busy:
            raise HTTPError(409, {"detail": "Already running a prediction"}) from None
        except NotReady:
            raise HTTPError(503, {"detail": "the model is not ready"}) from None
        if wants_sse:
            return self.stream(pred)
        if prefer_async:
            return self.send(202, pred.to_json())
        self.wait_for(pred)
        self.send(200, pred.to_json())
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

    def stream(self, pred: Prediction) -> None:
        q: queue.Queue[tuple[str, Any]] = queue.Queue()
        pred.subscribers.append(q)
        self.close_connection = True
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
        )
        self.wfile.flush()

        def emit(event: str, data: Any) -> None:
            self.wfile.write(f"event: {event}\ndata: ".encode() + dumps(data) + b"\n\n")
            self.wfile.flush()

        try:
            if pred.started_at is not None:
                emit("start", pred.to_json())
            while True:
                if pred.done.is_set() and q.empty():
                    break
                try:
                    event, data = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if event == "start":
                    emit("start", pred.to_json())
                elif event == "output":
                    emit("output", data)
                elif event == "log":
                    emit("log", {"data": pred.redact(data)})
                elif event == "metric":
                    emit("metric", data)
                elif event == "completed":
                    break
            emit("completed", pred.to_json())
        except OSError:
            self.server.runner.cancel(pred.id)
        finally:
            pred.subscribers.remove(q)


def secret_fields(schema: dict[str, Any], component: str) -> set[str]:
    props = schema.get("components", {}).get("schemas", {}).get(component, {}).get("properties", {})
    return {name for name, p in props.items() if p.get("x-cog-secret")}


def shutdown(server: Server, own_requests: int = 0) -> None:
    """Finish the running predictions, stop the worker, stop serving."""
    if server.shutting_down.is_set():
        return
    server.shutting_down.set()
    runner = server.runner
    runner.stopping = True
    for pred in list(runner.active.values()):
        pred.done.wait()
    deadline = time.monotonic() + 5  # let handlers write the answers of those predictions
    while server.in_flight > own_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.stop()
    server.shutdown()


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname.lower(), "logger": record.name}
        entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging() -> None:
    level = os.environ.get("COG_LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("COG_LOG_FORMAT", "").lower() == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("cog")
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level, logging.INFO))
    root.propagate = False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m cog.server.http", description="Serve a Cog predictor over HTTP."
    )
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    p.add_argument("--upload-url", default=None)
    p.add_argument("--await-explicit-shutdown", default="false")
    p.add_argument("--threads", type=int, default=None, help="accepted for compatibility; unused")
    p.add_argument("--x-mode", default=None, help="accepted for compatibility; unused")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    runner = Runner(upload_url=args.upload_url)
    server = Server(
        (args.host, args.port), runner, str(args.await_explicit_shutdown).lower() in ("1", "true", "yes")
    )
    runner.start()

    def on_term(signum: int, frame: Any) -> None:
        if server.await_explicit_shutdown:
            log.info("SIGTERM ignored: waiting for POST /shutdown (--await-explicit-shutdown)")
            return
        threading.Thread(target=shutdown, args=(server,), daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    # always shown (the port may be ephemeral): at INFO, or at the configured level if that is higher
    log.log(
        max(logging.INFO, log.getEffectiveLevel()),
        "serving on http://%s:%d",
        args.host,
        server.server_address[1],
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        runner.stopping = True
        runner.stop(timeout=5)
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
