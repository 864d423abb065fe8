"""templates/image_init.py: the image's PID 1 forwards signals, returns the status and reaps orphans."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

INIT = Path(__file__).parents[2] / "src" / "cogpin" / "templates" / "image_init.py"


def test_init_forwards_signals_and_returns_the_status() -> None:
    child = "import signal,sys,time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(7)); print('up', flush=True); time.sleep(30)"
    p = subprocess.Popen(
        [sys.executable, "-I", "-S", str(INIT), "--", sys.executable, "-c", child], stdout=subprocess.PIPE
    )
    assert p.stdout is not None and p.stdout.readline().strip() == b"up"
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 7
    p = subprocess.Popen(
        [
            sys.executable,
            "-I",
            "-S",
            str(INIT),
            sys.executable,
            "-c",
            "import os,signal; os.kill(os.getpid(), signal.SIGKILL)",
        ]
    )
    assert p.wait(timeout=10) == 128 + 9
    assert subprocess.run([sys.executable, "-S", str(INIT), "/no/such/program"]).returncode == 127


def test_init_reaps_orphans() -> None:
    """A grandchild orphaned to the init (as to PID 1 in a container) is reaped, not left a zombie."""
    script = textwrap.dedent(
        """\
        import ctypes, os, subprocess, sys, time
        libc = ctypes.CDLL(None)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come to us, as to PID 1
        os.execv(sys.executable, [sys.executable, "-S", sys.argv[1], sys.executable, "-c",
            "import os, time\\nif os.fork() == 0:\\n    os._exit(0)\\ntime.sleep(1.5)\\nprint(os.getppid(), flush=True)"])
        """
    )
    p = subprocess.Popen([sys.executable, "-c", script, str(INIT)], stdout=subprocess.PIPE)
    time.sleep(0.8)
    zombies = subprocess.run(
        ["ps", "-o", "stat=", "--ppid", str(p.pid)], capture_output=True, text=True
    ).stdout.split()
    assert p.wait(timeout=10) == 0
    assert not any(s.startswith("Z") for s in zombies), zombies
