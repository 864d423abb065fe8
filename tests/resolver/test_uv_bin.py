"""Finding uv from the threads that resolve a lock's platforms at once (a fresh interpreter each time:
Python 3.11's sysconfig is initialised on first use, and that first use raced)."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import threading
from cogpin.resolver.python import uv_bin

found, errors = [], []
def find():
    try:
        found.append(uv_bin())
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=find) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(set(found)), len(found), errors)
"""


def test_uv_is_found_by_concurrent_first_callers() -> None:
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "1 8 []", r.stdout
