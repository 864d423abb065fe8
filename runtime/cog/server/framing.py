"""Reading a request: the request line and headers (by hand, without the email parser), the body
(Content-Length or chunked, within COG_MAX_BODY_BYTES) and its JSON (finite numbers, at most COG_MAX_JSON_DEPTH
deep), with the errors in Cog's (FastAPI's) shape."""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler
from typing import Any

MAX_BODY = int(os.environ.get("COG_MAX_BODY_BYTES", str(512 << 20)))
MAX_DEPTH = int(os.environ.get("COG_MAX_JSON_DEPTH", "64"))


class HTTPError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def body_error(field: str, msg: str, kind: str) -> HTTPError:
    """A 422 about a top-level request field, in Cog's (FastAPI's) shape."""
    return HTTPError(422, {"detail": [{"loc": ["body", field], "msg": msg, "type": kind}]})


def _hex_size(text: bytes) -> int | None:
    if not text or len(text) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in text):
        return None
    return int(text, 16)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


def _too_deep() -> HTTPError:
    return HTTPError(
        422,
        {
            "detail": [
                {
                    "loc": ["body"],
                    "msg": f"JSON nested deeper than {MAX_DEPTH} levels",
                    "type": "value_error.jsondepth",
                }
            ]
        },
    )


def json_depth_ok(value: Any, limit: int) -> bool:
    """Whether no list/object in value is nested deeper than limit (iterative: any depth is safe)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        if children is None:
            continue
        if depth > limit:
            return False
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return True


class Headers(dict):  # type: ignore[type-arg]
    """Request headers by lower-case name (parsed by hand: the email parser costs more than the rest of
    a no-op request)."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, name.lower(), default)


class RequestReader(BaseHTTPRequestHandler):
    """The request side of the handler: parse_request, read_body, read_json."""

    body_size = 0

    def parse_request(self) -> bool:
        """Request line and headers (HTTP/1.0 and 1.1), without the stdlib's email parser."""
        self.command = None  # type: ignore[assignment]
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(getattr(self, "raw_requestline", b""), "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
            self.send_error(400, f"Bad request line {self.requestline[:80]!r}")
            return False
        self.command, self.path, self.request_version = words
        self.close_connection = self.request_version == "HTTP/1.0"
        headers = Headers()
        for _ in range(101):
            line = self.rfile.readline(65537)
            if len(line) > 65536:
                self.send_error(431, "Header line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = str(line, "iso-8859-1").partition(":")
            if not sep:
                self.send_error(400, f"Bad header line {line[:80]!r}")
                return False
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if headers.get("expect", "").lower() == "100-continue" and self.request_version == "HTTP/1.1":
            return bool(self.handle_expect_100())
        return True

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = _hex_size(line.split(b";")[0].strip())
                if size is None:
                    self.close_connection = True
                    raise HTTPError(400, {"detail": f"invalid chunk size {line[:40]!r} in a chunked body"})
                if size == 0:
                    self.rfile.readline(1024)
                    break
                total += size
                if total > MAX_BODY:
                    self.close_connection = True
                    raise HTTPError(413, {"detail": f"request body larger than {MAX_BODY} bytes"})
                parts.append(self._read_exactly(size))
                self.rfile.readline(1024)
            return b"".join(parts)
        header = (self.headers.get("Content-Length") or "0").strip()
        if not header.isdigit():  # also refuses -1, which would read to EOF past the limit
            self.close_connection = True
            raise HTTPError(400, {"detail": f"invalid Content-Length {header[:40]!r}: expected a byte count"})
        length = int(header)
        if length > MAX_BODY:
            self.close_connection = True
            raise HTTPError(413, {"detail": f"request body larger than {MAX_BODY} bytes"})
        return self._read_exactly(length) if length else b""

    def _read_exactly(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) < n:
            self.close_connection = True
            raise HTTPError(400, {"detail": f"request body ended after {len(data)} of {n} bytes"})
        return data

    def read_json(self) -> dict[str, Any]:
        raw = self.read_body()
        self.body_size = len(raw)
        if not raw.strip():
            return {}
        try:  # decoded here so the bytes can go before parsing (json.loads would hold both, and the result)
            text: str | bytes = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw  # json.loads detects UTF-16/32, or names the error
        del raw
        try:
            body = json.loads(text, parse_constant=_no_constant)
        except RecursionError:
            raise _too_deep() from None
        except ValueError as e:
            raise HTTPError(
                422,
                {
                    "detail": [
                        {
                            "loc": ["body", getattr(e, "pos", 0)],
                            "msg": f"malformed JSON: {e}",
                            "type": "value_error.jsondecode",
                        }
                    ]
                },
            ) from None
        if not isinstance(body, dict):
            raise HTTPError(
                422,
                {
                    "detail": [
                        {"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}
                    ]
                },
            )
        del text
        if not json_depth_ok(body, MAX_DEPTH):
            raise _too_deep()
        return body
