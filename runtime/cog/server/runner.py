"""The HTTP process's side of the worker: spawning, setup, predictions, slots, faults and restarts."""

from __future__ import annotations

import collections
import datetime
import logging
import os
import platform
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from .. import __version__
from .protocol import Channel, Raw, enlarge, messages
from .webhook import WebhookSender

log = logging.getLogger("cog.server.runner")
REDACTED = "**********"
KEEP_FINISHED = 1000  # finished predictions kept for GET /predictions/{id} and idempotent PUT ...
KEEP_BYTES = int(os.environ.get("COG_KEEP_OUTPUT_BYTES", str(256 << 20)))  # ... within this output budget
VERSION = {"cogpin_runtime": __version__, "python": platform.python_version()}


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
        self.secrets = [s for s in secrets if s]
        self.context = context or {}
        self.output: Any = None
        self.status = "starting"
        self.error: str | None = None
        self.logs: list[str] = []
        self.created_at = now_iso()
        self.started_at: str | None = None
        self.completed_at: str | None = None
        self.metrics: dict[str, Any] = {}
        self.size = 0
        self.done = threading.Event()
        self.subscribers: list[queue.Queue[tuple[str, Any]]] = []
        self._t0 = time.monotonic()
        self.webhook = WebhookSender(webhook, events_filter, self.to_json) if webhook else None

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, REDACTED)
        return text

    def to_json(self) -> dict[str, Any]:
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

    def publish(self, event: str, data: Any) -> None:
        for q in list(self.subscribers):
            q.put((event, data))
        if self.webhook is not None:
            self.webhook.notify({"log": "logs"}.get(event, event))


