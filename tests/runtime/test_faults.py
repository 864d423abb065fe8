"""Faults the server survives: worker death (exit, signal, segfault), setup failures and timeouts, bad refs."""

from __future__ import annotations

import time

import pytest

CRASHY = """
import ctypes, os, signal, time
from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def setup(self):
        print("setup run at", time.time())
        with open("setups.txt", "a") as f:
            f.write("x")

    def predict(self, how: str = Input(default="ok", choices=["ok", "exit", "kill", "segv"])) -> str:
        print("about to", how)
        if how == "exit":
            os._exit(7)
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "segv":
            ctypes.string_at(0)
        return "fine"
"""


@pytest.mark.parametrize(
    ("how", "reason"),
    [("exit", "exited with code 7"), ("kill", "killed by SIGKILL"), ("segv", "killed by SIGSEGV")],
)
def test_worker_death_fails_prediction_and_restarts(serve, tmp_path, how, reason) -> None:
    s = serve(CRASHY)
    code, body = s.predict({"how": how})
    assert code == 200
    assert body["status"] == "failed"
    assert reason in body["error"] and "worker process" in body["error"]
    # the health check tells the truth while the worker restarts, then the model works again
    assert s.health()["status"] in ("STARTING", "READY")
    s.wait_status("READY")
    assert (tmp_path / "setups.txt").read_text() == "xx"  # setup ran again
    code, body = s.predict({"how": "ok"})
    assert body["status"] == "succeeded" and body["output"] == "fine"


def test_not_ready_is_503_while_starting(serve) -> None:
    s = serve(
        "import time\nfrom cog import BasePredictor\nclass Predictor(BasePredictor):\n"
        "    def setup(self):\n        time.sleep(1.5)\n    def predict(self) -> str:\n        return 'x'\n",
        wait=None,
    )
    assert s.health()["status"] == "STARTING"
    code, body = s.predict({})
    assert code == 503
    s.wait_status("READY")
    assert s.predict({})[0] == 200


def test_setup_raises_is_setup_failed_with_logs(serve) -> None:
    s = serve(
        "from cog import BasePredictor\nclass Predictor(BasePredictor):\n    def setup(self):\n"
        "        print('loading weights')\n        raise RuntimeError('weights missing')\n"
        "    def predict(self) -> str:\n        return 'x'\n",
        wait=("SETUP_FAILED",),
    )
    body = s.health()
    assert body["setup"]["status"] == "failed"
    assert "loading weights" in body["setup"]["logs"] and "weights missing" in body["setup"]["logs"]
    assert s.predict({})[0] == 503


def test_setup_timeout(serve) -> None:
    s = serve(
        "import time\nfrom cog import BasePredictor\nclass Predictor(BasePredictor):\n"
        "    def setup(self):\n        time.sleep(60)\n    def predict(self) -> str:\n        return 'x'\n",
        env={"COG_SETUP_TIMEOUT": "1"},
        wait=("SETUP_FAILED",),
    )
    assert "COG_SETUP_TIMEOUT" in s.health()["setup"]["logs"]
    time.sleep(0.3)
    assert s.health()["status"] == "SETUP_FAILED"


@pytest.mark.parametrize(
    ("ref", "source", "reason"),
    [
        (
            "predict.py:Predictr",
            "from cog import BasePredictor\nclass Predictor(BasePredictor):\n    pass\n",
            "no attribute 'Predictr'",
        ),
        ("nothere.py:Predictor", None, "not found"),
        ("predict.py:Predictor", "import not_a_module_xyz\n", "not_a_module_xyz"),
        (
            "predict.py:Predictor",
            "from cog import BasePredictor\nclass Predictor(BasePredictor):\n    def predict(self, x: set) -> str:\n        return ''\n",
            "unsupported type",
        ),
    ],
    ids=["misspelt", "missing-file", "import-error", "bad-signature"],
)
def test_bad_predictor_is_setup_failed_with_reason(serve, ref, source, reason) -> None:
    s = serve(source, ref=ref, wait=("SETUP_FAILED",))
    assert reason in s.health()["setup"]["logs"]


def test_setup_starting_daemon_subprocess_does_not_hang(serve) -> None:
    s = serve(
        "import subprocess\nfrom cog import BasePredictor\nclass Predictor(BasePredictor):\n"
        "    def setup(self):\n"
        "        subprocess.Popen(['sh', '-c', '(sleep 30 &) ; echo forked'])\n"
        "    def predict(self) -> str:\n        print('predict log')\n        return 'x'\n",
    )
    code, body = s.predict({})
    assert body["output"] == "x" and "predict log" in body["logs"]
    code, body = s.predict({})
    assert "predict log" in body["logs"]


def test_user_healthcheck_failure_is_unhealthy(serve, tmp_path) -> None:
    s = serve(
        "import os\nfrom cog import BasePredictor\nclass Predictor(BasePredictor):\n"
        "    def healthcheck(self):\n        if os.path.exists('sick'):\n            raise RuntimeError('gpu gone')\n"
        "        return True\n"
        "    def predict(self) -> str:\n        return 'x'\n",
    )
    assert s.health()["status"] == "READY"
    (tmp_path / "sick").write_text("")
    body = s.health()
    assert body["status"] == "UNHEALTHY" and "gpu gone" in body["user_healthcheck_error"]


def test_user_healthcheck_timeout_is_unhealthy(serve) -> None:
    s = serve(
        "import time\nfrom cog import BasePredictor\nclass Predictor(BasePredictor):\n"
        "    async def healthcheck(self):\n        time.sleep(3)\n        return True\n"
        "    def predict(self) -> str:\n        return 'x'\n",
        env={"COG_HEALTHCHECK_TIMEOUT": "0.5"},
        wait=("UNHEALTHY", "READY"),
    )
    body = s.health()
    assert body["status"] == "UNHEALTHY" and "timed out" in body["user_healthcheck_error"]
