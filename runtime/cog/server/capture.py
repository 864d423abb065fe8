"""What model code writes, and to which prediction it belongs.

fds 1 and 2 of the worker are pipes read by a thread each; sys.stdout/sys.stderr are replaced by streams
that send what Python code writes straight to the prediction whose context it runs in (a contextvar, so
async tasks and their threads are told apart). Output written below Python (os.write, C libraries,
subprocesses) reaches the pipes without a context:

- with one prediction running it is that prediction's;
- in an async worker with several running, output written while a task runs one of its steps is that
  task's (the loop thread flushes C stdio and takes what is in the pipes when each step ends), and a
  subprocess started inside a prediction gets pipes of its own, read into that prediction's logs;
- what is left (a thread writing to fd 1 while another task runs) goes to the server log, with the
  secrets of every running prediction redacted.

Coglet sends all fd-level output to the worker log; this keeps it with its prediction where that is known.
"""

from __future__ import annotations

import collections.abc
import contextvars
import ctypes
import fcntl
import io
import os
import select
import struct
import sys
import termios
import threading
from typing import Any

from .protocol import Channel

_current_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("cog_prediction_id", default=None)
SENTINEL = b"\x00__cogpin_flush__\x00"


class LogCapture:
    """fds 1/2 → pipes read by threads; data goes to the single active prediction or to setup/server logs."""

    def __init__(self, chan: Channel) -> None:
        self.chan = chan
        self.active: list[str] = []
        self.seen = {1: threading.Event(), 2: threading.Event()}
        self.busy = {1: False, 2: False}
        self.read_fds: dict[int, int] = {}
        self.locks = {1: threading.Lock(), 2: threading.Lock()}
        self.owner: str | None = None  # the prediction whose async step runs now (with several running)
        self.children: dict[str, list[tuple[threading.Thread, Any]]] = {}  # its subprocesses' readers
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, name in ((1, "stdout"), (2, "stderr")):
            r, w = os.pipe()
            os.dup2(w, fd)
            os.close(w)
            os.set_blocking(r, False)  # the loop thread also reads it (drain), so a read may find it empty
            self.read_fds[fd] = r
            threading.Thread(target=self._pump, args=(fd, r, name), daemon=True).start()
        sys.stdout = _Stream("stdout", sys.stdout, chan)  # type: ignore[assignment]
        sys.stderr = _Stream("stderr", sys.stderr, chan)  # type: ignore[assignment]

    def _pump(self, fd: int, r: int, name: str) -> None:
        # poll first, then mark busy, then read: data is either still in the pipe (FIONREAD > 0) or being
        # handled (busy), so flush() never misses output in between.
        poller = select.poll()
        poller.register(r, select.POLLIN | select.POLLHUP)
        while True:
            poller.poll()
            with self.locks[fd]:
                self.busy[fd] = True
                try:
                    data = os.read(r, 65536)
                except BlockingIOError:  # drained by the loop thread meanwhile
                    self.busy[fd] = False
                    continue
                except OSError:
                    return
                if not data:
                    return
                owner = self.owner
                self._forward(fd, name, data, owner or (self.active[0] if len(self.active) == 1 else None))
                self.busy[fd] = False

    def _forward(self, fd: int, name: str, data: bytes, target: str | None) -> None:
        if SENTINEL in data:
            data = data.replace(SENTINEL, b"")
            self.seen[fd].set()
        if data:
            self.chan.send({"t": "log", "id": target, "s": name, "d": data.decode("utf-8", "replace")})

    # ------------------------------------------------ async steps (only while several predictions run)
    def step_begin(self, pid: str) -> None:
        self._drain(self.owner)  # written before this step: not this task's
        self.owner = pid

    def step_end(self, pid: str) -> None:
        try:
            _libc_fflush()  # C stdio buffers what it writes to a pipe: this step's output goes out now
        except Exception:  # noqa: BLE001
            pass
        self._drain(pid)
        self.owner = None

    def _drain(self, target: str | None) -> None:
        """Forward what is in the pipes now, as `target`'s (the loop thread, between steps)."""
        for fd, r in self.read_fds.items():
            if not _pending(r):
                continue
            name = "stdout" if fd == 1 else "stderr"
            with self.locks[fd]:
                chunks = []
                while True:
                    try:
                        data = os.read(r, 65536)
                    except OSError:  # empty (BlockingIOError) or closed
                        break
                    if not data:
                        break
                    chunks.append(data)
                if chunks:
                    self._forward(
                        fd,
                        name,
                        b"".join(chunks),
                        target or (self.active[0] if len(self.active) == 1 else None),
                    )

    # ------------------------------------------------ subprocesses of async predictions
    def read_child(self, pid: str, proc: Any, r: int, name: str) -> None:
        """Forward a subprocess's own pipe to its prediction until the pipe closes."""

        def run() -> None:
            with os.fdopen(r, "rb", buffering=0) as f:
                while True:
                    try:
                        data = f.read(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    self.chan.send({"t": "log", "id": pid, "s": name, "d": data.decode("utf-8", "replace")})

        t = threading.Thread(target=run, daemon=True, name=f"cog-subprocess-{name}")
        t.start()
        self.children.setdefault(pid, []).append((t, proc))

    def finish_children(self, pid: str) -> None:
        """Before a prediction reports done: the output of its subprocesses that have exited is in."""
        for t, proc in self.children.pop(pid, []):
            if proc.poll() is not None:
                t.join(1.0)

    def flush(self) -> None:
        """Make sure output written to fds 1/2 so far has been forwarded."""
        try:
            sys.__stdout__.flush() if sys.__stdout__ else None
            sys.__stderr__.flush() if sys.__stderr__ else None
            _libc_fflush()
        except Exception:  # noqa: BLE001
            pass
        pending = [fd for fd, r in self.read_fds.items() if _pending(r) or self.busy[fd]]
        for fd in pending:
            self.seen[fd].clear()
            os.write(fd, SENTINEL)
        for fd in pending:
            self.seen[fd].wait(2.0)


def _pending(fd: int) -> int:
    buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", buf)[0])


_libc: Any = None


def _libc_fflush() -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None)
    _libc.fflush(None)


