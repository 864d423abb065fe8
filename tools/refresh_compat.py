"""Refresh what can be refreshed from here in ``src/cogpin/resolver/data``:

- ``torch.json``: for every torch release, the CUDA/cuDNN of its **default wheel on the package index**
  (``pypi-default``), read from the wheel's dependencies (``nvidia-cuda-runtime-cu12==12.1.105``,
  ``nvidia-cudnn-cu12==8.9.2.26``) by resolving ``torch==X`` with uv for Linux x86_64.
- ``python.json``: standalone CPython builds (python-build-standalone ``install_only_stripped`` archives
  for linux x86_64/aarch64: filename, url, sha256), from the ``pbs-installer`` package's data.

Fails loudly on surprises (a default wheel whose CUDA is not one of the release's known variants, a
release without CUDA dependencies, a torch release the index does not have), so the data never drifts
silently. Usage: ``python tools/refresh_compat.py [--only torch|python] [--jobs 4] [--data-version V]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "cogpin" / "resolver" / "data"
INDEX = "https://pypi.org/simple"


class Surprise(Exception):
    pass


def uv_bin() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def default_wheel(torch: str, python: str, cache: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "req.in"
        req.write_text(f"torch=={torch}\n")
        env = dict(os.environ)
        proc = subprocess.run(
            [
                uv_bin(),
                "pip",
                "compile",
                str(req),
                "--python-version",
                python,
                "--python-platform",
                "x86_64-manylinux_2_28",
                "--index-url",
                INDEX,
                "--no-header",
                "--no-annotate",
                "--quiet",
                "--cache-dir",
                cache,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    if proc.returncode != 0:
        raise Surprise(f"torch=={torch} (Python {python}) does not resolve on {INDEX}:\n{proc.stderr}")
    pins = dict(
        line.split("==", 1) for line in proc.stdout.splitlines() if "==" in line and not line.startswith("#")
    )
    runtime = next((v for k, v in pins.items() if re.fullmatch(r"nvidia-cuda-runtime(-cu\d+)?", k)), None)
    cudnn = next((v for k, v in pins.items() if re.fullmatch(r"nvidia-cudnn(-cu\d+)?", k)), None)
    if not runtime or not cudnn:
        raise Surprise(f"torch=={torch}: the default wheel pulls no nvidia-cuda-runtime/nvidia-cudnn: {pins}")
    major, minor = runtime.split(".")[:2]
    return {
        "variant": f"cu{major}{minor}",
        "cuda-runtime": runtime,
        "cudnn": cudnn,
        "source": f"dependencies of torch=={torch} on {INDEX} (Linux x86_64, Python {python}), tools/refresh_compat.py",
    }


def refresh_torch(jobs: int, data_version: str) -> None:
    path = DATA / "torch.json"
    data = json.loads(path.read_text())
    minors = {m["minor"]: m for m in data["minors"]}
    cache = tempfile.mkdtemp(prefix="cogpin-refresh-")

    def one(rel: dict) -> tuple[dict, dict[str, str] | None]:
        minor = ".".join(rel["torch"].split(".")[:2])
        if minor not in minors:
            raise Surprise(f"torch {rel['torch']}: no row for its minor {minor} in torch.json")
        if minors[minor].get("pypi-default-bundles-cuda"):
            return rel, None  # the default wheel bundles an old CUDA (no nvidia-* dependencies): unused
        pythons = minors[minor]["python"]
        python = "3.12" if "3.12" in pythons else pythons[-1]
        return rel, default_wheel(rel["torch"], python, cache)

    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for rel, info in pool.map(one, data["releases"]):
            if info is None:
                continue
            minor = ".".join(rel["torch"].split(".")[:2])
            known = minors[minor]["variants"]
            if info["variant"] not in known:
                problems.append(
                    f"torch {rel['torch']}: default wheel is {info['variant']} (cuda-runtime {info['cuda-runtime']}), "
                    f"not one of the known variants {sorted(known)}"
                )
            old = rel.get("pypi-default")
            if old and (old["variant"], old["cudnn"]) != (info["variant"], info["cudnn"]):
                print(
                    f"changed: torch {rel['torch']}: {old['variant']}/{old['cudnn']} → {info['variant']}/{info['cudnn']}"
                )
            rel["pypi-default"] = info
            print(
                f"torch {rel['torch']}: {info['variant']} cuda-runtime {info['cuda-runtime']} cudnn {info['cudnn']}"
            )
    if problems:
        raise Surprise("\n".join(problems))
    data["data-version"] = data_version
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def refresh_python(data_version: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [uv_bin(), "pip", "install", "--quiet", "--target", tmp, "--index-url", INDEX, "pbs-installer"],
            check=True,
        )
        sys.path.insert(0, tmp)
        from pbs_installer import _versions  # type: ignore[import-not-found]

        rows = []
        for key, platforms in _versions.PYTHON_VERSIONS.items():
            if key.implementation != "cpython" or getattr(key, "freethreaded", False):
                continue
            version = f"{key.major}.{key.minor}.{key.micro}"
            if key.major != 3 or key.minor < 8:
                continue
            for (os_name, arch, install_only), (url, sha256) in platforms.items():
                if os_name != "linux" or not install_only or arch not in ("x86_64", "aarch64"):
                    continue
                if not sha256:
                    continue  # a few old builds carry no hash: never pinned
                if not re.fullmatch(r"[0-9a-f]{64}", sha256):
                    raise Surprise(
                        f"cpython {version} {arch}: malformed sha256 {sha256!r} in pbs-installer data"
                    )
                filename = url.rsplit("/", 1)[-1].replace("%2B", "+")
                if "gnu" not in filename:
                    continue
                rows.append(
                    {"version": version, "arch": arch, "filename": filename, "url": url, "sha256": sha256}
                )
        if not rows:
            raise Surprise("pbs-installer data has no linux install_only CPython builds")
    rows.sort(key=lambda r: (tuple(int(p) for p in r["version"].split(".")), r["arch"]))
    out = {
        "data-version": data_version,
        "comment": "standalone CPython (python-build-standalone install_only_stripped) for CUDA bases, which have no Python",
        "source": "pbs-installer package data (tools/refresh_compat.py)",
        "builds": rows,
    }
    (DATA / "python.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"python.json: {len(rows)} builds")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["torch", "python"])
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--data-version", default=datetime.date.today().strftime("%Y.%m.%d"))
    args = ap.parse_args(argv)
    try:
        if args.only in (None, "python"):
            refresh_python(args.data_version)
        if args.only in (None, "torch"):
            refresh_torch(args.jobs, args.data_version)
    except Surprise as e:
        print(f"refresh_compat: SURPRISE, data not updated:\n{e}", file=sys.stderr)
        return 1
    # all data files carry the same data-version
    for p in sorted(DATA.glob("*.json")):
        d = json.loads(p.read_text())
        if d.get("data-version") != args.data_version:
            d["data-version"] = args.data_version
            p.write_text(json.dumps(d, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
