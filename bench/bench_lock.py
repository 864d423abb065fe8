"""`python -m bench lock`: `cogpin lock` (cold) vs `uv pip compile` alone on the same requirements, and a
no-op `cogpin lock` / `cogpin lock --check` on an up-to-date lock. Needs the dev environment (engine +
local registry) for the base image digest; prints wall times side by side. No assertions.

Like with like: both tools resolve the same requirements (the ``torch==X+cpu`` line cogpin asks uv for,
with the machine's find-links), each cold run gets a fresh, empty ``UV_CACHE_DIR``, and the tools take
turns (uv first in odd rounds, cogpin first in even ones), so drift in the package index's speed hits both;
the median of ``BENCH_LOCK_ROUNDS`` (default 3) rounds is compared. cogpin runs cold twice: with the
machine's cogpin cache (remembered torch-index probe and base-image Python) and with an empty one. The
engine's image store is left as it is (the base image may already be there)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQS = ["torch==2.13.0", "pillow==11.0.0"]
COG_YAML = """build:
  gpu: false
  python_version: "3.11"
  python_requirements: requirements.txt
predict: "predict.py:Predictor"
"""


def _time(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  ({' '.join(cmd[:3])} failed: {proc.stderr.strip().splitlines()[-1:]})")
    return time.perf_counter() - start, proc.returncode


def main() -> int:
    from uv import find_uv_bin

    cogpin = str(Path(sys.executable).with_name("cogpin"))
    uv = find_uv_bin()
    rounds = max(1, int(os.environ.get("BENCH_LOCK_ROUNDS", "3")))
    root = Path(tempfile.mkdtemp(prefix="cogpin-bench-lock-"))
    try:
        (root / "cog.yaml").write_text(COG_YAML)
        (root / "predict.py").write_text("class Predictor:\n    pass\n")
        (root / "requirements.txt").write_text("\n".join(REQS) + "\n")
        (root / "uv.in").write_text("torch==2.13.0+cpu\npillow==11.0.0\n")
        find_links = os.environ.get("PIP_FIND_LINKS", "").split()
        uv_cmd = [
            uv,
            "pip",
            "compile",
            "uv.in",
            "--python-version",
            "3.11",
            "--python-platform",
            "x86_64-manylinux_2_36",
            "--format",
            "pylock.toml",
            "-o",
            "pylock.toml",
            "-q",
        ]
        for f in find_links:
            uv_cmd += ["--find-links", f]
        counter = iter(range(1_000_000))

        def cold_env(**extra: str) -> dict[str, str]:
            cache = root / f"uv-cache-{next(counter)}"  # fresh and empty for every cold run
            return dict(os.environ, UV_CACHE_DIR=str(cache), **extra)

        def run_uv() -> float:
            (root / "pylock.toml").unlink(missing_ok=True)
            return _time(uv_cmd, root, cold_env())[0]

        def run_cogpin(empty_cogpin_cache: bool = False) -> float:
            (root / "cog.lock").unlink(missing_ok=True)
            extra = (
                {"COGPIN_CACHE_DIR": str(root / f"cogpin-cache-{next(counter)}")}
                if empty_cogpin_cache
                else {}
            )
            elapsed, rc = _time([cogpin, "lock"], root, cold_env(**extra))
            return elapsed if rc == 0 else float("nan")

        uv_t: list[float] = []
        lock_t: list[float] = []
        lock_empty_t: list[float] = []
        for i in range(rounds):
            if i % 2 == 0:
                uv_t.append(run_uv())
                lock_t.append(run_cogpin())
            else:
                lock_t.append(run_cogpin())
                uv_t.append(run_uv())
            lock_empty_t.append(run_cogpin(empty_cogpin_cache=True))
        run_cogpin()  # leave an up-to-date lock for the no-op runs
        env = dict(os.environ)
        noop_t = [_time([cogpin, "lock"], root, env)[0] for _ in range(rounds)]
        check_t = [_time([cogpin, "lock", "--check"], root, env)[0] for _ in range(rounds)]

        uv_m, lock_m, empty_m = (statistics.median(x) for x in (uv_t, lock_t, lock_empty_t))
        print("lock benchmark (torch==2.13.0 CPU + pillow, Python 3.11, linux/amd64)")
        print(
            f"  median of {rounds} rounds; every cold run with a fresh empty UV_CACHE_DIR, uv and cogpin "
            "taking turns; same requirements"
        )
        print(f"  {'uv pip compile (cold uv cache)':44s} {uv_m:6.2f} s   {_samples(uv_t)}")
        print(
            f"  {'cogpin lock (cold uv cache)':44s} {lock_m:6.2f} s   ratio {lock_m / uv_m:.2f}x "
            f"(target <= 1.2x)   {_samples(lock_t)}"
        )
        print(
            f"  {'cogpin lock (cold uv cache, empty cogpin cache)':44s} {empty_m:6.2f} s   ratio "
            f"{empty_m / uv_m:.2f}x   {_samples(lock_empty_t)}"
        )
        print(f"  {'cogpin lock, no-op':44s} {statistics.median(noop_t):6.2f} s   (target < 0.3 s)")
        print(f"  {'cogpin lock --check':44s} {statistics.median(check_t):6.2f} s   (target < 0.3 s)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _samples(values: list[float]) -> str:
    return "[" + " ".join(f"{v:.2f}" for v in values) + "]"


if __name__ == "__main__":
    sys.exit(main())
