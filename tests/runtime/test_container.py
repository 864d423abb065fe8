"""The runtime's tests inside a container from the stand-in base image (its Python, not the host's)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = "python:3.11-slim-bookworm"


@pytest.mark.engine
def test_runtime_tests_pass_in_base_image() -> None:
    docker = shutil.which("docker")
    assert docker, "docker client not found"
    # pytest itself is not in the image (and pip there cannot reach the index): lend the host's pure-Python
    # site-packages, read-only, after the runtime on PYTHONPATH.
    site = sysconfig.get_paths()["purelib"]
    cmd = [
        docker,
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        f"{REPO}:/repo:ro",
        "-v",
        f"{site}:/hostsite:ro",
        "-e",
        "PYTHONPATH=/repo/runtime:/hostsite",
        "-e",
        "PYTHONDONTWRITEBYTECODE=1",
        "-w",
        "/repo/tests/runtime",
        IMAGE,
        "python",
        "-m",
        "pytest",
        ".",
        "-q",
        "-x",
        "-p",
        "no:cacheprovider",
        "-m",
        "not engine",
        "-k",
        "not test_wheel_has_no_dependencies",
        "-p",
        "no:warnings",
        "-o",
        "addopts=",
        "--rootdir",
        "/repo/tests/runtime",
        "-c",
        "/dev/null",
        "--confcutdir",
        "/repo/tests/runtime",
        "--ignore",
        "test_container.py",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    sys.stdout.write(proc.stdout[-3000:])
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout
