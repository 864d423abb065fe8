"""The pipe protocol between the HTTP process and the worker: one JSON object per line, each way.

A message may carry an attachment: `"n": LEN` in the JSON line, then LEN bytes of already-encoded JSON and a
newline. Outputs travel that way, so a 10 MB data URL is never parsed and re-encoded by the HTTP process.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any


class Raw:
    """A JSON value kept as its encoded bytes (spliced into responses by dumps())."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def value(self) -> Any:
        return json.loads(self.data)


def dumps(obj: Any) -> bytes:
    """json.dumps that splices Raw values in without parsing or re-encoding them."""
    if isinstance(obj, Raw):
        return obj.data
    raws: list[bytes] = []

    def default(o: Any) -> Any:
        if isinstance(o, Raw):
            raws.append(o.data)
            return f"\x00cogpin-raw-{len(raws) - 1}\x00"
        return str(o)

    text = json.dumps(obj, default=default, separators=(",", ":")).encode()
    for i, data in enumerate(raws):
        text = text.replace(b'"\\u0000cogpin-raw-%d\\u0000"' % i, data, 1)
    return text


class Channel:
    """Send JSON messages over a file descriptor (thread-safe)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()

    def send(self, msg: dict[str, Any], attachment: bytes | None = None) -> None:
        if attachment is not None:
            msg["n"] = len(attachment)
        head = json.dumps(msg, separators=(",", ":"), default=str).encode() + b"\n"
        with self._lock:
            if attachment is None:
                self._write(head)
            elif len(attachment) < 65536:
                self._write(b"".join((head, attachment, b"\n")))
            else:  # no copy of big attachments
                self._write(head)
                self._write(attachment)
                self._write(b"\n")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]


def messages(fd: int) -> Iterator[dict[str, Any]]:
    """Yield the messages read from `fd` until EOF; an attachment is in the message as `raw` (a Raw)."""
    with os.fdopen(fd, "rb", buffering=1 << 20, closefd=False) as f:
        while True:
            try:
                line = f.readline()
            except OSError:
                return
            if not line:
                return
            if line == b"\n":
                continue
            msg = json.loads(line)
            n = msg.get("n")
            if n is not None:
                data = f.read(n)
                f.read(1)
                if len(data) < n:
                    return
                msg["raw"] = Raw(data)
            yield msg


def enlarge(fd: int, size: int = 1 << 20) -> None:
    """Ask for a bigger pipe buffer (Linux F_SETPIPE_SZ): fewer context switches for big messages."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ImportError):
        pass
