"""The hub side by side with the model container it fronts (same model, same machine, same run).

- warm hello-world: the official client's `replicate.run` through the hub, a bare `POST /v1/predictions`
  with `Prefer: wait` through the hub, and `POST /predictions` straight to the model container
  (target: hub overhead ≤ 5 ms p50, ≤ 15 ms p99);
- cold start, split into pull / start / ready / predict: a version not yet pulled, and pulled but not running;
- 8 concurrent clients against an async model with concurrency 8: throughput through the hub vs direct,
  errors and 409s.

Models are pushed with `cogpin push` to the dev registry; the client is `replicate==1.0.7` in its own venv.
Run with `python -m bench hub` (`./run bench hub`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WARM = int(os.environ.get("BENCH_HUB_WARM", "300"))
PER_CLIENT = int(os.environ.get("BENCH_HUB_PER_CLIENT", "50"))
CLIENTS = 8
REPLICATE = "1.0.7"

CLIENT_SCRIPT = r"""
import json, os, statistics, sys, threading, time
import httpx, replicate

mode, arg = sys.argv[1], json.loads(sys.argv[2])

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))] * 1000

def stats(xs):
    return {"p50": pct(xs, 50), "p99": pct(xs, 99), "mean": statistics.mean(xs) * 1000, "n": len(xs)}

if mode == "warm":
    n, ref, version, direct = arg["n"], arg["ref"], arg["version"], arg["direct"]
    hub = os.environ["REPLICATE_BASE_URL"]
    headers = {"Authorization": "Bearer " + os.environ["REPLICATE_API_TOKEN"], "Prefer": "wait"}
    out = {}
    with httpx.Client(timeout=60) as c:
        for name, fn in [
            ("direct", lambda: c.post(direct + "/predictions", json={"input": {"text": "x"}}).json()["output"]),
            ("hub_http", lambda: c.post(hub + "/v1/predictions", headers=headers,
                                        json={"version": version, "input": {"text": "x"}}).json()["output"]),
            ("hub_client", lambda: replicate.run(ref + ":" + version, input={"text": "x"})),
        ]:
            for _ in range(20):
                fn()
            xs = []
            for _ in range(n):
                t = time.perf_counter()
                assert fn() == "hello x"
                xs.append(time.perf_counter() - t)
            out[name] = stats(xs)
    print(json.dumps(out))
elif mode == "once":
    t = time.perf_counter()
    assert replicate.run(arg["ref"] + ":" + arg["version"], input={"text": "x"}) == "hello x"
    print(json.dumps({"total": (time.perf_counter() - t) * 1000}))
elif mode == "concurrent":
    ref, version, direct, per = arg["ref"], arg["version"], arg["direct"], arg["per"]
    out = {}
    hub = os.environ["REPLICATE_BASE_URL"]
    headers = {"Authorization": "Bearer " + os.environ["REPLICATE_API_TOKEN"], "Prefer": "wait"}
    for name in ("direct", "hub_http", "hub_client"):
        errors, conflicts, done = [], [0], [0]
        def worker(i):
            with httpx.Client(timeout=60) as c:
                for j in range(per):
                    try:
                        if name == "direct":
                            r = c.post(direct + "/predictions", json={"input": {"text": "x", "delay": 0.01}})
                            if r.status_code == 409:
                                conflicts[0] += 1
                                continue
                            assert r.json()["output"] == "hello x", r.text
                        elif name == "hub_http":
                            r = c.post(hub + "/v1/predictions", headers=headers,
                                       json={"version": version, "input": {"text": "x", "delay": 0.01}})
                            if r.status_code == 409:
                                conflicts[0] += 1
                                continue
                            assert r.status_code == 201 and r.json()["output"] == "hello x", r.text
                        else:
                            assert replicate.run(ref + ":" + version, input={"text": "x", "delay": 0.01}) == "hello x"
                        done[0] += 1
                    except Exception as e:
                        if "409" in str(e):
                            conflicts[0] += 1
                        else:
                            errors.append(repr(e))
        t = time.perf_counter()
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(arg["clients"])]
        for th in ts: th.start()
        for th in ts: th.join()
        wall = time.perf_counter() - t
        out[name] = {"throughput": done[0] / wall, "errors": len(errors), "conflicts": conflicts[0],
                     "first_error": errors[0] if errors else None}
    print(json.dumps(out))
"""


def client_python() -> Path:
    home = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "cogpin-test"
        / f"replicate-{REPLICATE}"
    )
    py = home / "bin" / "python"
    check = f"import importlib.metadata as m; assert m.version('replicate') == '{REPLICATE}'"
    if not (py.exists() and subprocess.run([str(py), "-c", check], capture_output=True).returncode == 0):
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"replicate=={REPLICATE}"], check=True)
    return py


def cogpin(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "cogpin", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"cogpin {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r


def registry() -> str:
    r = subprocess.run(
        [str(REPO / "scripts" / "dev-env"), "status", "--json"], capture_output=True, text=True
    )
    return str(json.loads(r.stdout)["registry"])


def push(project: Path, target: str) -> str:
    return cogpin("push", target, cwd=project).stdout.strip().splitlines()[-1].split("@sha256:", 1)[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hub:
    def __init__(self, data: Path, reg: str) -> None:
        self.data, self.reg = data, reg
        self.token = cogpin("hub", "token", "create", "--data", str(data)).stdout.strip()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data / "hub.log"

    def start(self) -> None:
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["hub", "serve", "--port", str(self.port), "--data", str(self.data), "--registry", self.reg]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "cogpin", *args], stdout=log, stderr=log)
        for _ in range(300):
            try:
                if (
                    httpx.get(
                        f"{self.url}/v1/account", headers={"Authorization": f"Bearer {self.token}"}
                    ).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"the hub did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(60)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the hub process has used so far."""
        assert self.proc
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def env(self) -> dict[str, str]:
        return {**os.environ, "REPLICATE_BASE_URL": self.url, "REPLICATE_API_TOKEN": self.token}

    def last_start(self) -> dict[str, float]:
        lines = [ln for ln in self.log.read_text().splitlines() if " started " in ln]
        m = re.search(r"pull ([\d.]+) s, start ([\d.]+) s, ready ([\d.]+) s", lines[-1]) if lines else None
        return (
            {k: float(v) * 1000 for k, v in zip(("pull", "start", "ready"), m.groups(), strict=True)}
            if m
            else {}
        )

    def container_url(self, version: str) -> str:
        import docker

        for c in docker.from_env().containers.list(filters={"label": f"dev.cogpin.hub.version={version}"}):
            port = c.attrs["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"]
            return f"http://127.0.0.1:{port}"
        raise SystemExit(f"no container runs version {version[:12]}")


