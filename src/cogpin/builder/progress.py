"""Build output: the steps and lines of a build as the user sees them (plain, rich on a terminal, or
quiet), keeping the tail of the running step for error messages; and the layer sizes at the end."""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from docker.models.images import Image


class Progress:
    """Build output: ``plain`` prints every step and line; ``auto`` prints the steps (rich on a terminal);
    ``quiet`` prints nothing but errors. Keeps the last lines of the running step for error messages."""

    def __init__(self, mode: str = "auto", stream: TextIO | None = None) -> None:
        self.mode = mode
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.step = ""
        self.tail: deque[str] = deque(maxlen=25)
        self._console: Any = None
        self._status: Any = None
        self._t0 = time.monotonic()

    def _con(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        return self._console

    def info(self, text: str) -> None:
        if self.mode == "quiet":
            return
        if self.tty:
            self._con().print(f"[bold cyan]cogpin[/] {_escape(text)}")
        else:
            print(f"cogpin: {text}", file=self.stream, flush=True)

    def begin_step(self, text: str) -> None:
        self.step = text.strip()
        self.tail.clear()
        if self.mode == "quiet":
            return
        first = self.step.splitlines()[0] if self.step else ""
        short = first if len(first) <= 110 else first[:107] + "..."
        if self.tty and self.mode == "auto":
            self._stop_status()
            self._con().print(f"[dim]{time.monotonic() - self._t0:6.1f}s[/] {_escape(short)}")
            self._status = self._con().status(_escape(short[:70]), spinner="dots")
            self._status.start()
        else:
            print(f"  {short}", file=self.stream, flush=True)

    def line(self, text: str) -> None:
        text = text.rstrip("\n")
        if not text.strip():
            return
        self.tail.append(text)
        if self.mode == "plain":
            print(f"    {text}", file=self.stream, flush=True)

    def done(self) -> None:
        self._stop_status()

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def failure(self, error: str) -> str:
        self._stop_status()
        lines = "\n".join(f"    {line}" for line in self.tail)
        step = self.step.splitlines()[0] if self.step else "(before the first step)"
        return f"the build failed at {step}\n  last output:\n{lines}\n  {error.strip()}"


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def print_layers(image: Image, base_ref: str, progress: Progress) -> None:
    """The size of each layer this build added over the base image."""
    from cogpin.engine import client

    history = image.history()
    try:
        skip = len(client().images.get(base_ref).history())
    except Exception:  # noqa: BLE001
        skip = 0
    ours = list(reversed(history))[skip:]
    total = 0
    for h in ours:
        if h.get("Size", 0) <= 0:
            continue
        total += h["Size"]
        created_by = (h.get("CreatedBy") or "").replace("/bin/sh -c #(nop) ", "").removesuffix(" # buildkit")
        created_by = created_by.replace("RUN /bin/sh -c ", "RUN ").replace("/bin/sh -c ", "RUN ")
        created_by = " ".join(created_by.split())
        progress.info(f"  layer {_size(h['Size']):>9}  {created_by[:88]}")
    progress.info(f"  {_size(total)} over the base image")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)
