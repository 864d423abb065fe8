"""`python -m bench build`: `cogpin build` of hello-world against a hand-written Cog-shaped Dockerfile for
the same model on the same base (Replicate's `cog==0.23.1` runtime installed from local wheels, project
copied last), built with plain `docker build` in the same run. Printed side by side:

- cold build (no layer cache; the base image is present for both),
- cache-hit rebuild (nothing changed; for cogpin the whole CLI, which finds its identity tag),
- rebuild after editing predict.py,
- image size over the base,
- container start → READY (median of 3).

The reference's wheels are downloaded on the host once (`pip download cog==0.23.1`) into
~/.cache/cogpin-bench/cog-0.23.1-wheels/. Images and containers made here are removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COGPIN = str(BIN / "cogpin") if (BIN / "cogpin").exists() else shutil.which("cogpin") or "cogpin"
DOCKER = shutil.which("docker") or "docker"
COG_VERSION = "0.23.1"
LABEL = "dev.cogpin.bench=build"

REFERENCE = """\
FROM {base}
ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 LANG=C.UTF-8 LC_ALL=C.UTF-8
COPY .cog/wheels /tmp/cog-wheels
RUN pip install --no-cache-dir --no-index --find-links /tmp/cog-wheels cog=={version}
WORKDIR /src
EXPOSE 5000
ENV COG_PREDICT_TYPE_STUB=predict.py:Predictor
CMD ["python", "-m", "cog.server.http"]
COPY . /src
"""


def sh(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p


def timed(*args: str, cwd: Path | None = None, env: dict | None = None) -> float:
    t0 = time.monotonic()
    sh(*args, cwd=cwd, env=env)
    return time.monotonic() - t0


def cog_wheels() -> Path:
    d = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "cogpin-bench"
        / f"cog-{COG_VERSION}-wheels"
    )
    if not (d / ".done").exists():
        d.mkdir(parents=True, exist_ok=True)
        sh(sys.executable, "-m", "pip", "download", "-q", f"cog=={COG_VERSION}", "-d", str(d))
        (d / ".done").write_text("")
    return d


def size(ref: str) -> int:
    return int(json.loads(sh(DOCKER, "image", "inspect", ref, "--format", "{{json .Size}}").stdout))


def start_to_ready(image: str) -> float:
    t0 = time.monotonic()
    cid = sh(DOCKER, "run", "-d", "--label", LABEL, "-p", "127.0.0.1::5000", image).stdout.strip()
    try:
        port = sh(DOCKER, "port", cid, "5000/tcp").stdout.strip().splitlines()[0].rsplit(":", 1)[1]
        deadline = t0 + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health-check", timeout=2) as r:
                    if json.load(r).get("status") == "READY":
                        return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{image} never became READY")
    finally:
        subprocess.run([DOCKER, "rm", "-f", cid], capture_output=True)


def main() -> int:
    run = uuid.uuid4().hex[:8]
    ref_tag, cp_tag = f"cogpin-bench-ref-{run}", f"cogpin-bench-cogpin-{run}"
    results: dict[str, dict[str, float]] = {"reference (Cog-shaped, docker build)": {}, "cogpin build": {}}
    ref, cp = results["reference (Cog-shaped, docker build)"], results["cogpin build"]
    with tempfile.TemporaryDirectory(prefix="cogpin-bench-build-") as tmp:
        proj = Path(tmp) / "hello-world"
        shutil.copytree(REPO / "examples" / "hello-world", proj)
        sh(COGPIN, "lock", cwd=proj)
        import tomllib

        lock = tomllib.loads((proj / "cog.lock").read_text())
        base = lock["locked"]["base"][0]
        base_ref = f"{base['image']}@{base['digest']}"
        sh(DOCKER, "pull", "-q", base_ref)
        base_size = size(base_ref)

        refdir = Path(tmp) / "reference"
        shutil.copytree(REPO / "examples" / "hello-world", refdir)
        (refdir / ".cog" / "wheels").mkdir(parents=True)
        for wheel in cog_wheels().glob("*.whl"):
            shutil.copy2(wheel, refdir / ".cog" / "wheels" / wheel.name)
        (refdir / "Dockerfile").write_text(REFERENCE.format(base=base_ref, version=COG_VERSION))
        (refdir / ".dockerignore").write_text("Dockerfile\n")

        try:
            ref["cold build (s)"] = timed(DOCKER, "build", "-q", "--no-cache", "-t", ref_tag, ".", cwd=refdir)
            ref["cache-hit rebuild (s)"] = timed(DOCKER, "build", "-q", "-t", ref_tag, ".", cwd=refdir)
            with open(refdir / "predict.py", "a") as f:
                f.write("# edited\n")
            ref["rebuild after editing predict.py (s)"] = timed(
                DOCKER, "build", "-q", "-t", ref_tag, ".", cwd=refdir
            )
            ref["image over base (MB)"] = (size(ref_tag) - base_size) / 1e6
            ref["start → READY (s)"] = statistics.median(start_to_ready(ref_tag) for _ in range(3))

            quiet = ("--progress", "quiet")
            cp["cold build (s)"] = timed(COGPIN, "build", "--no-cache", *quiet, "-t", cp_tag, cwd=proj)
            cp["cache-hit rebuild (s)"] = timed(COGPIN, "build", *quiet, "-t", cp_tag, cwd=proj)
            with open(proj / "predict.py", "a") as f:
                f.write("# edited\n")
            cp["rebuild after editing predict.py (s)"] = timed(
                COGPIN, "build", *quiet, "-t", cp_tag, cwd=proj
            )
            cp["image over base (MB)"] = (size(cp_tag) - base_size) / 1e6
            cp["start → READY (s)"] = statistics.median(start_to_ready(cp_tag) for _ in range(3))
        finally:
            for t in (ref_tag, cp_tag):
                subprocess.run([DOCKER, "rmi", "-f", t], capture_output=True)
            for line in sh(DOCKER, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.splitlines():
                if line.startswith(f"{cp_tag}:") or line.startswith(f"{ref_tag}:"):
                    subprocess.run([DOCKER, "rmi", "-f", line], capture_output=True)

    metrics = list(ref)
    names = list(results)
    width = max(len(m) for m in metrics) + 2
    print(f"hello-world on {base['image']} (base {base_size / 1e6:.0f} MB)")
    print(f"{'':{width}}{names[0]:>40}{names[1]:>16}{'ratio':>9}")
    for m in metrics:
        a, b = ref[m], cp[m]
        ratio = f"{b / a:.2f}x" if a else "-"
        print(f"{m:{width}}{a:>40.2f}{b:>16.2f}{ratio:>9}")
    print(
        "targets: cold ≤ 1.1× reference; no-op cogpin build ≤ 0.5 s; rebuild after editing predict.py ≤ 1.5 s; "
        "image ≤ base + packages + 5 MB; start → READY ≤ reference"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
