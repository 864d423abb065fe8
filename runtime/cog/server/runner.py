"""The HTTP process's side of the worker: spawning, setup, predictions, slots, faults and restarts
(the prediction records themselves: cog.server.records)."""

from __future__ import annotations

import collections
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
from collections.abc import Callable
from typing import Any

from .. import __version__
from .. import metrics as user_metrics
from . import lifecycle, spool, sse
from .protocol import Channel, dumps, enlarge, messages
from .records import Busy, Finished, NotReady, Prediction, now_iso

log = logging.getLogger("cog.server.runner")
KEEP_FINISHED = 1000  # finished predictions kept for GET /predictions/{id} and idempotent PUT ...
# ... within this budget of bytes (their inputs, logs and outputs together)
KEEP_BYTES = int(os.environ.get("COG_KEEP_BYTES", os.environ.get("COG_KEEP_OUTPUT_BYTES", str(256 << 20))))
CANCEL_GRACE = float(os.environ.get("COG_CANCEL_GRACE", "5"))  # then the worker is killed and restarted
# a worker that ran this long since it was ready starts the restart backoff afresh
BACKOFF_RESET = float(os.environ.get("COG_RESTART_BACKOFF_RESET", "60"))
VERSION = {"cogpin_runtime": __version__, "python": platform.python_version()}