class Runner:
    def __init__(self, upload_url: str | None = None) -> None:
        self.upload_url = upload_url
        self.lock = threading.RLock()
        self.state = "STARTING"
        self.setup: dict[str, Any] = {
            "started_at": None,
            "completed_at": None,
            "status": "starting",
            "logs": "",
        }
        self._setup_logs: list[str] = []
        self.schema: dict[str, Any] | None = None
        self.is_async = False
        self.streaming = False
        self.has_healthcheck = False
        self.slots = 1
        self.active: dict[str, Prediction] = {}
        self.finished: collections.OrderedDict[str, Prediction] = collections.OrderedDict()
        self._finished_bytes = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.chan: Channel | None = None
        self.stopping = False
        self.restarts = 0
        self._health_waiters: dict[str, tuple[threading.Event, list[Any]]] = {}
        self._generation = 0
        self.schema_ready = threading.Event()

    # ------------------------------------------------------------ worker lifecycle
    def start(self) -> None:
        with self.lock:
            self._generation += 1
            gen = self._generation
            self.state = "STARTING"
            self.setup = {"started_at": now_iso(), "completed_at": None, "status": "starting", "logs": ""}
            self._setup_logs = []
        ctrl_r, ctrl_w = os.pipe()
        ev_r, ev_w = os.pipe()
        enlarge(ev_w)
        env = dict(os.environ)
        if self.upload_url:
            env["COGPIN_UPLOAD_URL"] = self.upload_url
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cog.server.worker", str(ctrl_r), str(ev_w)],
            pass_fds=(ctrl_r, ev_w),
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        os.close(ctrl_r)
        os.close(ev_w)
        self.chan = Channel(ctrl_w)
        proc = self.proc
        threading.Thread(
            target=self._read, args=(ev_r, proc, ctrl_w, gen), daemon=True, name="worker-events"
        ).start()
        timeout = os.environ.get("COG_SETUP_TIMEOUT")
        if timeout and float(timeout) > 0:
            t = threading.Timer(float(timeout), self._setup_timed_out, args=(gen, float(timeout)))
            t.daemon = True
            t.start()

    def _setup_timed_out(self, gen: int, timeout: float) -> None:
        with self.lock:
            if gen != self._generation or self.setup["status"] != "starting":
                return
            self._setup_failed(f"setup did not finish within COG_SETUP_TIMEOUT={timeout:g}s")
        if self.proc is not None:
            self.proc.kill()

    def _setup_failed(self, reason: str) -> None:
        self._setup_logs.append(reason + "\n")
        self.setup.update(status="failed", completed_at=now_iso(), logs="".join(self._setup_logs))
        self.state = "SETUP_FAILED"
        log.error("setup failed: %s", reason)

    def _read(self, fd: int, proc: subprocess.Popen[bytes], ctrl_w: int, gen: int) -> None:
        try:
            for msg in messages(fd):
                self._handle(msg)
        except Exception:  # noqa: BLE001
            log.exception("bad message from the worker")
        finally:
            os.close(fd)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        try:
            os.close(ctrl_w)
        except OSError:
            pass
        self._worker_exited(code, gen)

    def _worker_exited(self, code: int, gen: int) -> None:
        reason = describe_exit(code)
        with self.lock:
            victims = list(self.active.values())
            setup_was = self.setup["status"]
            if not self.stopping and setup_was == "starting":
                self._setup_failed(f"the worker process {reason} during setup")
            elif not self.stopping and setup_was == "succeeded":
                self.state = "STARTING"  # truthful while the worker restarts
                self.setup = {"started_at": now_iso(), "completed_at": None, "status": "starting", "logs": ""}
        for pred in victims:
            self._finish(pred, "failed", f"the worker process {reason} while running this prediction", {})
        if self.stopping:
            return
        if setup_was == "succeeded":
            log.error("worker %s; restarting it (setup runs again)", reason)
            self.restarts += 1
            time.sleep(min(0.1 * self.restarts, 2.0))
            self.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping = True
        if self.chan is not None:
            try:
                self.chan.send({"t": "stop"})
            except OSError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    # ------------------------------------------------------------ events from the worker
    def _handle(self, msg: dict[str, Any]) -> None:
        t = msg.get("t")
        pid = msg.get("id")
        pred = self.active.get(pid) if pid else None
        if t == "log":
            # Model output is kept with its prediction (or setup) and also echoed to the server's own
            # stderr, as Cog does, so `docker logs` and `cog serve` show it (Secrets redacted).
            if pred is not None:
                pred.logs.append(msg["d"])
                pred.publish("log", msg["d"])
                sys.stderr.write(pred.redact(msg["d"]) if pred.secrets else msg["d"])
            elif self.setup["status"] == "starting":
                self._setup_logs.append(msg["d"])
                self.setup["logs"] = "".join(self._setup_logs)
                sys.stderr.write(msg["d"])
            else:
                sys.stderr.write(msg["d"])
        elif t == "output" and pred is not None:
            value = msg["raw"]
            if msg.get("i") is None:
                pred.output = value
                pred.publish("output", {"chunk": value, "index": 0})
            else:
                if not isinstance(pred.output, list):
                    pred.output = []
                pred.output.append(value)
                pred.publish("output", {"chunk": value, "index": msg["i"]})
        elif t == "start" and pred is not None:
            pred.status = "processing"
            pred.started_at = now_iso()
            pred.publish("start", None)
        elif t == "metric" and pred is not None:
            pred.metrics[msg["name"]] = msg["value"]
            pred.publish("metric", {"name": msg["name"], "value": msg["value"]})
        elif t == "done" and pred is not None:
            self._finish(pred, msg["status"], msg.get("error"), msg.get("metrics") or {})
        elif t == "schema":
            self.schema = msg["schema"]
            self.is_async = bool(msg.get("async"))
            self.streaming = bool(msg.get("streaming"))
            self.has_healthcheck = bool(msg.get("healthcheck"))
            self.slots = max_concurrency() if self.is_async else 1
            self.schema_ready.set()
        elif t == "setup":
            with self.lock:
                if self.setup["status"] != "starting":
                    return
                if msg["status"] == "succeeded":
                    self.setup.update(
                        status="succeeded", completed_at=now_iso(), logs="".join(self._setup_logs)
                    )
                    self.state = "READY"
                else:
                    self._setup_failed(msg.get("error") or "setup failed")
        elif t == "health":
            waiter = self._health_waiters.pop(msg.get("nonce", ""), None)
            if waiter is not None:
                waiter[1].append(msg)
                waiter[0].set()

    def _finish(self, pred: Prediction, status: str, error: str | None, metrics: dict[str, Any]) -> None:
        with self.lock:
            if self.active.get(pred.id) is not pred:
                return
            pred.metrics.update(metrics)
            pred.metrics["predict_time"] = round(time.monotonic() - pred._t0, 6)
            pred.status = status
            pred.error = error
            pred.completed_at = now_iso()
            del self.active[pred.id]  # the slot is free before anyone hears of the result
            pred.size = _output_size(pred.output)
            self.finished[pred.id] = pred
            self._finished_bytes += pred.size
            while len(self.finished) > 1 and (
                len(self.finished) > KEEP_FINISHED or self._finished_bytes > KEEP_BYTES
            ):
                _, old = self.finished.popitem(last=False)
                self._finished_bytes -= old.size
        pred.done.set()
        pred.publish("completed", None)

    # ------------------------------------------------------------ requests
    def get(self, pid: str) -> Prediction | None:
        with self.lock:
            return self.active.get(pid) or self.finished.get(pid)

    def submit(
        self,
        kind: str,
        pid: str | None,
        cleaned: dict[str, Any],
        echo: dict[str, Any],
        secrets: list[str],
        webhook: str | None,
        events_filter: list[str] | None,
        context: dict[str, str] | None,
    ) -> Prediction:
        with self.lock:
            if self.state != "READY" or self.stopping:
                raise NotReady()
            if len(self.active) >= self.slots:
                raise Busy()
            pred = Prediction(kind, pid or uuid.uuid4().hex, echo, secrets, webhook, events_filter, context)
            self.active[pred.id] = pred
            chan = self.chan
        msg = {"t": "predict", "id": pred.id, "kind": kind, "input": cleaned, "context": context or {}}
        try:
            assert chan is not None
            chan.send(msg)
        except OSError:
            self._finish(pred, "failed", "the worker process is not running", {})
        return pred

    def cancel(self, pid: str) -> bool:
        with self.lock:
            pred = self.active.get(pid)
            known = pred is not None or pid in self.finished
            chan = self.chan
        if pred is not None and chan is not None:
            try:
                chan.send({"t": "cancel", "id": pid})
            except OSError:
                pass
        return known

    def health(self) -> dict[str, Any]:
        with self.lock:
            state = self.state
            if state == "READY" and len(self.active) >= self.slots:
                state = "BUSY"
            body: dict[str, Any] = {"status": state, "setup": dict(self.setup), "version": VERSION}
        if state in ("READY", "BUSY") and self.has_healthcheck:
            ok, error = self.user_healthcheck()
            if not ok:
                body["status"] = "UNHEALTHY"
                body["user_healthcheck_error"] = error
        return body

    def user_healthcheck(self) -> tuple[bool, str | None]:
        nonce = uuid.uuid4().hex
        ev = threading.Event()
        box: list[Any] = []
        self._health_waiters[nonce] = (ev, box)
        timeout = float(os.environ.get("COG_HEALTHCHECK_TIMEOUT", "5"))
        try:
            assert self.chan is not None
            self.chan.send({"t": "health", "nonce": nonce})
        except (OSError, AssertionError):
            return False, "the worker process is not running"
        if not ev.wait(timeout):
            self._health_waiters.pop(nonce, None)
            return False, f"healthcheck timed out after {timeout:g}s"
        return bool(box[0]["ok"]), box[0].get("error")


def _output_size(output: Any) -> int:
    if isinstance(output, Raw):
        return len(output.data)
    if isinstance(output, list):
        return sum(_output_size(o) for o in output)
    return 0


def max_concurrency() -> int:
    env = os.environ.get("COG_MAX_CONCURRENCY")
    if env:
        return max(1, int(env))
    try:
        with open("cog.yaml", encoding="utf-8") as f:
            in_block = False
            for line in f:
                if line.startswith("concurrency:"):
                    in_block = True
                elif in_block and line.strip().startswith("max:"):
                    return max(1, int(line.split(":", 1)[1].split("#")[0].strip()))
                elif line.strip() and not line.startswith((" ", "\t", "#")):
                    in_block = False
    except (OSError, ValueError):
        pass
    return 1


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory? the OOM killer sends SIGKILL)" if -code == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"
