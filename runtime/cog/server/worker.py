"""The worker process: imports the model, runs setup() once and predict() per request.

Started by the HTTP process as `python -m cog.server.worker CTRL_FD EVENT_FD PREDICT_FD`. File descriptors 1 and 2 are
pipes read here, so everything model code writes (print, logging, C extensions, subprocesses) becomes the
logs of the running prediction (or of setup).
"""

from __future__ import annotations

import contextvars
import ctypes
import gc
import inspect
import io
import itertools
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import typing
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ..exceptions import CancelationException
from ..output_check import OutputTypeError, check_output, item_type
from ..predictor import LoadedPredictor, load_object
from ..schema import is_file, is_path, openapi_schema
from ..scope import Scope, reset_scope, set_scope
from ..signature import Param, inputs_of, return_type_of
from ..types import Path
from .capture import Attributed, LogCapture, _current_id, attribute_subprocesses
from .codec import coerce, encode
from .memory import give_memory_back, tune_malloc
from .protocol import Channel, dumps, messages

if TYPE_CHECKING:
    import asyncio


class Worker:
    def __init__(self, chan: Channel) -> None:
        self.chan = chan
        self.capture = LogCapture(chan)
        self.predictor: LoadedPredictor | None = None
        self.trainer: LoadedPredictor | None = None
        self.params: dict[str, list[Param]] = {}
        self.returns: dict[str, Any] = {}  # the declared output type per kind
        self.file_params: dict[str, set[str]] = {}  # inputs that are files (fetched from URLs)
        self.upload_url = os.environ.get("COGPIN_UPLOAD_URL") or None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self.running_sync: str | None = None
        self.sync_lock = threading.Lock()
        self.early_cancels: set[str] = set()  # canceled before they started
        self.trim = False  # a big request came: give its memory back to the system when idle
        self.cancel_sync: str | None = None
        self.main_thread = threading.main_thread()

    # ---------------------------------------------------------------- start
    def load(self) -> bool:
        predict_ref = os.environ.get("COG_PREDICT_TYPE_STUB") or None
        train_ref = os.environ.get("COG_TRAIN_TYPE_STUB") or None
        try:
            if predict_ref:
                self.predictor = LoadedPredictor(load_object(predict_ref), "predict")
                self.params["predict"] = inputs_of(self.predictor.fn)
                self.returns["predict"] = return_type_of(self.predictor.fn)
                self.file_params["predict"] = {p.name for p in self.params["predict"] if _has_file(p.type)}
            if train_ref:
                self.trainer = LoadedPredictor(load_object(train_ref), "train")
                self.params["train"] = inputs_of(self.trainer.fn)
                self.returns["train"] = return_type_of(self.trainer.fn)
                self.file_params["train"] = {p.name for p in self.params["train"] if _has_file(p.type)}
            if self.predictor is None and self.trainer is None:
                raise RuntimeError("no predictor: set COG_PREDICT_TYPE_STUB (e.g. predict.py:Predictor)")
            schema = openapi_schema(
                self.predictor.fn if self.predictor else None, self.trainer.fn if self.trainer else None
            )
        except BaseException as e:  # noqa: BLE001 - any import/signature failure is a setup failure
            traceback.print_exc()
            self.capture.flush()
            self.chan.send(
                {"t": "setup", "status": "failed", "error": f"invalid predictor: {type(e).__name__}: {e}"}
            )
            return False
        p = self.predictor or self.trainer
        assert p is not None
        self.chan.send(
            {
                "t": "schema",
                "schema": schema,
                "async": p.is_async,
                "streaming": p.streaming,
                "healthcheck": p.healthcheck_fn is not None,
            }
        )
        return True

    def setup(self) -> bool:
        try:
            for lp in (self.predictor, self.trainer):
                if lp is None or lp.setup_fn is None:
                    continue
                if lp is self.trainer and self.predictor is not None and lp.obj is self.predictor.obj:
                    continue
                fn = lp.setup_fn
                kwargs = {}
                if "weights" in inspect.signature(fn).parameters:
                    kwargs["weights"] = _weights()
                result = fn(**kwargs)
                if inspect.iscoroutine(result):
                    if self.loop is not None:
                        self.loop.run_until_complete(result)
                    else:
                        import asyncio

                        asyncio.run(result)
        except BaseException as e:  # noqa: BLE001
            traceback.print_exc()
            self.capture.flush()
            self.chan.send(
                {"t": "setup", "status": "failed", "error": f"setup failed: {type(e).__name__}: {e}"}
            )
            return False
        self.capture.flush()
        self.chan.send({"t": "setup", "status": "succeeded"})
        return True

    # ---------------------------------------------------------------- control
    def control(self, fd: int) -> None:
        """Cancel, health and stop messages (predictions come on a pipe of their own)."""
        for msg in messages(fd):
            t = msg.get("t")
            if t == "cancel":
                self._cancel(msg["id"])
            elif t == "health":
                threading.Thread(target=self._health, args=(msg,), daemon=True).start()
            elif t == "stop":
                break
        # the HTTP process went away or asked us to stop (it also closes the predictions pipe)
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)

    def predictions(self, fd: int) -> Iterator[dict[str, Any]]:
        for msg in messages(fd):
            if msg.get("t") != "predict":
                continue
            if msg.pop("big", False):
                self.trim = True
            box = [msg]
            del msg  # (see messages())
            yield box.pop()

    def feed_loop(self, fd: int) -> None:
        assert self.loop is not None
        for msg in self.predictions(fd):
            self.loop.call_soon_threadsafe(self._start_task, msg)
            del msg
        self.loop.call_soon_threadsafe(self.loop.stop)

    def _cancel(self, pid: str) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._cancel_task, pid)
            return
        with self.sync_lock:
            if self.running_sync == pid:
                self.cancel_sync = pid
                signal.pthread_kill(self.main_thread.ident or 0, signal.SIGUSR1)
            else:  # still queued: it is canceled when its turn comes
                if len(self.early_cancels) > 1000:
                    self.early_cancels.clear()
                self.early_cancels.add(pid)
                return
        threading.Thread(target=self._resignal, args=(pid,), daemon=True).start()

    def _resignal(self, pid: str) -> None:
        """Send the cancel signal again until its handler has run. A signal that lands after the model's
        last bytecode but before a blocking call (time.sleep, a read) only sets a flag: Python acts on it when
        that call returns, so one signal can be lost for the length of the call."""
        delay = 0.02
        while True:
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
            with self.sync_lock:
                if self.running_sync != pid or self.cancel_sync != pid:
                    return  # handled (the handler clears cancel_sync), or the prediction ended
                signal.pthread_kill(self.main_thread.ident or 0, signal.SIGUSR1)

    def _cancel_task(self, pid: str) -> None:
        task = self.tasks.get(pid)
        if task is not None:
            task.cancel()
        else:  # the cancel overtook its prediction (they come on different pipes)
            if len(self.early_cancels) > 1000:
                self.early_cancels.clear()
            self.early_cancels.add(pid)

    def _on_sigusr1(self, signum: int, frame: Any) -> None:
        if self.running_sync is not None and self.cancel_sync == self.running_sync:
            self.cancel_sync = None
            raise CancelationException()

    def _health(self, msg: dict[str, Any]) -> None:
        import asyncio

        p = self.predictor or self.trainer
        ok, error = True, None
        try:
            fn = p.healthcheck_fn if p else None
            if fn is not None:
                result = fn()
                if inspect.iscoroutine(result):
                    if self.loop is not None:
                        result = asyncio.run_coroutine_threadsafe(result, self.loop).result()
                    else:
                        result = asyncio.run(result)
                if result is False:  # Cog's words (coglet's predictor.rs)
                    ok, error = False, "Healthcheck failed: user-defined healthcheck returned False"
        except BaseException as e:  # noqa: BLE001
            ok, error = False, f"Healthcheck failed: {type(e).__name__}: {e}"
        self.chan.send({"t": "health", "nonce": msg.get("nonce"), "ok": ok, "error": error})

    # ---------------------------------------------------------------- predictions
    def _target(self, kind: str) -> LoadedPredictor:
        lp = self.trainer if kind == "train" else self.predictor
        if lp is None:
            raise RuntimeError(f"this model has no {kind} function")
        return lp

    def _prepare(self, kind: str, raw: dict[str, Any], tmp: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for p in self.params.get(kind, []):
            if p.name in raw:
                kwargs[p.name] = coerce(p.type, raw[p.name], tmp, p.name)
            elif not p.field.required:
                default = p.field.default
                kwargs[p.name] = coerce(p.type, default, tmp, p.name) if isinstance(default, str) else default
            else:
                raise ValueError(f"missing required input {p.name!r}")
        return kwargs

    def _begin(self, msg: dict[str, Any]) -> tuple[str, Scope, str]:
        pid = msg["id"]
        self.capture.active.append(pid)

        def on_metric(name: str, value: Any, mode: str) -> None:
            self.chan.send({"t": "metric", "id": pid, "name": name, "value": value, "mode": mode})

        scope = Scope(msg.get("context") or {}, on_metric)
        # created on first use (by a file input): most predictions never touch the disk
        tmp = os.path.join(tempfile.gettempdir(), f"cog-input-{os.getpid()}-{next(_counter)}")
        if self.loop is not None:  # a sync prediction starts when the server hands it over (it marks it)
            self.chan.send({"t": "start", "id": pid})
        return pid, scope, tmp

    def _end(self, pid: str, scope: Scope, tmp: str, status: str, error: str | None) -> None:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        self.capture.finish_children(pid)
        self.capture.flush()
        try:
            self.capture.active.remove(pid)
        except ValueError:
            pass
        metrics = scope.metrics.values  # JSON already (cog.metrics)
        self.chan.send({"t": "done", "id": pid, "status": status, "error": error, "metrics": metrics})
        if self.trim and self.loop is not None and not self.capture.active:
            self.trim = False  # async: the last prediction is done (a sync worker trims in its loop)
            self.loop.call_soon(give_memory_back)  # after this task's frame is gone

    def _emit(self, pid: str, value: Any, index: int | None) -> None:
        # a single output goes out with the done message that follows it (an iterator's items stream)
        data = dumps(encode(value, self.upload_url))
        self.chan.send({"t": "output", "id": pid, "i": index}, data, hold=index is None)

    def _emit_result(self, pid: str, result: Any, rtype: Any) -> None:
        """An iterator's items stream one by one (each checked against the item type); a single value goes
        out with the done message."""
        if _is_iterator(result):
            each = item_type(rtype)
            for i, item in enumerate(result):
                self._emit(pid, check_output(each, item, i), i)
        else:
            self._emit(pid, check_output(rtype, result), None)

    def run_sync(self, msg: dict[str, Any]) -> None:
        pid, scope, tmp = self._begin(msg)
        status, error = "succeeded", None
        token = set_scope(scope)
        id_token = _current_id.set(pid)
        # model code may have changed SIGUSR1 (say, to SIG_IGN) in an earlier prediction
        signal.signal(signal.SIGUSR1, self._on_sigusr1)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
        try:
            with self.sync_lock:
                self.running_sync = pid
                early = pid in self.early_cancels
                self.early_cancels.discard(pid)
            if early:
                raise CancelationException()
            lp = self._target(msg.get("kind", "predict"))
            kwargs = self._prepare(msg.get("kind", "predict"), msg.get("input") or {}, tmp)
            result = lp.fn(**kwargs)
            self._emit_result(pid, result, self.returns.get(msg.get("kind", "predict")))
        except CancelationException:
            status = "canceled"
        except BaseException as e:  # noqa: BLE001 - SystemExit and friends fail the prediction only
            status, error = "failed", _error_text(e)
            _print_error(e)
        finally:
            # a cancel arriving now is too late: held back until the next prediction (which ignores it)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
            with self.sync_lock:
                self.running_sync = None
                self.cancel_sync = None
            _current_id.reset(id_token)
            reset_scope(token)
        self._end(pid, scope, tmp, status, error)

    def _start_task(self, msg: dict[str, Any]) -> None:
        assert self.loop is not None
        ctx = contextvars.copy_context()
        begun = self._begin(msg)
        coro = Attributed(self.run_async(msg, *begun), msg["id"], self.capture)
        task = self.loop.create_task(coro, context=ctx) if sys.version_info >= (3, 11) else None
        if task is None:
            task = ctx.run(self.loop.create_task, coro)
        self.tasks[msg["id"]] = task
        if msg["id"] in self.early_cancels:
            self.early_cancels.discard(msg["id"])
            task.cancel()
        # every task reports its end here, also one canceled before its first step (its body never runs)
        task.add_done_callback(lambda t: self._task_done(begun, t))

    def _task_done(self, begun: tuple[str, Scope, str], task: asyncio.Task[Any]) -> None:
        pid, scope, tmp = begun
        self.tasks.pop(pid, None)
        if task.cancelled():
            status, error = "canceled", None
        elif task.exception() is not None:
            status, error = "failed", _error_text(task.exception())  # type: ignore[arg-type]
        else:
            status, error = task.result()
        self._end(pid, scope, tmp, status, error)

    async def run_async(
        self, msg: dict[str, Any], pid: str, scope: Scope, tmp: str
    ) -> tuple[str, str | None]:
        import asyncio

        set_scope(scope)
        _current_id.set(pid)
        try:
            kind = msg.get("kind", "predict")
            lp = self._target(kind)
            raw = msg.get("input") or {}
            if self.file_params.get(kind, set()) & raw.keys():
                # downloads run on a thread of their own: a hung one never holds up other predictions
                kwargs = await _in_thread(self._prepare, kind, raw, tmp)
            else:
                kwargs = self._prepare(kind, raw, tmp)
            result = lp.fn(**kwargs)
            if inspect.iscoroutine(result):
                result = await result
            rtype = self.returns.get(kind)
            if inspect.isasyncgen(result) or isinstance(result, AsyncIterator):
                each = item_type(rtype)
                i = 0
                async for item in result:
                    self._emit(pid, check_output(each, item, i), i)
                    i += 1
            else:
                self._emit_result(pid, result, rtype)
        except (asyncio.CancelledError, CancelationException):
            return "canceled", None
        except BaseException as e:  # noqa: BLE001
            _print_error(e)
            return "failed", _error_text(e)
        return "succeeded", None

    # ---------------------------------------------------------------- main
    def serve(self, ctrl_fd: int, predict_fd: int) -> None:
        p = self.predictor or self.trainer
        assert p is not None
        if p.is_async:
            import asyncio  # only async predictors pay for it

            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            attribute_subprocesses(self.capture)
        if not self.setup():
            return
        gc.freeze()  # what setup loaded (the model) is never scanned by the garbage collector again
        threading.Thread(target=self.control, args=(ctrl_fd,), daemon=True).start()
        if self.loop is not None:
            threading.Thread(target=self.feed_loop, args=(predict_fd,), daemon=True).start()
            self.loop.run_forever()
            return
        # sync: this thread reads the predictions itself (no hand-over between threads per request)
        signal.signal(signal.SIGUSR1, self._on_sigusr1)
        for msg in self.predictions(predict_fd):
            try:
                self.run_sync(msg)
            except CancelationException:  # a cancel that arrived just after the prediction ended
                pass
            del msg  # before giving memory back: a big input is no longer referenced
            if self.trim:
                self.trim = False
                give_memory_back()


_counter = itertools.count()


def _has_file(tp: Any) -> bool:
    return is_path(tp) or is_file(tp) or any(_has_file(a) for a in typing.get_args(tp))


def _in_thread(fn: Any, *args: Any) -> Any:
    """Run fn on a new daemon thread; an awaitable of its result (abandoned, not joined, when canceled)."""
    import asyncio

    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def run() -> None:
        try:
            value = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the prediction
            loop.call_soon_threadsafe(settle, False, e)
        else:
            loop.call_soon_threadsafe(settle, True, value)

    threading.Thread(target=run, daemon=True, name="cog-input-files").start()
    return future


def _die_with_parent() -> None:
    """Linux: the worker gets SIGKILL when the HTTP process dies, so it never outlives it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _weights() -> Any:
    url = os.environ.get("COG_WEIGHTS")
    if url:
        return Path(url) if os.path.exists(url) else url
    return Path("weights") if os.path.exists("weights") else None


def _is_iterator(value: Any) -> bool:
    if isinstance(value, (str, bytes, dict, list, io.IOBase)):
        return False
    return inspect.isgenerator(value) or isinstance(value, Iterator)


def _print_error(e: BaseException) -> None:
    """Into the prediction's logs: the traceback of model code; just the message for a wrong output type."""
    if isinstance(e, OutputTypeError):
        print(f"error: {e}", file=sys.stderr)
    else:
        traceback.print_exc()


def _error_text(e: BaseException) -> str:
    if isinstance(e, SystemExit):
        return f"prediction called sys.exit({e.code!r})"
    text = str(e)
    return text if text else type(e).__name__


def main(argv: list[str]) -> int:
    ctrl_fd, event_fd, predict_fd = int(argv[0]), int(argv[1]), int(argv[2])
    chan = Channel(event_fd)
    # SIGTERM/SIGINT are for the HTTP process; the worker is stopped through its control pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    tune_malloc()
    worker = Worker(chan)
    if not worker.load():
        return 1
    worker.serve(ctrl_fd, predict_fd)
    worker.capture.flush()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)