class Runner:
    def __init__(self, upload_url: str | None = None) -> None:
        self.upload_url = upload_url
        self.lock = threading.RLock()
        # held from a prediction's answer to its last lifecycle line: a request its client sends after
        # the answer (POST /shutdown) logs after that prediction's lines, in Cog's order
        self.lines_in_order = threading.Lock()
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
        self.finished: collections.OrderedDict[str, tuple[str, bytes]] = collections.OrderedDict()
        self._finished_bytes = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.chan: Channel | None = None
        self.pred_chan: Channel | None = None
        self.stopping = False
        self.restarts = 0
        self.ready_since = 0.0
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
        pred_r, pred_w = os.pipe()  # predictions only: in a sync worker, read by the thread that runs them
        enlarge(ev_w)
        enlarge(pred_w)
        env = dict(os.environ)
        if self.upload_url:
            env["COGPIN_UPLOAD_URL"] = self.upload_url
        env["PYTHONUNBUFFERED"] = "1"
        env[spool.ENV] = spool.spool_dir()
        lifecycle.line(lifecycle.SPAWNING)
        ref = os.environ.get("COG_PREDICT_TYPE_STUB") or os.environ.get("COG_TRAIN_TYPE_STUB")
        if ref:
            lifecycle.line(lifecycle.LOADING, predictor_ref=lifecycle.Shown(ref))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cog.server.worker", str(ctrl_r), str(ev_w), str(pred_r)],
            pass_fds=(ctrl_r, ev_w, pred_r),
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        os.close(ctrl_r)
        os.close(ev_w)
        os.close(pred_r)
        self.chan = Channel(ctrl_w)
        self.pred_chan = Channel(pred_w)
        proc = self.proc
        threading.Thread(
            target=self._read,
            args=(ev_r, proc, self.chan, self.pred_chan, gen),
            daemon=True,
            name="worker-events",
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
        lifecycle.line(lifecycle.INIT_FAILED, logging.ERROR, error=lifecycle.Shown(reason))

    def _read(
        self, fd: int, proc: subprocess.Popen[bytes], chan: Channel, pred_chan: Channel, gen: int
    ) -> None:
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
        chan.close()
        pred_chan.close()
        self._worker_exited(code, gen)

    def _worker_exited(self, code: int, gen: int) -> None:
        reason = describe_exit(code)
        with self.lock:
            victims = list(self.active.values())
            setup_was = self.setup["status"]
            if not self.stopping:
                lifecycle.line(lifecycle.WORKER_CRASHED, logging.WARNING)
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
            if time.monotonic() - self.ready_since > BACKOFF_RESET:
                self.restarts = 0  # it ran well for a while: this is not a crash loop
            self.restarts += 1
            backoff = min(0.1 * self.restarts, 2.0)
            log.error("worker %s; restart #%d in %gs (setup runs again)", reason, self.restarts, backoff)
            time.sleep(backoff)
            self.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping = True
        if self.chan is not None:
            try:
                self.chan.send({"t": "stop"})
            except OSError:
                pass
        if self.pred_chan is not None:
            self.pred_chan.close()  # a sync worker waits for its next prediction on this pipe
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
                self._log_start(pred)
                pred.logs.append(msg["d"])
                text = pred.redact_stream(msg["d"])
                pred.log_source = msg.get("s") or pred.log_source
                if text:
                    pred.publish("log", {"source": pred.log_source, "data": text})
                    sys.stderr.write(text)
            elif self.setup["status"] == "starting":
                self._setup_logs.append(msg["d"])
                self.setup["logs"] = "".join(self._setup_logs)
                sys.stderr.write(msg["d"])
            else:
                # fd-level output while several predictions run cannot be told apart: it goes to the
                # server log only, with the secrets of every running prediction redacted
                text = msg["d"]
                for other in list(self.active.values()):
                    text = other.redact(text)
                sys.stderr.write(text)
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
            self._started(pred)
        elif t == "metric" and pred is not None:
            mode = msg.get("mode") or "replace"
            user_metrics.apply(pred.metrics, msg["name"], msg["value"], mode)  # dot paths nest, as in Cog
            pred.publish("metric", {"name": msg["name"], "value": msg["value"], "mode": mode})
        elif t == "done" and pred is not None:
            self._finish(pred, msg["status"], msg.get("error"), msg.get("metrics") or {})
        elif t == "schema":
            self.schema = msg["schema"]
            self.is_async = bool(msg.get("async"))
            self.streaming = bool(msg.get("streaming"))
            self.has_healthcheck = bool(msg.get("healthcheck"))
            self.slots = max_concurrency() if self.is_async else 1
            self.schema_ready.set()
            lifecycle.line(lifecycle.RUNNING_SETUP)
        elif t == "setup":
            with self.lock:
                if self.setup["status"] != "starting":
                    return
                if msg["status"] == "succeeded":
                    self.setup.update(
                        status="succeeded", completed_at=now_iso(), logs="".join(self._setup_logs)
                    )
                    self.state = "READY"
                    self.ready_since = time.monotonic()
                    lifecycle.line(lifecycle.SETUP_COMPLETE)
                    mode = (
                        "predict"
                        if self.schema and "/predictions" in self.schema.get("paths", {})
                        else "train"
                    )
                    lifecycle.line(lifecycle.SERVER_READY, num_slots=self.slots, mode=mode)
                    lifecycle.line(lifecycle.ACCEPTING)
                else:
                    self._setup_failed(msg.get("error") or "setup failed")
        elif t == "health":
            waiter = self._health_waiters.pop(msg.get("nonce", ""), None)
            if waiter is not None:
                waiter[1].append(msg)
                waiter[0].set()

    def _started(self, pred: Prediction) -> None:
        with self.lock:
            if self.active.get(pred.id) is not pred or pred.started_at is not None:
                return
            pred.status = "processing"
            pred.started_at = now_iso()
        pred.publish("start", None)

    @staticmethod
    def _log_start(pred: Prediction) -> None:
        """Cog's "Starting prediction" line, written before the prediction's first log line or after its
        answer, never between the request and the answer (a log write there cost ~0.3 ms of latency)."""
        if not pred.start_logged:
            pred.start_logged = True
            lifecycle.line(lifecycle.STARTING_PREDICTION, prediction_id=lifecycle.Shown(pred.id))

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
            held = pred.redact_stream("", final=True)
            pred.final = dumps(pred._json())
            # kept as (kind, JSON bytes): exact in the byte budget, and nothing for the GC to scan
            self.finished[pred.id] = (pred.kind, pred.final)
            self._finished_bytes += len(pred.final)
            while len(self.finished) > 1 and (
                len(self.finished) > KEEP_FINISHED or self._finished_bytes > KEEP_BYTES
            ):
                _, (_, old) = self.finished.popitem(last=False)
                self._finished_bytes -= len(old)
            if self._finished_bytes > KEEP_BYTES and not pred.polled:
                # alone larger than the budget, and its client already has it (sync) or a webhook will
                del self.finished[pred.id]
                self._finished_bytes -= len(pred.final)
        if pred.spooled:  # files the worker did not take (it failed or crashed first)
            spool.discard(pred.spooled)
        if held:
            self._log_start(pred)
            pred.publish("log", {"source": pred.log_source, "data": held})
            sys.stderr.write(held)
        with self.lines_in_order:
            if pred.answer is not None and pred.final is not None:
                pred.unanswered = pred.answer(pred.final)  # before done: the handler writes only the rest
            pred.done.set()
            pred.publish("completed", None)
            self._log_end(pred, status, error)

    def _log_end(self, pred: Prediction, status: str, error: str | None) -> None:
        """Cog's lines for a prediction that ended (after its answer is out)."""
        if pred.started_at is not None:
            self._log_start(pred)
        pid = lifecycle.Shown(pred.id)
        if status == "succeeded":
            lifecycle.line(lifecycle.SUCCEEDED, prediction_id=pid, predict_time=pred.metrics["predict_time"])
        elif status == "failed":
            lifecycle.line(
                lifecycle.FAILED, prediction_id=pid, error=lifecycle.Shown(pred.redact(error or ""))
            )
        else:
            lifecycle.line(lifecycle.CANCELLED, prediction_id=pid)

    # ------------------------------------------------------------ requests
    def get(self, pid: str) -> Prediction | Finished | None:
        with self.lock:
            pred = self.active.get(pid)
            if pred is not None:
                return pred
            kept = self.finished.get(pid)
        return Finished(pid, kept[0], kept[1]) if kept is not None else None

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
        polled: bool = False,
        answer: Callable[[bytes], bytes | None] | None = None,
        subscriber: queue.Queue[tuple[str, Any]] | None = None,
        spooled: list[str] | None = None,
    ) -> Prediction:
        with self.lock:
            if self.state != "READY" or self.stopping:
                raise NotReady()
            if len(self.active) >= self.slots:
                raise Busy()
            pred = Prediction(kind, pid or uuid.uuid4().hex, echo, secrets, webhook, events_filter, context)
            pred.polled = polled
            pred.spooled = spooled or []
            pred.answer = answer
            if self.streaming and sse.history_capacity() > 0:
                pred.history = collections.deque(maxlen=sse.history_capacity())
            if subscriber is not None:  # before the worker can produce any event
                pred.subscribers.append(subscriber)
            self.active[pred.id] = pred
            chan = self.pred_chan
        msg = {"t": "predict", "id": pred.id, "kind": kind, "input": cleaned, "context": context or {}}
        try:
            if chan is None:
                raise OSError("no channel")
            if not self.is_async:  # the sync worker is idle (one slot): it starts this prediction now
                self._started(pred)  # (before the hand-over: its first log must not come before this)
            chan.send(msg)
        except OSError:
            self._finish(pred, "failed", "the worker process is not running", {})
        except Exception as e:  # noqa: BLE001 - whatever fails between taking the slot and the worker having
            # the prediction frees the slot and fails that prediction only
            log.exception("could not hand prediction %r to the worker", pred.id)
            self._finish(
                pred, "failed", f"could not hand the prediction to the worker: {type(e).__name__}", {}
            )
        return pred

    def cancel(self, pid: str) -> bool:
        with self.lock:
            pred = self.active.get(pid)
            known = pred is not None or pid in self.finished
            chan = self.chan
        if pred is not None and chan is not None:
            if not pred.cancel_requested:
                lifecycle.line(lifecycle.CANCELLING, prediction_id=lifecycle.Shown(pid))
            try:
                chan.send({"t": "cancel", "id": pid})
            except OSError:
                pass
            if not pred.cancel_requested:
                pred.cancel_requested = True
                t = threading.Timer(CANCEL_GRACE, self._escalate_cancel, args=(pred, self.proc))
                t.daemon = True
                t.start()
        return known

    def _escalate_cancel(self, pred: Prediction, proc: subprocess.Popen[bytes] | None) -> None:
        """A prediction still running CANCEL_GRACE seconds after its cancel (a long C call, a model that
        ignores the signal): it is canceled, and the worker killed and restarted (setup runs again). An
        async worker is only killed when that prediction is the only one it runs."""
        with self.lock:
            if self.active.get(pred.id) is not pred or self.proc is not proc or proc is None:
                return
            if len(self.active) > 1:
                log.warning("prediction %r ignores its cancel; other predictions run, so it is left", pred.id)
                return
            self.state = "STARTING"  # nothing new goes to the worker about to be killed
        log.warning(
            "prediction %r still running %gs after its cancel: killing the worker (it restarts)",
            pred.id,
            CANCEL_GRACE,
        )
        self._finish(pred, "canceled", None, {})
        proc.kill()

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
            return (
                False,
                f"Healthcheck failed: user-defined healthcheck timed out after {timeout:.1f} seconds",
            )
        return bool(box[0]["ok"]), box[0].get("error")


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
