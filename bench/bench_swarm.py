"""The hub's swarm runner side by side with its Docker runner, in one run, on the dev cluster (the engine as
swarm manager + a second node in its own network namespace: `scripts/dev-env cluster up`).

- throughput of 16 concurrent clients (`POST /v1/predictions` with `Prefer: wait`) on the async test model
  (concurrency 8 per replica, 5 s per prediction): the Docker runner (one container), and the swarm
  runner with 1, 2 and 4 replicas spread over the two nodes (--min-replicas = --max-replicas = N);
- scale-up time: a swarm hub at 1 warm replica (--max-replicas 2) gets 16 clients at once; from the first
  prediction that had to queue to a second READY replica (the hub's own figure, `GET /v1/hub/status`), and
  from the burst's start as a client sees it.

Run with `python -m bench swarm` (`./run bench swarm`). Both nodes share this machine's 2 cores, so the
figures show the hub's scheduling, not more hardware.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_hub import REPO, Hub, free_port, push, registry

CLIENTS = 16
# 5 s predictions: the replicas' slots (8 each) bound the throughput, not this machine's 2 shared cores;
# with short ones (BENCH_SWARM_DELAY=0.2 BENCH_SWARM_PER_CLIENT=15) the CPU does, and more replicas only
# add contention (see docs/hub.md)
PER_CLIENT = int(os.environ.get("BENCH_SWARM_PER_CLIENT", "3"))
DELAY = float(os.environ.get("BENCH_SWARM_DELAY", "5.0"))


class ServeHub(Hub):
    def __init__(self, data: Path, reg: str, *extra: str) -> None:
        super().__init__(data, reg)
        self.extra = extra

    def start(self) -> None:
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["hub", "serve", "--port", str(self.port), "--data", str(self.data), "--registry", self.reg]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cogpin", *args, *self.extra], stdout=log, stderr=log
            )
        for _ in range(300):
            try:
                if httpx.get(f"{self.url}/v1/account", headers=self.headers).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"the hub did not start:\n{self.log.read_text()}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def status(self) -> dict[str, Any]:
        import httpx

        rows = httpx.get(f"{self.url}/v1/hub/status", headers=self.headers, timeout=10).json()["versions"]
        return rows[0] if rows else {}


def predict(hub: ServeHub, version: str, text: str, delay: float) -> str:
    import httpx

    r = httpx.post(
        f"{hub.url}/v1/predictions",
        json={"version": version, "input": {"text": text, "delay": delay}},
        headers={**hub.headers, "Prefer": "wait=60"},
        timeout=120,
    )
    body = r.json()
    while body.get("status") in ("starting", "processing"):
        time.sleep(0.1)
        body = httpx.get(f"{hub.url}/v1/predictions/{body['id']}", headers=hub.headers, timeout=30).json()
    if body.get("status") != "succeeded":
        raise RuntimeError(f"prediction {body.get('status')}: {body.get('error')}")
    return str(body["output"])


def burst(hub: ServeHub, version: str, per_client: int, delay: float) -> tuple[float, int, int]:
    """(predictions per second, done, errors) for CLIENTS clients doing per_client predictions each."""
    errors = [0]

    def client(i: int) -> int:
        n = 0
        for j in range(per_client):
            try:
                assert predict(hub, version, f"{i}-{j}", delay) == f"hello {i}-{j}"
                n += 1
            except Exception:  # noqa: BLE001 - counted
                errors[0] += 1
        return n

    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        done = sum(pool.map(client, range(CLIENTS)))
    return done / (time.perf_counter() - t), done, errors[0]


def wait_ready(hub: ServeHub, n: int, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        st = hub.status()
        if st and st["replicas"]["ready"] >= n:
            return st
        if time.monotonic() > deadline:
            raise SystemExit(f"{n} replicas were not READY after {timeout:.0f} s: {st}")
        time.sleep(0.2)


def main() -> int:
    r = subprocess.run([str(REPO / "scripts" / "dev-env"), "cluster", "up"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"scripts/dev-env cluster up failed:\n{r.stderr}")
    reg = registry()
    owner = f"swarmbench{secrets.token_hex(3)}"
    version = push(REPO / "tests" / "hub" / "models" / "asyncmodel", f"{reg}/{owner}/asyncmodel")
    print(
        f"async model (concurrency 8), {CLIENTS} clients x {PER_CLIENT} predictions of {DELAY} s", flush=True
    )
    rows: list[tuple[str, float, int, int, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        configs: list[tuple[str, tuple[str, ...], int]] = [("docker runner (1 container)", (), 1)]
        for n in (1, 2, 4):
            configs.append((f"swarm runner, {n} replica{'s' * (n > 1)}", ("--runner", "swarm", "--min-replicas", str(n), "--max-replicas", str(n)), n))  # fmt: skip
        for i, (name, extra, n) in enumerate(configs):
            hub = ServeHub(Path(tmp) / f"h{i}", reg, *extra)
            hub.start()
            try:
                predict(hub, version, "warm", 0)
                nodes = ""
                if extra:
                    nodes = ",".join(wait_ready(hub, n)["nodes"])
                burst(hub, version, 1, 0.05)  # warm every replica's connections
                tput, done, errs = burst(hub, version, PER_CLIENT, DELAY)
                rows.append((name, tput, done, errs, nodes))
                print(
                    f"  {name:<30} {tput:7.1f} predictions/s  ({done} done, {errs} errors) {nodes}",
                    flush=True,
                )
            finally:
                hub.stop()
        # scale-up: 1 warm replica, then 16 clients at once with --max-replicas 2
        hub = ServeHub(Path(tmp) / "scale", reg, "--runner", "swarm", "--max-replicas", "2")
        hub.start()
        try:
            predict(hub, version, "warm", 0)
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
                futs = [pool.submit(predict, hub, version, str(i), 3.0) for i in range(CLIENTS)]
                st = wait_ready(hub, 2, timeout=120)
                seen = time.monotonic() - t0
                for f in futs:
                    f.result()
            own = st.get("scale_up_seconds") or [float("nan")]
        finally:
            hub.stop()
    base = rows[0][1]
    print()
    print(f"{'runner':<30} {'pred/s':>8} {'vs docker':>10} {'slots-bound':>12}  nodes")
    for (name, tput, _done, errs, nodes), (_n, _e, replicas) in zip(rows, configs, strict=True):
        ideal = min(CLIENTS, 8 * replicas) / DELAY  # what the replicas' slots allow, with no overhead at all
        print(
            f"{name:<30} {tput:8.1f} {tput / base:9.2f}x {ideal:11.1f}  {nodes}"
            f"{'  ERRORS: ' + str(errs) if errs else ''}"
        )
    print()
    print(
        f"scale-up 1 -> 2 replicas: {own[-1]:.2f} s from the first queued prediction to a second READY replica "
        f"(hub), {seen:.2f} s from the burst's start until the hub reported it (client)"
    )
    print(json.dumps({"rows": rows, "scale_up_hub_s": own[-1], "scale_up_client_s": seen}))
    return 1 if any(r[3] for r in rows) else 0
