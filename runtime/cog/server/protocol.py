"""The pipe protocol between the HTTP process and the worker: one JSON object per line, each way."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any


class Channel:
    """Send JSON messages over a file descriptor (thread-safe)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()

    def send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]


def messages(fd: int) -> Iterator[dict[str, Any]]:
    """Yield the JSON messages read from `fd` until EOF."""
    buf = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except OSError:
            return
        if not chunk:
            return
        buf += chunk
        if b"\n" not in chunk:
            continue
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line:
                yield json.loads(line)
