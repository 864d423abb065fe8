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

BIG = 1 << 20  # a message this long is marked "big" (its reader may want to give memory back after it)


class Raw:
    """A JSON value kept as its encoded bytes (spliced into responses by dumps())."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def value(self) -> Any:
        return json.loads(self.data)


_NONCE = os.urandom(6).hex()  # in the placeholders: no string a client sends can look like one


def dumps(obj: Any) -> bytes:
    """json.dumps that splices Raw values in without parsing or re-encoding them (in one pass: each big value
    is copied once, into the result)."""
    if isinstance(obj, Raw):
        return bytes(obj.data)
    raws: list[bytes] = []

    def default(o: Any) -> Any:
        if isinstance(o, Raw):
            raws.append(o.data)
            return f"\x00cogpin-raw-{_NONCE}-{len(raws) - 1}\x00"
        return str(o)

    text = json.dumps(obj, default=default, separators=(",", ":")).encode()
    if not raws:
        return text
    pieces: list[bytes] = []
    pos = 0
    for i, data in enumerate(raws):  # the placeholders are in the text in the order default() made them
        marker = b'"\\u0000cogpin-raw-%s-%d\\u0000"' % (_NONCE.encode(), i)
        at = text.find(marker, pos)
        pieces += (text[pos:at], data)
        pos = at + len(marker)
    pieces.append(text[pos:])
    return b"".join(pieces)


class Channel:
    """Send JSON messages over a file descriptor (thread-safe)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self.closed = False
        self._held: list[bytes] = []

    def close(self) -> None:
        """Close the descriptor once (a second close could hit a descriptor reused meanwhile)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                os.close(self.fd)
            except OSError:
                pass

    def send(self, msg: dict[str, Any], attachment: bytes | None = None, hold: bool = False) -> None:
        """Write the message (with its attachment). hold=True keeps it back, to go out in one write with
        the next message (fewer wake-ups of the reader: a sync output travels with its done)."""
        if attachment is not None:
            msg["n"] = len(attachment)
        head = json.dumps(msg, separators=(",", ":"), default=str).encode() + b"\n"
        pieces = [head] if attachment is None else [head, attachment, b"\n"]
        with self._lock:
            if hold:
                self._held.extend(pieces)
                return
            if self._held:
                pieces = self._held + pieces
                self._held = []
            if len(pieces) == 1:
                self._write(pieces[0])
            elif sum(len(p) for p in pieces) < 65536:
                self._write(b"".join(pieces))
            else:  # no copy of big attachments
                for piece in pieces:
                    self._write(piece)

    def _write(self, data: bytes) -> None:
        if self.closed:
            raise BrokenPipeError("the channel is closed")
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
            if len(line) > BIG:
                msg["big"] = True
            del line
            n = msg.get("n")
            if n is not None:
                data = f.read(n)
                f.read(1)
                if len(data) < n:
                    return
                msg["raw"] = Raw(data)
                del data
            box = [msg]
            del msg  # while waiting for the next message, this frame holds none of the last one
            yield box.pop()


def enlarge(fd: int, size: int = 1 << 20) -> None:
    """Ask for a bigger pipe buffer (Linux F_SETPIPE_SZ): fewer context switches for big messages."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ImportError):
        pass
