"""`./run demo`'s script ends with the tutorial's last steps through the hub (the official client)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub.conftest import ROOT

pytestmark = pytest.mark.engine


def test_demo_ends_with_hello_python() -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run([str(ROOT / "scripts" / "demo")], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    # the tutorial's last step (the web page step of issue 12 may follow it)
    run = next(
        i for i, line in enumerate(lines) if line.startswith('output = replicate.run("examples/hello-world:')
    )
    assert lines[run + 2 : run + 4] == ["print(output)  # hello python", "hello python"], r.stdout
