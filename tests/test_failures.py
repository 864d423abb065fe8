"""No traceback reaches a user (issue 14): each error class an engine, registry, index or file system can
raise is injected at the engine seam (``cogpin.engine.client``) or the HTTP seam (``urllib``) while each
command runs through the real CLI entry point, and the user sees one ``error:`` line and one ``hint:``
line, exit status 1."""

from __future__ import annotations

import errno
import shutil
import subprocess
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from cogpin import cli, engine

pytestmark = pytest.mark.engine  # the project is locked once against the real registry


def _errors() -> dict[str, BaseException]:
    import docker.errors as de
    import requests

    response = requests.Response()
    response.status_code = 500
    bad = requests.Response()
    bad.status_code = 400
    return {
        "api-500": de.APIError(
            "500 Server Error", response=response, explanation="driver failed programming"
        ),
        "api-400": de.APIError(
            "400 Client Error", response=bad, explanation="dockerfile parse error line 29: ENV requires"
        ),
        "image-not-found": de.ImageNotFound("No such image: cog-x:latest"),
        "not-found": de.NotFound("No such container: 0123abcd"),
        "build-error": de.BuildError("The command '/bin/sh -c false' returned a non-zero code: 1", []),
        "container-error": de.ContainerError("c1", 2, "python", "python:3.11", b"boom\n"),
        "docker-exception": de.DockerException("Error while fetching server API version"),
        "connection": requests.exceptions.ConnectionError("Connection aborted.", "RemoteDisconnected"),
        "read-timeout": requests.exceptions.ReadTimeout("UnixHTTPConnectionPool: Read timed out."),
        "disk-full": OSError(errno.ENOSPC, "No space left on device", "/var/lib/docker/tmp/x"),
        "permission": PermissionError(errno.EACCES, "Permission denied", "/var/run/docker.sock"),
        "url-error": urllib.error.URLError("[Errno -2] Name or service not known"),
        "process": subprocess.CalledProcessError(2, ["docker", "buildx"], stderr=b"ERROR: no builder\n"),
        "unexpected": RuntimeError("something nobody expected"),
    }


ERRORS = sorted(_errors())


class Faulty:
    """An engine client whose every call raises ``error`` (attributes chain: ``client.images.get``)."""

    def __init__(self, error: BaseException) -> None:
        self._error = error

    def __getattr__(self, name: str) -> Any:
        return Faulty(self._error)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._error


PREDICT = """
from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self, s: str = "x") -> str:
        return s


def train(s: str = "x") -> str:
    return s
"""


@pytest.fixture(scope="module")
def locked_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    (root / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\ntrain: "predict.py:train"\n'
    )
    (root / "predict.py").write_text(PREDICT)
    cog = shutil.which("cogpin", path=str(Path(__import__("sys").executable).parent))
    subprocess.run([cog or "cogpin", "lock"], cwd=root, check=True, capture_output=True, timeout=300)
    return root


COMMANDS = {
    "build": ["build", "-t", "cogpin-faults:1"],
    "predict": ["predict", "-i", "s=y"],
    "predict-image": ["predict", "cogpin-faults-missing:1", "-i", "s=y"],
    "run": ["run", "python", "-c", "print(1)"],
    "exec": ["exec", "python", "-c", "print(1)"],
    "serve": ["serve", "-p", "18399"],
    "push": ["push", "127.0.0.1:5959/cogpin-faults:1"],
    "train": ["train", "-i", "s=y"],
    "doctor": ["doctor"],
}


def _run(argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    out, err = capfd.readouterr()
    code = exit_info.value.code
    return int(code) if isinstance(code, int) else 1, out + err


def _check_one_clear_error(code: int, text: str) -> None:
    assert code != 0, text
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, text
    assert len(errors[0]) > len("error: ") + 10, text
    assert any(line.strip().startswith("hint: ") for line in text.splitlines()), text


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", ERRORS)
def test_engine_errors_become_one_clear_line(
    command: str,
    name: str,
    locked_project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(locked_project)
    monkeypatch.setattr(engine, "client", lambda: Faulty(_errors()[name]))
    code, text = _run(COMMANDS[command], capfd)
    if command == "doctor":
        # doctor reports a broken engine as one of its findings, and exits 1
        assert code == 1 and "Traceback" not in text and "Docker" in text, text
        return
    _check_one_clear_error(code, text)


@pytest.mark.parametrize("name", ["url-error", "disk-full", "connection", "unexpected"])
def test_index_and_registry_errors_during_lock(
    name: str, locked_project: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import urllib.request

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise _errors()[name]

    monkeypatch.chdir(locked_project)
    monkeypatch.setattr(urllib.request, "urlopen", fail)
    monkeypatch.setattr(engine, "client", lambda: Faulty(_errors()[name]))
    monkeypatch.setenv("COGPIN_CACHE_DIR", str(locked_project / "empty-cache"))
    code, text = _run(["lock", "--upgrade"], capfd)
    _check_one_clear_error(code, text)


def test_debug_prints_the_traceback(
    locked_project: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(locked_project)
    monkeypatch.setenv("COGPIN_DEBUG", "1")
    monkeypatch.setattr(engine, "client", lambda: Faulty(RuntimeError("for the report")))
    code, text = _run(["build", "-t", "cogpin-faults:1"], capfd)
    assert (
        code == 1 and "Traceback" in text and "error: unexpected error: RuntimeError: for the report" in text
    )
