"""`cogpin run CMD…` (alias `exec`): a command in the model's environment image with the project
mounted at /src. Interactive with a TTY when stdin is one (through the docker CLI, which owns the
terminal); otherwise stdin/stdout/stderr are streamed through the engine API. The exit code is passed
through; the container is always removed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

from cogpin.commands._common import load_config, lock_mode, note, parse_env, source_spec
from cogpin.containers import spec as containers
from cogpin.containers.spec import RunSpec
from cogpin.errors import CogpinError

if TYPE_CHECKING:
    from docker import DockerClient


def main(
    config_file: str | None = None,
    frozen: bool = False,
    relock: bool = False,
    ports: tuple[int, ...] = (),
    envs: tuple[str, ...] = (),
    gpus: str | None = None,
    command: tuple[str, ...] = (),
) -> int:
    from cogpin import engine

    if not command:
        raise CogpinError("no command given", "e.g. `cog run python` or `cog run python -c 'import torch'`.")
    config = load_config(config_file)
    user_env = parse_env(envs)
    client = engine.client()
    mode = lock_mode(frozen, relock)
    spec = source_spec(config, mode, list(command), role="run")
    spec.env.update(user_env)
    spec.publish = {p: p for p in ports}
    spec.gpus = containers.choose_gpus(gpus, config.gpu, client, note)
    if ports:
        note("Published: " + ", ".join(f"http://127.0.0.1:{p}" for p in ports))
    if sys.stdin.isatty() and sys.stdout.isatty() and shutil.which("docker"):
        return _run_tty(spec)
    return _run_streamed(client, spec)


def _run_tty(spec: RunSpec) -> int:
    """A real interactive session: `docker run -it --rm` owns the terminal (resize, raw mode, Ctrl-C)."""
    args = ["docker", "run", "--rm", "-it", "--init", "--label", f"{containers.LABEL}={spec.role}"]
    for src, dst in spec.mounts.items():
        args += ["-v", f"{src}:{dst}"]
    if spec.working_dir:
        args += ["-w", spec.working_dir]
    for k, v in spec.env.items():
        args += ["-e", f"{k}={v}"]
    for p, h in spec.publish.items():
        args += ["-p", f"127.0.0.1:{h or p}:{p}"]
    if spec.gpus:
        args += ["--gpus", spec.gpus]
    args += [spec.image, *(spec.command or [])]
    try:
        return subprocess.call(args)
    except KeyboardInterrupt:
        return 130


def _run_streamed(client: DockerClient, spec: RunSpec) -> int:
    from docker.utils.socket import frames_iter

    spec.stdin_open = True
    cid = containers.create(client, spec)
    try:
        with containers.sigterm_as_interrupt():
            sock = client.api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            raw = getattr(sock, "_sock", sock)
            containers.start(client, cid, spec)
            feeder = threading.Thread(target=_feed_stdin, args=(raw,), daemon=True)
            feeder.start()
            out = sys.stdout.buffer
            err = sys.stderr.buffer
            for stream, data in frames_iter(sock, tty=False):
                target = err if stream == 2 else out
                target.write(data)
                target.flush()
            result = client.api.wait(cid)
            return int(result.get("StatusCode", 1))
    except KeyboardInterrupt:
        return 130
    finally:
        containers.remove(client, cid)


def _feed_stdin(raw: Any) -> None:
    """Copy our stdin into the container, then half-close so the command sees EOF."""
    try:
        fd = sys.stdin.fileno()
    except (OSError, ValueError, AttributeError):
        fd = -1
    try:
        if fd >= 0:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                raw.sendall(chunk)
    except OSError:
        pass
    finally:
        try:
            raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass
