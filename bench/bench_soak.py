"""The runtime soak (issue 13): a long run mixing every bad input of the hardening issue with normal
predictions, against a sync and an async server (`python -m cog.server.http`, the runtime copied aside
first, so edits made meanwhile cannot leak into a worker restart).

Passes when, at the end, both servers are READY, their memory (server + worker RSS) has grown by no more
than 10 % (measured before and after the mixed load, each time after the same settling requests, which
fill the kept-predictions count and byte budget the same way: steady state),
and every normal prediction was answered correctly. `SOAK_SECONDS` (default 1800) sets the length;
`./run bench soak`. Not part of `./run bench all` (it takes 30 minutes).
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from bench.bench_runtime import free_port, tree_rss_kib

IN_ALL = False  # `python -m bench all` leaves it out
REPO = Path(__file__).resolve().parents[1]
SECONDS = float(os.environ.get("SOAK_SECONDS", "1800"))

SYNC = """
import os, signal, sys, time
from typing import Any, Optional
from cog import BasePredictor, Input, Secret

class Predictor(BasePredictor):
    def predict(
        self,
        mode: str = "echo",
        s: str = "",
        n: int = Input(default=1, ge=0, le=1000),
        f: float = Input(default=1.0, ge=0, le=5),
        d: dict = None,
        tokens: list[Secret] = Input(default=[]),
        maybe: Optional[list[Secret]] = None,
        file: Optional[str] = None,
    ) -> Any:
        if mode == "echo":
            print("echo", n)
            return {"s": s[::-1], "n": n * 2, "f": f}
        if mode == "secrets":
            for t in tokens + (maybe or []):
                v = t.get_secret_value()
                sys.stdout.write("tok " + v[:3])
                sys.stdout.flush()
                sys.stdout.write(v[3:] + "\\n")
            raise RuntimeError("bad " + tokens[0].get_secret_value())
        if mode == "nan":
            return [float("nan"), f]
        if mode == "big":
            return len(s)
        if mode == "ignore-cancel":
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
            time.sleep(30)
            return "ignored"
        if mode == "sleep":
            time.sleep(f)
            return "slept"
        if mode == "none":
            return None
        return mode
"""

ASYNC = """
import asyncio, os, time
from typing import Optional
from cog import BasePredictor, Path, Secret

class Predictor(BasePredictor):
    async def predict(self, n: int = 0, delay: float = 0.0, block: float = 0.0,
                      file: Optional[Path] = None, token: Optional[Secret] = None) -> str:
        if block:
            time.sleep(block)
        if token is not None:
            os.write(1, ("fd " + token.get_secret_value() + "\\n").encode())
        await asyncio.sleep(delay)
        if file is not None:
            return "file:%d" % len(file.read_bytes())
        return "n=%d" % n
"""


class Files(http.server.ThreadingHTTPServer):
    """Input files: /ok (100 bytes), /short (declares 1000, sends 10), /drip (a byte a second), /hang."""

    def __init__(self) -> None:
        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                try:
                    if self.path == "/hang":
                        time.sleep(120)
                        return
                    self.send_response(200)
                    self.send_header("Content-Length", {"/ok": "100", "/short": "1000"}.get(self.path, "60"))
                    self.end_headers()
                    if self.path == "/ok":
                        self.wfile.write(b"z" * 100)
                    elif self.path == "/short":
                        self.wfile.write(b"0123456789")
                    else:
                        for _ in range(60):
                            self.wfile.write(b"x")
                            self.wfile.flush()
                            time.sleep(1)
                except OSError:
                    pass
                self.close_connection = True

            def do_POST(self) -> None:  # noqa: N802 - webhooks
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), H)
        self.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Server:
    def __init__(self, runtime: Path, workdir: Path, ref: str, env: dict[str, str]) -> None:
        self.port = free_port()
        full = dict(os.environ)
        full.update(env)
        full.update(
            {
                "COG_PREDICT_TYPE_STUB": ref,
                "PYTHONPATH": str(runtime),
                "COG_LOG_LEVEL": "WARNING",
                "COG_CANCEL_GRACE": "2",
                "COG_DOWNLOAD_TIMEOUT": "3",
                "COG_IDLE_TIMEOUT": "10",
                "COG_WEBHOOK_RETRIES": "3",
            }
        )
        self.log = open(workdir / f"{ref.split('.')[0]}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cog.server.http", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=workdir,
            env=full,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(60)

    def health(self) -> str:
        try:
            return str(request(self.port, "GET", "/health-check", timeout=5)[1].get("status"))
        except (OSError, ValueError, AttributeError):
            return "UNREACHABLE"

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health() == "READY":
                return True
            if self.proc.poll() is not None:
                raise RuntimeError("server exited")
            time.sleep(0.05)
        return False

    def rss_mib(self) -> float:
        return tree_rss_kib(self.proc.pid) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw
    finally:
        conn.close()


def raw_send(port: int, data: bytes, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            return sock.recv(4096)
        except OSError:
            return b""


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.wrong: list[str] = []

    def add(self, key: str, ok: bool = True, detail: str = "") -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            if not ok:
                self.wrong.append(f"{key}: {detail}"[:300])


def normal_sync(srv: Server, tally: Tally, rng: random.Random) -> None:
    if srv.health() != "READY":  # a cancel escalation restarts the worker now and then
        srv.wait_ready(60)
    s = "".join(rng.choice("abcdef") for _ in range(rng.randint(0, 40)))
    n = rng.randint(0, 500)
    code, body = request(srv.port, "POST", "/predictions", {"input": {"s": s, "n": n, "f": 2.5}})
    ok = (
        code == 200
        and body.get("status") == "succeeded"
        and body.get("output") == {"s": s[::-1], "n": 2 * n, "f": 2.5}
    )
    tally.add("normal sync", ok, f"{code} {str(body)[:200]}")


def normal_async(srv: Server, tally: Tally, rng: random.Random) -> None:
    n = rng.randint(0, 10**6)
    code, body = request(srv.port, "POST", "/predictions", {"input": {"n": n, "delay": 0.01}})
    ok = code == 200 and body.get("output") == f"n={n}"
    tally.add("normal async", ok, f"{code} {str(body)[:200]}")


def bad_sync(srv: Server, files: Files, tally: Tally, rng: random.Random, secrets_seen: list[str]) -> None:
    kind = rng.choice(
        [
            "deep", "deep978", "deep1e5", "cl-1", "cl-abc", "chunk", "nan", "nan-str", "secrets", "big",
            "bad-id", "idle", "webhook-query", "nan-out", "none-out", "cancel-async", "file-short",
        ]
    )  # fmt: skip
    p = srv.port
    if kind.startswith("deep"):
        depth = {"deep": rng.randint(900, 1000), "deep978": 978, "deep1e5": 100_000}[kind]
        body = b'{"input": {}, "context": {"a": ' + b"[" * depth + b"1" + b"]" * depth + b"}}"
        code, _ = request(p, "POST", "/predictions", body)
        tally.add("bad: deep nesting", code == 422, str(code))
    elif kind in ("cl-1", "cl-abc"):
        cl = b"-1" if kind == "cl-1" else b"abc"
        r = raw_send(p, b"POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl + b"\r\n\r\n{}")
        tally.add("bad: Content-Length", r.startswith(b"HTTP/1.1 400"), r[:60].decode(errors="replace"))
    elif kind == "chunk":
        r = raw_send(p, b"POST /predictions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nqq\r\n")
        tally.add("bad: chunk size", r.startswith(b"HTTP/1.1 400"), r[:60].decode(errors="replace"))
    elif kind in ("nan", "nan-str"):
        body = b'{"input": {"f": NaN}}' if kind == "nan" else b'{"input": {"f": "nan"}}'
        code, _ = request(p, "POST", "/predictions", body)
        tally.add("bad: NaN input", code == 422, str(code))
    elif kind == "secrets":
        toks = [f"soak-secret-{rng.randint(10**8, 10**9)}" for _ in range(3)]
        secrets_seen.extend(toks)
        code, body = request(
            p, "POST", "/predictions", {"input": {"mode": "secrets", "tokens": toks[:2], "maybe": toks[2:]}}
        )
        leaked = any(t in json.dumps(body) for t in toks)
        tally.add("bad: list[Secret]", code == 200 and body["status"] == "failed" and not leaked, str(code))
    elif kind == "big":
        size = rng.choice([1, 2, 4]) << 20
        code, body = request(p, "POST", "/predictions", {"input": {"mode": "big", "s": "q" * size}})
        tally.add("big input (1-4 MB)", code == 200 and body.get("output") == size, str(code))
    elif kind == "bad-id":
        code, _ = request(p, "POST", "/predictions", {"id": "x\nFORGED", "input": {}})
        tally.add("bad: newline in id", code == 422, str(code))
    elif kind == "idle":
        sock = socket.create_connection(("127.0.0.1", p))
        threading.Timer(15, sock.close).start()
        tally.add("idle connection")
    elif kind == "webhook-query":
        code, _ = request(
            p, "POST", "/predictions", {"input": {}, "webhook": "http://127.0.0.1:9/h?sig=soaktoken"}
        )
        tally.add("webhook with a query (dead)", code == 200, str(code))
    elif kind == "nan-out":
        conn_body = request(p, "POST", "/predictions", {"input": {"mode": "nan"}})[1]
        tally.add(
            "NaN output",
            isinstance(conn_body, dict) and conn_body.get("output") == [None, 1.0],
            str(conn_body)[:100],
        )
    elif kind == "none-out":
        code, body = request(p, "POST", "/predictions", {"input": {"mode": "none"}})
        tally.add("None output (Any: allowed)", code == 200 and body["status"] == "succeeded", str(code))
    elif kind == "cancel-async":
        pid = f"c{rng.randint(0, 10**12)}"
        request(
            p,
            "POST",
            "/predictions",
            {"id": pid, "input": {"mode": "sleep", "f": 3}},
            {"Prefer": "respond-async"},
        )
        code, _ = request(p, "POST", f"/predictions/{pid}/cancel")
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            status = request(p, "GET", f"/predictions/{pid}")[1].get("status")
            if status in ("canceled", "succeeded", "failed"):
                break
            time.sleep(0.05)
        tally.add("cancel right after create (sync model)", status == "canceled", str(status))
    elif kind == "file-short":
        tally.add("(skipped: sync has no file input)")


def bad_async(srv: Server, files: Files, tally: Tally, rng: random.Random, secrets_seen: list[str]) -> None:
    kind = rng.choice(["cancel-now", "cancel-blocked", "hang", "short", "drip", "fd-secret", "ok-file"])
    p = srv.port
    hdr = {"Prefer": "respond-async"}
    if kind in ("cancel-now", "cancel-blocked"):
        if kind == "cancel-blocked":
            request(p, "POST", "/predictions", {"input": {"block": 0.3}}, hdr)
        pid = f"a{rng.randint(0, 10**12)}"
        request(p, "POST", "/predictions", {"id": pid, "input": {"delay": 30}}, hdr)
        request(p, "POST", f"/predictions/{pid}/cancel")
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            status = request(p, "GET", f"/predictions/{pid}")[1].get("status")
            if status in ("canceled", "succeeded", "failed"):
                break
            time.sleep(0.05)
        tally.add(f"async {kind}", status == "canceled", str(status))
    elif kind == "hang":
        pid = f"h{rng.randint(0, 10**12)}"
        request(p, "POST", "/predictions", {"id": pid, "input": {"file": files.url + "/hang"}}, hdr)
        time.sleep(0.2)
        request(p, "POST", f"/predictions/{pid}/cancel")
        tally.add("async hung download, canceled")
    elif kind in ("short", "drip"):
        code, body = request(p, "POST", "/predictions", {"input": {"file": files.url + "/" + kind}})
        tally.add(f"async {kind} download fails", code == 200 and body["status"] == "failed", str(body)[:100])
    elif kind == "fd-secret":
        tok = f"fd-secret-{rng.randint(10**8, 10**9)}"
        secrets_seen.append(tok)
        code, body = request(p, "POST", "/predictions", {"input": {"token": tok, "delay": 0.05}})
        tally.add("async fd secret", code == 200 and tok not in json.dumps(body), str(code))
    else:
        code, body = request(p, "POST", "/predictions", {"input": {"file": files.url + "/ok"}})
        tally.add("async file input", code == 200 and body.get("output") == "file:100", str(body)[:100])


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="cogpin-soak-"))
    runtime = tmp / "runtime"
    shutil.copytree(REPO / "runtime", runtime, ignore=shutil.ignore_patterns("__pycache__"))
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    (tmp / "sync.py").write_text(textwrap.dedent(SYNC))
    (tmp / "async.py").write_text(textwrap.dedent(ASYNC))
    files = Files()
    sync = Server(runtime, tmp, "sync.py:Predictor", {"COG_KEEP_BYTES": str(64 << 20)})
    asyn = Server(runtime, tmp, "async.py:Predictor", {"COG_MAX_CONCURRENCY": "8"})
    tally = Tally()
    secrets_seen: list[str] = []
    stop = threading.Event()
    escalations = [0]
    print(f"soak of {SECONDS:.0f}s against runtime at {rev} (copied to {runtime})", flush=True)

    def loop(seed: int, step: Any) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            try:
                step(rng)
            except Exception as e:  # noqa: BLE001 - counted: a client-side error is a failure too
                tally.add(f"client error in {step.__name__}", False, repr(e))
                time.sleep(0.5)

    last_stubborn = [time.monotonic()]

    def sync_client(rng: random.Random) -> None:
        """One client, each request after the last answer: a normal prediction is never refused (409)."""
        normal_sync(sync, tally, rng)
        if sync.health() != "READY":
            sync.wait_ready(60)
        if rng.random() < 0.5:
            bad_sync(sync, files, tally, rng, secrets_seen)
        if time.monotonic() - last_stubborn[0] > 180:  # a model that ignores its cancel: worker restart
            last_stubborn[0] = time.monotonic()
            pid = f"s{rng.randint(0, 10**12)}"
            hdr = {"Prefer": "respond-async"}
            request(sync.port, "POST", "/predictions", {"id": pid, "input": {"mode": "ignore-cancel"}}, hdr)
            time.sleep(0.5)
            request(sync.port, "POST", f"/predictions/{pid}/cancel")
            escalations[0] += 1
            tally.add("cancel ignored by the model -> worker restart")

    def async_normal(rng: random.Random) -> None:
        normal_async(asyn, tally, rng)

    def async_bad(rng: random.Random) -> None:
        bad_async(asyn, files, tally, rng, secrets_seen)
        time.sleep(0.05)

    def settle() -> tuple[float, float]:
        """The same requests before the first and the last measurement, so that what the servers keep
        (the last 1000 predictions, within the byte budget) is the same: a difference is a leak."""
        rng = random.Random(99)
        for _ in range(1100):
            normal_sync(sync, tally, rng)
            normal_async(asyn, tally, rng)
        for _ in range(20):  # 80 MB of inputs: the 64 MB budget is full of them
            request(sync.port, "POST", "/predictions", {"input": {"mode": "big", "s": "q" * (4 << 20)}})
        time.sleep(2)
        return sync.rss_mib(), asyn.rss_mib()

    first = (sync.rss_mib(), asyn.rss_mib())
    base = settle()
    threads = [
        threading.Thread(target=loop, args=(i, fn), daemon=True)
        for i, fn in enumerate([sync_client, async_normal, async_bad])
    ]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    samples = []
    while time.monotonic() - t0 < SECONDS:
        time.sleep(min(60, max(0.0, SECONDS - (time.monotonic() - t0))))
        samples.append((round(time.monotonic() - t0), round(sync.rss_mib(), 1), round(asyn.rss_mib(), 1)))
        print(f"  t={samples[-1][0]}s rss sync {samples[-1][1]} MiB, async {samples[-1][2]} MiB, "
              f"{sum(tally.counts.values())} requests, {len(tally.wrong)} wrong", flush=True)  # fmt: skip
    stop.set()
    for th in threads:
        th.join(60)
    time.sleep(1)
    sync.wait_ready(60)
    end_status = (sync.health(), asyn.health())
    end = settle()
    logs = ""
    sync.stop()
    asyn.stop()
    for name in ("sync.log", "async.log"):
        logs += (tmp / name).read_text(errors="replace")
    leaked = sorted(
        {s for s in secrets_seen if s in logs} | ({"soaktoken"} if "soaktoken" in logs else set())
    )
    files.shutdown()

    normal = {k: v for k, v in tally.counts.items() if k.startswith("normal")}
    print(f"\nsoak: {time.monotonic() - t0:.0f}s, runtime {rev}, {sum(tally.counts.values())} requests")
    for key in sorted(tally.counts):
        print(f"  {tally.counts[key]:7d}  {key}")
    print(f"memory (server + worker, MiB): at start {first[0]:.1f} / {first[1]:.1f} (sync / async), "
          f"settled before {base[0]:.1f} / {base[1]:.1f}, settled after {end[0]:.1f} / {end[1]:.1f}")  # fmt: skip
    growth = [(e - b) / b for e, b in zip(end, base, strict=True)]
    print(f"memory change: sync {growth[0] * 100:+.1f} %, async {growth[1] * 100:+.1f} %")
    print(f"status at end: sync {end_status[0]}, async {end_status[1]}; worker restarts by cancel escalation: "
          f"{escalations[0]}")  # fmt: skip
    print(f"wrong answers: {len(tally.wrong)}; secrets leaked to server logs: {len(leaked)}")
    for w in tally.wrong[:20]:
        print("   ", w)
    ok = (
        end_status == ("READY", "READY")
        and all(g <= 0.10 for g in growth)
        and not tally.wrong
        and not leaked
        and sum(normal.values()) > 0
    )
    print(json.dumps({"rev": rev, "counts": tally.counts, "rss_first": first, "rss_base": base, "rss_end": end,
                      "samples": samples, "status": end_status, "wrong": tally.wrong[:50], "leaked": leaked}))  # fmt: skip
    print("SOAK PASSED" if ok else "SOAK FAILED")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
