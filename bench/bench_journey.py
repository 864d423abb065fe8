"""The user's journey, timed through the real CLI (printed; no assertions):

1. `cogpin predict -i text=world` on examples/hello-world with a warm environment image, end to end,
   with the split the CLI reports under COGPIN_TIMING=1 (cli start, env image reuse, schema, validate,
   container start, ready, predict, write, remove). Target: <= 1.5 s.
2. `cogpin push` of an unchanged image to a local registry (a registry of our own on a free port, with
   its data in a temporary folder). Target: < 2 s, 0 layers uploaded.

Run: `python -m bench journey` (or `python bench/bench_journey.py`); needs `scripts/dev-env up`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COGPIN = str(BIN / "cogpin") if (BIN / "cogpin").exists() else (shutil.which("cogpin") or "cogpin")
RUNS = int(os.environ.get("BENCH_JOURNEY_RUNS", "7"))
PHASES = ["cli", "env-image", "schema", "validate", "start", "ready", "predict", "write", "remove"]


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    r = subprocess.run(
        [COGPIN, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"`cogpin {' '.join(args)}` failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")
    return wall, r


def _split(stderr: str) -> dict[str, float]:
    line = next((ln for ln in stderr.splitlines() if ln.startswith("cogpin-timing:")), "")
    return {k: float(v) for k, v in re.findall(r"(\S+?)=(\d+)ms", line)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_predict(project: Path) -> None:
    _cli("predict", "-i", "text=world", cwd=project)  # warm: env image built/reused, schema cached
    walls: list[float] = []
    splits: list[dict[str, float]] = []
    for _ in range(RUNS):
        wall, r = _cli("predict", "-i", "text=world", cwd=project, env={"COGPIN_TIMING": "1"})
        assert r.stdout == "hello world\n", r.stdout
        walls.append(wall)
        splits.append(_split(r.stderr))
    print(f"predict hello-world, warm image, {RUNS} runs (target <= 1.5 s end to end)")
    print(
        f"  end to end   median {statistics.median(walls):.3f} s   min {min(walls):.3f} s   max {max(walls):.3f} s"
    )
    for phase in PHASES:
        vals = [s.get(phase, 0.0) for s in splits]
        print(f"  {phase:<12} median {statistics.median(vals) / 1000:.3f} s")
    print("  (reference: a Cog-shaped image reaches READY 0.44 s after `docker run` on this machine)")


def bench_push(project: Path, work: Path) -> None:
    exe = shutil.which("docker-registry")
    if not exe:
        print("push: skipped (docker-registry not installed; `scripts/dev-env up` installs it)")
        return
    port = _free_port()
    cfg = work / "registry.yml"
    cfg.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {work / 'registry-data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    with open(work / "registry.log", "w") as log:
        proc = subprocess.Popen([exe, "serve", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    target = f"127.0.0.1:{port}/bench/hello-world"
    try:
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("the benchmark's registry did not start") from None
                time.sleep(0.1)
        env = {"DOCKER_CONFIG": str(work / "docker-config")}
        first, r = _cli("push", target, cwd=project, env=env)
        print(f"push hello-world to a local registry: first push {first:.2f} s ({_layers(r.stderr)})")
        walls = []
        for _ in range(3):
            wall, r = _cli("push", target, cwd=project, env=env)
            walls.append(wall)
        print(
            f"  re-push unchanged: median {statistics.median(walls):.2f} s, min {min(walls):.2f} s "
            f"({_layers(r.stderr)}; target < 2 s, no layer uploaded)"
        )
        print(f"  {r.stdout.strip()}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        subprocess.run(
            f"docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep '^127.0.0.1:{port}/' | xargs -r docker rmi",
            shell=True,
            capture_output=True,
        )


def _layers(stderr: str) -> str:
    m = re.search(r"(\d+) layers? uploaded, (\d+) already in the registry", stderr)
    return f"{m.group(1)} layers uploaded, {m.group(2)} already there" if m else "layer count not reported"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-journey-") as tmp:
        work = Path(tmp)
        project = work / "hello-world"
        shutil.copytree(REPO / "examples" / "hello-world", project)
        if not (project / "cog.lock").exists():
            _cli("lock", cwd=project)
        bench_predict(project)
        bench_push(project, work)


if __name__ == "__main__":
    main()