class _Stream(io.TextIOBase):
    """sys.stdout/sys.stderr: text written inside a prediction goes straight to that prediction's logs."""

    def __init__(self, name: str, fallback: Any, chan: Channel) -> None:
        self.name = name
        self._fallback = fallback
        self._chan = chan

    def write(self, s: str) -> int:
        pid = _current_id.get()
        if pid is None:
            n = self._fallback.write(s)
            if "\n" in s:
                self._fallback.flush()
            return n
        if s:
            self._chan.send({"t": "log", "id": pid, "s": self.name, "d": s})
        return len(s)

    def flush(self) -> None:
        self._fallback.flush()

    def fileno(self) -> int:
        return int(self._fallback.fileno())

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    @property
    def buffer(self) -> Any:  # binary writes go to the fd, which is captured too
        return self._fallback.buffer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fallback, name)


class Attributed(collections.abc.Coroutine):  # type: ignore[type-arg]
    """An async prediction's coroutine, as its task runs it: while other predictions run too, each step is
    bracketed so that fd-level output written during it is attributed to this prediction."""

    __slots__ = ("_coro", "_pid", "_capture")

    def __init__(self, coro: Any, pid: str, capture: LogCapture) -> None:
        self._coro = coro
        self._pid = pid
        self._capture = capture

    def send(self, value: Any) -> Any:
        return self._step(self._coro.send, value)

    def throw(self, *args: Any) -> Any:
        return self._step(self._coro.throw, *args)

    def _step(self, fn: Any, *args: Any) -> Any:
        cap = self._capture
        if len(cap.active) < 2:
            return fn(*args)
        cap.step_begin(self._pid)
        try:
            return fn(*args)
        finally:
            cap.step_end(self._pid)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Any:
        return self._coro.__await__()


def attribute_subprocesses(capture: LogCapture) -> None:
    """In an async worker, a subprocess started inside a prediction without its own stdout/stderr gets a
    pipe of its own for each, read into that prediction's logs (fd 1 is shared by every prediction)."""
    import subprocess

    original = subprocess.Popen.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        pid = _current_id.get()
        if pid is None or len(args) > 1:  # outside predictions, or std streams given by position
            original(self, *args, **kwargs)
            return
        pipes = []
        for key in ("stdout", "stderr"):
            if kwargs.get(key) is None:
                r, w = os.pipe()
                kwargs[key] = w
                pipes.append((key, r, w))
        try:
            original(self, *args, **kwargs)
        except BaseException:
            for _, r, _w in pipes:
                os.close(r)
            raise
        finally:
            for _, _r, w in pipes:
                os.close(w)
        for key, r, _w in pipes:
            capture.read_child(pid, self, r, key)

    subprocess.Popen.__init__ = __init__  # type: ignore[method-assign]
