"""The wheel server: a ``--find-links`` page and exactly the lock's artifacts over HTTP on 127.0.0.1, for
the ``pip install`` in a build's ``RUN`` step. The one server, in the standard library only (any
Python 3 from 3.8 runs it): on this machine it runs in a thread (``cogpin.builder.wheels_host``); in the
engine, this file's text runs as ``python3 -c <text> <json>`` in a container with the artifact volume
mounted (``cogpin.builder.wheels_engine``).

As a script: argv[1] is JSON ``{"port": P, "root": R, "files": {filename: relpath}, "index": html}``; a
file is served only when its folder holds the ``.complete`` marker (written after the file itself). It
prints one line ``COGPIN-READY {"port": …, "present": [relpath, …]}`` and serves until killed.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import sys
import urllib.parse
from typing import Callable, List, Optional, Type  # noqa: UP035 - runs on the image's Python (3.8+)

LAST_MODIFIED = "Tue, 01 Jan 1980 00:00:00 GMT"  # cogpin.fsutil.FILE_EPOCH


def handler(
    index: bytes,
    lookup: Callable[[str], Optional[str]],
    served: Optional[List[str]] = None,  # noqa: UP006, UP007
) -> Type[http.server.BaseHTTPRequestHandler]:  # noqa: UP006
    """A request handler: ``/`` is ``index``; ``/<filename>`` the file ``lookup`` names (404 when it
    names none). Names of files sent are appended to ``served``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_HEAD(self) -> None:  # noqa: N802
            self.respond(head=True)

        def do_GET(self) -> None:  # noqa: N802
            self.respond(head=False)

        def respond(self, head: bool) -> None:
            name = urllib.parse.unquote(urllib.parse.urlparse(self.path).path).lstrip("/")
            if name in ("", "index.html"):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(index)))
                self.end_headers()
                if not head:
                    self.wfile.write(index)
                return
            path = lookup(name)
            if path is None:
                self.send_error(404, "not an artifact of this lock")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(os.path.getsize(path)))
            self.send_header("Last-Modified", LAST_MODIFIED)
            self.end_headers()
            if head:
                return
            if served is not None:
                served.append(name)
            try:
                with open(path, "rb") as f:
                    shutil.copyfileobj(f, self.wfile, 1 << 20)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def bind(
    port: int, request_handler: type[http.server.BaseHTTPRequestHandler]
) -> http.server.ThreadingHTTPServer:  # noqa: UP006
    """A server on 127.0.0.1:``port``, or on a free port when that one is taken (the build still works,
    but its package layers cannot come from the cache then)."""
    try:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), request_handler)
    except OSError:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), request_handler)
    httpd.daemon_threads = True
    return httpd


def main(argv: List[str]) -> None:  # noqa: UP006
    cfg = json.loads(argv[0])
    root, files = cfg["root"], cfg["files"]

    def complete(rel: str) -> bool:
        return os.path.isfile(os.path.join(root, rel)) and os.path.isfile(
            os.path.join(root, os.path.dirname(rel), ".complete")
        )

    def lookup(name: str) -> Optional[str]:  # noqa: UP007
        rel = files.get(name)
        return os.path.join(root, rel) if rel is not None and complete(rel) else None

    httpd = bind(cfg["port"], handler(cfg["index"].encode(), lookup))
    present = sorted(rel for rel in files.values() if complete(rel))
    print("COGPIN-READY " + json.dumps({"port": httpd.server_address[1], "present": present}), flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
