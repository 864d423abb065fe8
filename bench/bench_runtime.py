"""The runtime side by side with Replicate's `cog==0.23.1` (same predictors, same client, same run).

Measures: sequential no-op latency p50/p99 and 409 count; 8 concurrent clients against an async predictor
with concurrency.max 8 (throughput); start→READY time and RSS of server + worker; 1 MB file output latency.
Servers listen on 127.0.0.1 only; every loop is bounded. Run with `python -m bench runtime`.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
COG_VERSION = "0.23.1"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cogpin-bench" / f"cog-{COG_VERSION}"
SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "500"))
CONCURRENT_CLIENTS = 8
PER_CLIENT = int(os.environ.get("BENCH_PER_CLIENT", "100"))
FILE_RUNS = int(os.environ.get("BENCH_FILE_RUNS", "30"))

PREDICTORS = {
    "noop.py": """
        from cog import BasePredictor
        class Predictor(BasePredictor):
            def predict(self) -> str:
                return "ok"
        """,
    "async8.py": """
        import asyncio
        from cog import BasePredictor
        class Predictor(BasePredictor):
            async def predict(self) -> str:
                await asyncio.sleep(0.005)
                return "ok"
        """,
    "fileout.py": """
        import os, tempfile
        from cog import BasePredictor, Path
        class Predictor(BasePredictor):
            def setup(self):
                self.data = os.urandom(1 << 20)
            def predict(self) -> Path:
                path = Path(tempfile.mkdtemp()) / "out.bin"
                path.write_bytes(self.data)
                return path
        """,
}


def ensure_reference() -> Path:
    python = CACHE / "bin" / "python"
    if (
        python.exists()
        and subprocess.run([str(python), "-c", "import coglet"], capture_output=True).returncode == 0
    ):
        return python
    print(f"installing cog=={COG_VERSION} into {CACHE} ...", flush=True)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3", "-m", "venv", str(CACHE)], check=True)
    subprocess.run(
        [str(CACHE / "bin" / "pip"), "install", "-q", f"cog=={COG_VERSION}"], check=True, timeout=900
    )
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Server:
    def __init__(self, which: str, python: Path, workdir: Path, ref: str, env: dict[str, str]) -> None:
        self.port = free_port()
        full = dict(os.environ)
        full.update(env)
        full.update({"COG_PREDICT_TYPE_STUB": ref, "PORT": str(self.port), "COG_LOG_LEVEL": "WARNING"})
        full["PATH"] = f"{python.parent}{os.pathsep}{full.get('PATH', '')}"
        if which == "ours":
            full["PYTHONPATH"] = str(REPO / "runtime")
        else:
            full.pop("PYTHONPATH", None)
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(python), "-m", "cog.server.http", "--host", "127.0.0.1", "--port", str(self.port)]
            if which == "ours"
            else [str(python), "-m", "cog.server.http", "--host", "127.0.0.1"],
            cwd=workdir,
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self.ready_s = self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> float:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health-check")
                body = json.loads(conn.getresponse().read())
                conn.close()
                if body.get("status") == "READY":
                    return time.perf_counter() - self.t0
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("server exited during startup")
            time.sleep(0.01)
        raise RuntimeError("server did not become READY")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def post(conn: http.client.HTTPConnection) -> tuple[int, bytes]:
    conn.request("POST", "/predictions", body=b'{"input": {}}', headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, resp.read()


def sequential(port: int, n: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(20):
        post(conn)
    latencies, conflicts, errors = [], 0, 0
    for _ in range(n):
        t = time.perf_counter()
        code, _ = post(conn)
        if code == 200:  # a refusal is fast and would flatter the latency: count it instead
            latencies.append(time.perf_counter() - t)
        conflicts += code == 409
        errors += code not in (200, 409)
    conn.close()
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "409s": conflicts,
        "errors": errors,
    }


def concurrent(port: int, clients: int, per_client: int) -> dict[str, float]:
    counts = {"ok": 0, "409": 0, "other": 0}
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(per_client):
            code, _ = post(conn)
            with lock:
                counts["ok" if code == 200 else "409" if code == 409 else "other"] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    return {"req_per_s": counts["ok"] / elapsed, "409s": counts["409"], "errors": counts["other"]}


def file_output(port: int, runs: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    post(conn)
    latencies, conflicts = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        code, body = post(conn)
        elapsed = time.perf_counter() - t
        if code == 409:  # counted, not timed (Cog refuses some sequential requests)
            conflicts += 1
            continue
        latencies.append(elapsed)
        out = json.loads(body).get("output") if code == 200 else None
        if not (isinstance(out, str) and out.startswith("data:")):
            raise RuntimeError(f"unexpected file output (HTTP {code}): {str(out)[:80]}")
    conn.close()
    return {"p50_ms": statistics.median(latencies) * 1000, "409s": conflicts}


def run_side(which: str, python: Path, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    s = Server(which, python, workdir, "noop.py:Predictor", {})
    try:
        results["ready_s"] = s.ready_s
        time.sleep(0.2)
        results["rss_mib"] = tree_rss_kib(s.proc.pid) / 1024
        results["seq"] = sequential(s.port, SEQUENTIAL)
    finally:
        s.stop()
    s = Server(which, python, workdir, "async8.py:Predictor", {"COG_MAX_CONCURRENCY": "8"})
    try:
        results["conc"] = concurrent(s.port, CONCURRENT_CLIENTS, PER_CLIENT)
    finally:
        s.stop()
    s = Server(which, python, workdir, "fileout.py:Predictor", {})
    try:
        results["file"] = file_output(s.port, FILE_RUNS)
    finally:
        s.stop()
    return results


def main() -> int:
    reference = ensure_reference()
    with tempfile.TemporaryDirectory(prefix="cogpin-bench-") as tmp:
        workdir = Path(tmp)
        for name, source in PREDICTORS.items():
            (workdir / name).write_text(textwrap.dedent(source))
        (workdir / "cog.yaml").write_text('build:\n  python_version: "3.11"\nconcurrency:\n  max: 8\n')
        ours = run_side("ours", Path(sys.executable), workdir)
        theirs = run_side("cog", reference, workdir)
    rows = [
        ("sequential no-op p50 (ms)", ours["seq"]["p50_ms"], theirs["seq"]["p50_ms"], "lower"),
        ("sequential no-op p99 (ms)", ours["seq"]["p99_ms"], theirs["seq"]["p99_ms"], "lower"),
        (f"sequential 409s (of {SEQUENTIAL})", ours["seq"]["409s"], theirs["seq"]["409s"], "lower"),
        ("8 clients, async, max 8 (req/s)", ours["conc"]["req_per_s"], theirs["conc"]["req_per_s"], "higher"),
        ("8 clients 409s", ours["conc"]["409s"], theirs["conc"]["409s"], "lower"),
        ("start -> READY (s)", ours["ready_s"], theirs["ready_s"], "lower"),
        ("RSS server + worker (MiB)", ours["rss_mib"], theirs["rss_mib"], "lower"),
        ("1 MB file output p50 (ms)", ours["file"]["p50_ms"], theirs["file"]["p50_ms"], "lower"),
    ]
    print(f"{'metric':34} {'cogpin':>10} {'cog ' + COG_VERSION:>11} {'ratio':>7}  better")
    for name, a, b, better in rows:
        ratio = f"{a / b:.2f}" if b else ("-" if not a else "inf")
        print(f"{name:34} {a:10.2f} {b:11.2f} {ratio:>7}  {better}")
    print(json.dumps({"ours": ours, "cog": theirs}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
