"""Fixtures: the real runtime server as a subprocess on 127.0.0.1 (ephemeral port), small predictors per test."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"


def runtime_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(RUNTIME_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("COG_LOG_LEVEL", "INFO")
    env.update(extra or {})
    return env


class CogServer:
    """A running `python -m cog.server.http` with helpers that speak HTTP to it."""

    def __init__(
        self,
        workdir: Path,
        ref: str,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        python: str = sys.executable,
    ):
        self.workdir = workdir
        self.log_path = workdir / f"server-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        full_env = runtime_env({"COG_PREDICT_TYPE_STUB": ref, **(env or {})})
        if not ref:
            full_env.pop("COG_PREDICT_TYPE_STUB")
        self.proc = subprocess.Popen(
            [python, "-m", "cog.server.http", "--host", "127.0.0.1", "--port", "0", *(args or [])],
            cwd=workdir,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self.port = self._wait_port()
        except BaseException:
            self.stop()  # never leave a server behind
            raise

    def _wait_port(self) -> int:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = re.search(r"serving on http://[\d.]+:(\d+)", self.logs())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.logs()}")
            time.sleep(0.02)
        raise RuntimeError(f"server did not start:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw.decode(errors="replace")
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, body if body is not None else {}, **kw)

    def predict(self, inputs: dict[str, Any] | None = None, **kw: Any) -> tuple[int, Any]:
        return self.post("/predictions", {"input": inputs or {}}, **kw)

    def health(self) -> dict[str, Any]:
        return self.get("/health-check")[1]

    def wait_status(self, *states: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = self.health()
            if body["status"] in states:
                return body
            time.sleep(0.03)
        raise AssertionError(f"status never became {states}: last {body}\n{self.logs()}")

    def wait_prediction(self, pid: str, timeout: float = 20, kind: str = "predictions") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        code, body = 0, None
        while time.monotonic() < deadline:
            code, body = self.get(f"/{kind}/{pid}")
            if code == 200 and body["status"] in ("succeeded", "failed", "canceled"):
                return body
            time.sleep(0.03)
        raise AssertionError(f"prediction {pid} did not finish: last {code} {body}\n{self.logs()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def serve(tmp_path: Path):
    """serve(source, ref="predict.py:Predictor", env=..., args=..., wait=("READY",)) -> CogServer."""
    servers: list[CogServer] = []

    def start(
        source: str | None,
        ref: str = "predict.py:Predictor",
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        wait: tuple[str, ...] | None = ("READY",),
        filename: str = "predict.py",
    ) -> CogServer:
        if source is not None:
            write(tmp_path, filename, source)
        server = CogServer(tmp_path, ref, env, args)
        servers.append(server)
        if wait:
            server.wait_status(*wait)
        return server

    yield start
    for s in servers:
        s.stop()


def module_server(tmp_path_factory: pytest.TempPathFactory, source: str, **kw: Any):
    """For module-scoped fixtures: one server shared by the tests of a module."""
    folder = tmp_path_factory.mktemp("srv")
    write(folder, kw.pop("filename", "predict.py"), source)
    server = CogServer(
        folder, kw.pop("ref", "predict.py:Predictor"), kw.pop("env", None), kw.pop("args", None)
    )
    server.wait_status("READY")
    return server


class Receiver:
    """A local HTTP server that records webhook POSTs and file PUTs; can answer with chosen status codes."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status_codes: list[int] = []  # popped per request; 200 when empty
        self.files: dict[str, bytes] = {}
        receiver = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                code = receiver.status_codes.pop(0) if receiver.status_codes else 200
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body), "code": code}
                )
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_PUT(self) -> None:  # noqa: N802
                receiver.files[self.path] = self._body()
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "method": "PUT"})
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                data = receiver.files.get(self.path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("method") != "PUT"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def sse_body(port: int, body: dict[str, Any], timeout: float = 20) -> str:
    """POST with `Accept: text/event-stream`; the whole event stream as text."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            "/predictions",
            body=json.dumps(body),
            headers={"Accept": "text/event-stream", "Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        return resp.read().decode()
    finally:
        conn.close()
