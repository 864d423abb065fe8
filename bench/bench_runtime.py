"""The runtime side by side with Replicate's `cog==0.23.1` (same predictors, same client, same run).

Measures: sequential no-op latency p50/p99 and 409 count over BENCH_RUNS (5) runs, reported as min /
median / max, with two clients (one keep-alive connection; a new connection per request), the two
servers' requests interleaved one by one (a hiccup of the machine falls on both alike); 8 concurrent
clients against an async predictor with concurrency.max 8 (throughput); start→READY time and RSS of server + worker; 1 MB file output latency.
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
SEQUENTIAL = int(os.environ.get("BENCH_SEQUENTIAL", "2000"))  # p99 of 2000: the 20th slowest, not the 5th
CONCURRENT_CLIENTS = 8
PER_CLIENT = int(os.environ.get("BENCH_PER_CLIENT", "100"))
FILE_RUNS = int(os.environ.get("BENCH_FILE_RUNS", "30"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
LATENCY_ONLY = os.environ.get("BENCH_LATENCY_ONLY", "") == "1"

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


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    latencies = sorted(latencies)
    return statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99) - 1] * 1000


def sequential(ports: dict[str, int], n: int, keep_alive: bool = True) -> dict[str, dict[str, float]]:
    """n no-op predictions to each server, one request at a time, alternating between the servers request by
    request (so a hiccup of the machine falls on both alike): on one keep-alive connection per server, or a
    new connection for each request."""
    conns = {side: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for side, port in ports.items()}
    for conn in conns.values():
        for _ in range(20):
            post(conn)
        if not keep_alive:
            conn.close()
    latencies: dict[str, list[float]] = {side: [] for side in ports}
    conflicts = dict.fromkeys(ports, 0)
    errors = dict.fromkeys(ports, 0)
    sides = list(ports)
    for i in range(n):
        for side in sides if i % 2 == 0 else sides[::-1]:  # neither always goes first
            t = time.perf_counter()
            if keep_alive:
                conn = conns[side]
            else:
                conn = conns[side] = http.client.HTTPConnection("127.0.0.1", ports[side], timeout=30)
            code, _ = post(conn)
            if not keep_alive:
                conn.close()
            if code == 200:  # a refusal is fast and would flatter the latency: count it instead
                latencies[side].append(time.perf_counter() - t)
            conflicts[side] += code == 409
            errors[side] += code not in (200, 409)
    out = {}
    for side, conn in conns.items():
        conn.close()
        p50, p99 = _percentiles(latencies[side])
        out[side] = {"p50_ms": p50, "p99_ms": p99, "409s": conflicts[side], "errors": errors[side]}
    return out


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


def latency_runs(reference: Path, workdir: Path) -> dict[str, dict[str, list[float]]]:
    """RUNS rounds; in each, both servers (running side by side) get the keep-alive client and then the
    new-connection client, their requests interleaved one by one."""
    servers = {
        "ours": Server("ours", Path(sys.executable), workdir, "noop.py:Predictor", {}),
        "cog": Server("cog", reference, workdir, "noop.py:Predictor", {}),
    }
    out: dict[str, dict[str, list[float]]] = {side: {} for side in servers}
    try:
        for run in range(RUNS):
            for client, keep in (("keep-alive", True), ("new connection", False)):
                both = sequential({side: srv.port for side, srv in servers.items()}, SEQUENTIAL, keep)
                for side, r in both.items():
                    for metric in ("p50_ms", "p99_ms", "409s", "errors"):
                        out[side].setdefault(f"{client} {metric}", []).append(r[metric])
            print(
                f"  run {run + 1}/{RUNS}: "
                + ", ".join(
                    f"{c} p50 {out['ours'][c + ' p50_ms'][-1]:.2f}/{out['cog'][c + ' p50_ms'][-1]:.2f} "
                    f"p99 {out['ours'][c + ' p99_ms'][-1]:.2f}/{out['cog'][c + ' p99_ms'][-1]:.2f} ms"
                    for c in ("keep-alive", "new connection")
                )
                + " (cogpin/cog)",
                flush=True,
            )
    finally:
        for srv in servers.values():
            srv.stop()
    return out


def _mmm(values: list[float]) -> str:
    return f"{min(values):6.2f} {statistics.median(values):6.2f} {max(values):6.2f}"


def main() -> int:
    reference = ensure_reference()
    with tempfile.TemporaryDirectory(prefix="cogpin-bench-") as tmp:
        workdir = Path(tmp)
        for name, source in PREDICTORS.items():
            (workdir / name).write_text(textwrap.dedent(source))
        (workdir / "cog.yaml").write_text('build:\n  python_version: "3.11"\nconcurrency:\n  max: 8\n')
        print(f"sequential no-op latency, {RUNS} runs of {SEQUENTIAL} requests per client:", flush=True)
        lat = latency_runs(reference, workdir)
        ours: dict[str, Any] = {}
        theirs: dict[str, Any] = {}
        if not LATENCY_ONLY:
            ours = run_side("ours", Path(sys.executable), workdir)
            theirs = run_side("cog", reference, workdir)
    print(
        f"\nlatency over {RUNS} runs: min / median / max (ms); ratio cogpin/cog per run: min / median / max"
    )
    print(f"{'metric':34} {'cogpin':>20}  {'cog ' + COG_VERSION:>20}  {'ratio':>20}  target")
    for client in ("keep-alive", "new connection"):
        for metric in ("p50_ms", "p99_ms"):
            key = f"{client} {metric}"
            a, b = lat["ours"][key], lat["cog"][key]
            ratios = [x / y for x, y in zip(a, b, strict=True)]
            verdict = (
                "met"
                if max(ratios) <= 0.8
                else "median met"
                if statistics.median(ratios) <= 0.8
                else "NOT met"
            )
            print(f"{key:34} {_mmm(a):>20}  {_mmm(b):>20}  {_mmm(ratios):>20}  <= 0.80: {verdict}")
        c409 = (sum(lat["ours"][f"{client} 409s"]), sum(lat["cog"][f"{client} 409s"]))
        print(f"{client + ' 409s (all runs)':34} {c409[0]:>20}  {c409[1]:>20}")
    if not LATENCY_ONLY:
        rows = [
            (
                "8 clients, async, max 8 (req/s)",
                ours["conc"]["req_per_s"],
                theirs["conc"]["req_per_s"],
                "higher",
            ),
            ("8 clients 409s", ours["conc"]["409s"], theirs["conc"]["409s"], "lower"),
            ("start -> READY (s)", ours["ready_s"], theirs["ready_s"], "lower"),
            ("RSS server + worker (MiB)", ours["rss_mib"], theirs["rss_mib"], "lower"),
            ("1 MB file output p50 (ms)", ours["file"]["p50_ms"], theirs["file"]["p50_ms"], "lower"),
        ]
        print(f"\n{'metric':34} {'cogpin':>10} {'cog ' + COG_VERSION:>11} {'ratio':>7}  better")
        for name, x, y, better in rows:
            ratio = f"{x / y:.2f}" if y else ("-" if not x else "inf")
            print(f"{name:34} {x:10.2f} {y:11.2f} {ratio:>7}  {better}")
    print(json.dumps({"latency": lat, "ours": ours, "cog": theirs}, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
