"""The last line of defence between an unexpected exception and the user: every error from the Docker Engine
(``docker.errors``), from HTTP (``requests``, ``urllib``), from the file system (``OSError``) or from a
program cogpin runs becomes one ``CogpinError`` line that says what failed and what to do. No traceback
reaches a user; ``COGPIN_DEBUG=1`` prints it for a bug report.
"""

from __future__ import annotations

import errno
import subprocess
import urllib.error

from cogpin.errors import CogpinError

REPORT = "this looks like a bug in cogpin: rerun with COGPIN_DEBUG=1 and report the traceback it prints."


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def translate(e: BaseException) -> CogpinError:
    """One user-facing error for ``e`` (which is not a ``CogpinError``)."""
    for rule in (_docker, _requests, _urllib, _process, _os):
        found = rule(e)
        if found is not None:
            return found
    return CogpinError(f"unexpected error: {type(e).__name__}: {_first_line(e) or 'no message'}", REPORT)


def _docker(e: BaseException) -> CogpinError | None:
    try:
        from docker import errors as de
    except ImportError:  # pragma: no cover - docker is a dependency
        return None
    if not isinstance(e, de.DockerException):
        return None
    if isinstance(e, de.BuildError):
        return CogpinError(
            f"the image build failed: {_first_line(e.msg)}",
            "the build log above says which step; `cogpin debug` prints the Dockerfile.",
        )
    if isinstance(e, de.ContainerError):
        return CogpinError(
            f"the container exited with status {e.exit_status}: {_first_line(e.stderr or b'') or e.command}",
            "its output above says why.",
        )
    if isinstance(e, de.ImageNotFound):
        return CogpinError(
            f"the Docker Engine has no such image: {_explanation(e)}",
            "check the name (`docker images`), or build it first with `cogpin build -t NAME`.",
        )
    if isinstance(e, de.NotFound):
        return CogpinError(
            f"the Docker Engine could not find it: {_explanation(e)}",
            "it may have been removed meanwhile (another `docker rm`/`rmi`); run the command again.",
        )
    if isinstance(e, de.APIError):
        status = e.status_code or 0
        hint = (
            "the engine has a problem of its own: check `docker info` and the free disk space, then retry."
            if status >= 500
            else "the engine refused what cogpin asked for; " + REPORT
        )
        return CogpinError(f"the Docker Engine answered {status or 'an error'}: {_explanation(e)}", hint)
    return CogpinError(
        f"Docker Engine error: {_first_line(e) or type(e).__name__}",
        "check that the engine runs (`docker info`) and that DOCKER_HOST points at it.",
    )


def _explanation(e: BaseException) -> str:
    explanation = getattr(e, "explanation", None)
    return _first_line(explanation or e) or type(e).__name__


def _requests(e: BaseException) -> CogpinError | None:
    try:
        import requests
    except ImportError:  # pragma: no cover - a docker dependency
        return None
    if not isinstance(e, requests.exceptions.RequestException):
        return None
    where = ""
    request = getattr(e, "request", None)
    url = getattr(request, "url", None)
    if url:
        from cogpin.urls import strip_credentials

        where = f" ({strip_credentials(str(url))})"
    if isinstance(e, requests.exceptions.Timeout):
        return CogpinError(
            f"no answer in time{where}: {_first_line(e) or type(e).__name__}",
            "the Docker Engine or the server is overloaded or stuck: check `docker info`, then retry.",
        )
    if isinstance(e, requests.exceptions.ConnectionError):
        return CogpinError(
            f"lost the connection{where}: {_first_line(e) or type(e).__name__}",
            "check that the Docker Engine still runs (`docker info`; DOCKER_HOST), then retry.",
        )
    return CogpinError(
        f"HTTP error{where}: {_first_line(e) or type(e).__name__}", "check the network and retry."
    )


def _urllib(e: BaseException) -> CogpinError | None:
    if isinstance(e, urllib.error.HTTPError):
        from cogpin.urls import strip_credentials

        return CogpinError(
            f"{strip_credentials(e.url or '')} answered {e.code} {e.reason}",
            "check the address and your credentials (`cogpin login`), then retry.",
        )
    if isinstance(e, urllib.error.URLError):
        return CogpinError(
            f"cannot reach the server: {_first_line(e.reason)}",
            "check the network, the proxy (HTTPS_PROXY) and the address, then retry.",
        )
    return None


def _process(e: BaseException) -> CogpinError | None:
    if isinstance(e, subprocess.CalledProcessError):
        cmd = e.cmd if isinstance(e.cmd, str) else " ".join(map(str, e.cmd))
        output = e.stderr or e.output or b""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        detail = _first_line(output)
        return CogpinError(
            f"`{cmd}` failed with status {e.returncode}" + (f": {detail}" if detail else ""),
            "its output above says why.",
        )
    if isinstance(e, subprocess.TimeoutExpired):
        return CogpinError(f"`{e.cmd}` did not finish in {e.timeout:g}s", "retry; check what it waits for.")
    return None


def _os(e: BaseException) -> CogpinError | None:
    if not isinstance(e, OSError):
        return None
    where = f": {e.filename}" if getattr(e, "filename", None) else ""
    what = e.strerror or _first_line(e) or type(e).__name__
    hints = {
        errno.ENOSPC: "free some disk space (`docker system df` shows what the engine holds), then retry.",
        errno.EACCES: "check the file's permissions and owner, or run as a user who may write there.",
        errno.EPERM: "check the file's permissions and owner, or run as a user who may write there.",
        errno.ENOENT: "check the path; it may have been moved or removed.",
        errno.EROFS: "the file system is read-only: work in a writable folder.",
        errno.ECONNREFUSED: "nothing listens there: check that the server (or the Docker Engine) runs.",
        errno.ENOMEM: "the machine is out of memory: close other programs or use a smaller input.",
    }
    return CogpinError(
        f"{what}{where}", hints.get(e.errno or 0, "check the path and the machine, then retry.")
    )
