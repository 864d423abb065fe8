"""Writing a response: Cog's JSON bodies with their head, in one segment when small; a finished
prediction's small answer written by the thread that hears it finish (answer_directly)."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler
from typing import Any

from .. import __version__
from .protocol import dumps

JSON_HEADERS = "application/json"


class ResponseWriter(BaseHTTPRequestHandler):
    """The response side of the handler: send, response_head, answer_directly."""

    def send(
        self, status: int, body: Any, content_type: str = JSON_HEADERS, headers: dict[str, str] | None = None
    ) -> None:
        data = body if isinstance(body, bytes) else dumps(body)
        header = self.response_head(status, len(data), content_type, headers)
        if len(data) < 65536:
            self.wfile.write(header + data)  # one segment for small answers
        else:
            self.wfile.write(header)
            self.wfile.write(data)
        self.wfile.flush()

    def response_head(
        self,
        status: int,
        length: int,
        content_type: str = JSON_HEADERS,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        reason = self.responses.get(status, ("",))[0]
        head = [
            f"HTTP/1.1 {status} {reason}",
            f"Content-Type: {content_type}",
            f"Content-Length: {length}",
            f"Server: cogpin/{__version__}",
        ]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        if self.close_connection:
            head.append("Connection: close")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")

    def answer_directly(self, final: bytes) -> bytes | None:
        """Called by the thread that hears the prediction finish: a small answer is written to the client
        right there (one hand-over less than waking this handler's thread), never blocking that thread:
        what the socket does not take at once is returned, for this handler to write. None: not
        answered (a big answer is all written by this handler)."""
        if len(final) >= 65536:
            return None
        data = self.response_head(200, len(final)) + final
        try:
            sent = self.connection.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.close_connection = True
            return b""
        return data[sent:]