def run_client(py: Path, hub: Hub, mode: str, arg: dict[str, Any]) -> Any:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(textwrap.dedent(CLIENT_SCRIPT))
    try:
        r = subprocess.run(
            [str(py), f.name, mode, json.dumps(arg)], capture_output=True, text=True, env=hub.env()
        )
    finally:
        os.unlink(f.name)
    if r.returncode != 0:
        raise SystemExit(f"client {mode} failed:\n{r.stdout}\n{r.stderr}\n{hub.log.read_text()[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    import docker

    reg = registry()
    owner = f"hubbench{secrets.token_hex(3)}"
    print(f"pushing hello-world and an async model (concurrency 8) to {reg}/{owner}/ …", flush=True)
    hello = push(REPO / "examples" / "hello-world", f"{reg}/{owner}/hello-world")
    amodel = push(REPO / "tests" / "hub" / "models" / "asyncmodel", f"{reg}/{owner}/asyncmodel")
    py = client_python()
    client = docker.from_env()
    # "not pulled yet": drop this machine's references to the pushed image (layers it shares with the
    # locally built image stay, so "pull" is the registry round trips plus any missing layers)
    for ref in (f"{reg}/{owner}/hello-world:latest", f"{reg}/{owner}/hello-world@sha256:{hello}"):
        try:
            client.images.remove(ref, noprune=True)
        except docker.errors.DockerException:
            pass
    data = Path(tempfile.mkdtemp(prefix="cogpin-bench-hub-"))
    hub = Hub(data, reg)
    try:
        hub.start()
        cold = run_client(py, hub, "once", {"ref": f"{owner}/hello-world", "version": hello})
        cold_split = hub.last_start()
        hub.stop()  # its containers stop with it: the image is now pulled, nothing runs
        hub.start()
        warm_start = run_client(py, hub, "once", {"ref": f"{owner}/hello-world", "version": hello})
        warm_split = hub.last_start()
        direct = hub.container_url(hello)
        cpu0 = hub.cpu_seconds()
        warm = run_client(
            py, hub, "warm", {"n": WARM, "ref": f"{owner}/hello-world", "version": hello, "direct": direct}
        )
        # the hub served 20 + WARM bare creates and 20 + WARM replicate.run (create + version lookup)
        cpu_per = (hub.cpu_seconds() - cpu0) * 1000 / (2 * (20 + WARM))
        # start the async model through the hub, then drive it both ways
        import httpx

        r = httpx.post(
            f"{hub.url}/v1/predictions",
            json={"version": amodel, "input": {"text": "x"}},
            headers={"Authorization": f"Bearer {hub.token}", "Prefer": "wait"},
            timeout=120,
        )
        assert r.json()["output"] == "hello x", r.text
        conc = run_client(
            py,
            hub,
            "concurrent",
            {
                "ref": f"{owner}/asyncmodel",
                "version": amodel,
                "direct": hub.container_url(amodel),
                "per": PER_CLIENT,
                "clients": CLIENTS,
            },
        )
    finally:
        hub.stop()
        shutil.rmtree(data, ignore_errors=True)
        for name, v in (("hello-world", hello), ("asyncmodel", amodel)):
            for ref in (f"{reg}/{owner}/{name}:latest", f"{reg}/{owner}/{name}@sha256:{v}"):
                try:
                    client.images.remove(ref, noprune=True)
                except docker.errors.DockerException:
                    pass

    d, h, c = warm["direct"], warm["hub_http"], warm["hub_client"]
    print(f"\nwarm hello-world, {WARM} sequential predictions (ms)")
    print(f"  {'':34} {'p50':>8} {'p99':>8} {'mean':>8}")
    print(f"  {'direct to the container':34} {d['p50']:8.2f} {d['p99']:8.2f} {d['mean']:8.2f}")
    print(f"  {'hub, POST Prefer: wait (1 request)':34} {h['p50']:8.2f} {h['p99']:8.2f} {h['mean']:8.2f}")
    print(f"  {'hub, replicate.run (2 requests)':34} {c['p50']:8.2f} {c['p99']:8.2f} {c['mean']:8.2f}")
    print(
        f"  hub overhead per prediction (1 request): p50 {h['p50'] - d['p50']:+.2f} ms (target ≤ 5), "
        f"p99 {h['p99'] - d['p99']:+.2f} ms (target ≤ 15)"
    )
    print(f"  hub CPU per prediction (both kinds, averaged): {cpu_per:.2f} ms")
    print(
        f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine)"
    )
    print("\ncold start of hello-world through the hub (ms)")
    print(f"  {'':22} {'pull':>8} {'start':>8} {'ready':>8} {'predict':>8} {'total':>8}")
    for label, total, split in (
        ("not pulled yet", cold, cold_split),
        ("pulled, not running", warm_start, warm_split),
    ):
        rest = total["total"] - sum(split.values())
        print(
            f"  {label:22} {split.get('pull', 0):8.0f} {split.get('start', 0):8.0f} {split.get('ready', 0):8.0f} "
            f"{rest:8.0f} {total['total']:8.0f}"
        )
    print(
        "  (predict = the client's total minus pull/start/ready: create, the prediction, polls, version lookup)"
    )
    print(
        f"\n{CLIENTS} concurrent clients × {PER_CLIENT}, async model with concurrency 8, 10 ms per prediction"
    )
    print(f"  {'':24} {'pred/s':>8} {'errors':>7} {'409s':>6}")
    for name, label in (
        ("direct", "direct (bare HTTP)"),
        ("hub_http", "hub (bare HTTP)"),
        ("hub_client", "hub, replicate.run"),
    ):
        x = conc[name]
        print(f"  {label:24} {x['throughput']:8.1f} {x['errors']:7d} {x['conflicts']:6d}")
        if x["first_error"]:
            print(f"    first error: {x['first_error']}")
    ok = all(conc[k]["errors"] == 0 and conc[k]["conflicts"] == 0 for k in ("hub_http", "hub_client"))
    return 0 if ok else 1
