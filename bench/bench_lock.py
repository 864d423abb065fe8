"""`python -m bench lock`: `cogpin lock` (cold) vs `uv pip compile` alone on the same requirements, and a
no-op `cogpin lock` / `cogpin lock --check` on an up-to-date lock. Needs the dev environment (engine +
local registry) for the base image digest; prints wall times side by side. No assertions."""

from __future__ import annotations

import os
import shutil
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
    root = Path(tempfile.mkdtemp(prefix="cogpin-bench-lock-"))
    try:
        (root / "cog.yaml").write_text(COG_YAML)
        (root / "predict.py").write_text("class Predictor:\n    pass\n")
        (root / "requirements.txt").write_text("\n".join(REQS) + "\n")
        (root / "uv.in").write_text("torch==2.13.0+cpu\npillow==11.0.0\n")
        cache = root / "uv-cache"
        env = dict(os.environ, UV_CACHE_DIR=str(cache))
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
        uv_cold, _ = _time(uv_cmd, root, env)
        shutil.rmtree(cache, ignore_errors=True)
        (root / "pylock.toml").unlink(missing_ok=True)
        lock_cold, rc = _time([cogpin, "lock"], root, env)
        noop, _ = _time([cogpin, "lock"], root, env) if rc == 0 else (float("nan"), 1)
        check, _ = _time([cogpin, "lock", "--check"], root, env) if rc == 0 else (float("nan"), 1)
        print("lock benchmark (torch==2.13.0 CPU + pillow, Python 3.11, linux/amd64)")
        print(f"  {'uv pip compile (cold cache)':38s} {uv_cold:8.2f} s")
        print(
            f"  {'cogpin lock (cold cache)':38s} {lock_cold:8.2f} s   ratio {lock_cold / uv_cold:.2f}x (target <= 1.2x)"
        )
        print(f"  {'cogpin lock, no-op':38s} {noop:8.2f} s   (target < 0.3 s)")
        print(f"  {'cogpin lock --check':38s} {check:8.2f} s   (target < 0.3 s)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
