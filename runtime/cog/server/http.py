"""The HTTP server: `python -m cog.server.http [--host H] [--port P] [--upload-url U]
[--await-explicit-shutdown true] [--threads N]`.

Environment: PORT (default 5000), COG_PREDICT_TYPE_STUB, COG_TRAIN_TYPE_STUB, COG_MAX_CONCURRENCY,
COG_SETUP_TIMEOUT, COG_LOG_LEVEL, COG_LOG_FORMAT=json, COG_WEIGHTS, WEBHOOK_AUTH_TOKEN,
COG_MAX_BODY_BYTES, COG_MAX_JSON_DEPTH, COG_IDLE_TIMEOUT, COG_SHUTDOWN_TIMEOUT, COG_SHUTDOWN_WEBHOOK_TIMEOUT
(the rest: runtime/README.md). The model runs in a worker process (cog.server.worker); this process never imports it.
"""

from __future__ import annotations

import _thread
import argparse
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from .. import __version__
from . import lifecycle, spool
from .create import CreateFlow
from .framing import HTTPError
from .memory import tune_malloc
from .runner import Runner
from .shutdown import shutdown

log = logging.getLogger("cog.server.http")
IDLE_TIMEOUT = float(os.environ.get("COG_IDLE_TIMEOUT", "60"))


class Server(ThreadingHTTPServer):
    """Connections are accepted by the threads that serve them: a few idle threads wait in accept() (one
    more is started whenever the last idle one takes a connection), so a request never waits for a thread
    to be started or handed over. Idle connections close after COG_IDLE_TIMEOUT."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    max_idle_threads = 4

    def __init__(self, addr: tuple[str, int], runner: Runner, await_explicit_shutdown: bool) -> None:
        super().__init__(addr, Handler)
        self.runner = runner
        self.await_explicit_shutdown = await_explicit_shutdown
        self.shutting_down = threading.Event()
        self.in_flight = 0
        self.in_flight_lock = threading.Lock()
        self._stopped = threading.Event()
        self._idle = 0
        self._idle_lock = threading.Lock()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        # Acceptors block in accept(): the kernel wakes exactly one of them per connection (a timeout
        # would make each poll() first, and wake every idle acceptor for each connection). shutdown()
        # wakes them all by shutting the listening socket down.
        self.socket.settimeout(None)
        for _ in range(2):
            self._spawn_acceptor()
        self._stopped.wait()

    def shutdown(self) -> None:
        self._stopped.set()
        try:
            self.socket.shutdown(socket.SHUT_RDWR)  # blocked accept()s return (EINVAL) and see the flag
        except OSError:
            pass

    def _spawn_acceptor(self) -> None:
        with self._idle_lock:
            self._idle += 1
        # the low-level call returns at once (threading.Thread.start waits for the thread to run)
        _thread.start_new_thread(self._accept_loop, ())

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, addr = self.socket.accept()
            except OSError:
                if self._stopped.is_set():
                    break
                time.sleep(0.05)  # out of file descriptors, say: try again shortly
                continue
            with self._idle_lock:
                self._idle -= 1
                spawn = self._idle < 1
            if spawn:
                self._spawn_acceptor()
            try:
                self.finish_request(conn, addr)
            except Exception:  # noqa: BLE001 - one connection's failure is logged, never fatal
                log.exception("error serving a connection from %s", addr[0] if addr else "?")
            finally:
                self.shutdown_request(conn)
            with self._idle_lock:
                if self._idle >= self.max_idle_threads:
                    return
                self._idle += 1
        with self._idle_lock:
            self._idle -= 1


class Handler(CreateFlow):
    """Routing and the small endpoints; reading requests: framing.py, writing responses: respond.py,
    creating predictions: create.py."""

    protocol_version = "HTTP/1.1"
    server_version = "cogpin"
    sys_version = ""
    server: Server
    timeout = IDLE_TIMEOUT  # an idle (or stalled) connection is closed, its thread freed

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.client_address[0], *args)

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
            with runner.lines_in_order:  # after the lines of a prediction whose answer is out
                lifecycle.line(lifecycle.SHUTDOWN_REQUESTED)
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
    lifecycle.startup()
    tune_malloc()
    runner = Runner(upload_url=args.upload_url)
    server = Server(
        (args.host, args.port), runner, str(args.await_explicit_shutdown).lower() in ("1", "true", "yes")
    )
    runner.start()

    def on_term(signum: int, frame: Any) -> None:
        if not server.await_explicit_shutdown:
            lifecycle.line(lifecycle.SIGINT if signum == signal.SIGINT else lifecycle.SIGTERM)
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
    lifecycle.line(f"Starting coglet server on {args.host}:{server.server_address[1]}")
    gc.freeze()  # the modules loaded so far are never scanned by the garbage collector again
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        runner.stopping = True
        runner.stop(timeout=5)
        server.server_close()
        spool.remove_all()
        lifecycle.line(lifecycle.SHUTDOWN_COMPLETE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
