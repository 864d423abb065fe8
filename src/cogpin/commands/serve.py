"""`cogpin serve`: the model's HTTP API on 127.0.0.1:PORT, from source (environment image + the project
mounted). Logs are streamed; Ctrl-C or SIGTERM stops and removes the container."""

from __future__ import annotations

import sys
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING

from cogpin.commands._common import load_config, lock_mode, source_spec
from cogpin.commands._common import note as _note
from cogpin.containers import spec as containers
from cogpin.containers.model_server import ModelContainer
from cogpin.errors import CogpinError

if TYPE_CHECKING:
    from docker import DockerClient


def main(
    config_file: str | None = None,
    frozen: bool = False,
    relock: bool = False,
    port: int = 8393,
    upload_url: str | None = None,
    gpus: str | None = None,
) -> int:
    from cogpin import engine

    config = load_config(config_file)
    if not config.predict and not config.train:
        raise CogpinError(
            f"{config.path.name} has neither predict: nor train:, so there is nothing to serve",
            'add `predict: "predict.py:Predictor"` to cog.yaml.',
        )
    client = engine.client()
    mode = lock_mode(frozen, relock)
    command = list(containers.DEFAULT_COMMAND)
    spec = source_spec(config, mode, command, role="serve")
    spec.gpus = containers.choose_gpus(gpus, config.gpu, client, _note)
    if upload_url:
        command += ["--upload-url", upload_url]
    host = urllib.parse.urlsplit(upload_url).hostname if upload_url else None
    if host in ("127.0.0.1", "localhost", "::1"):
        # the upload target is on this machine's loopback: share the host's network so the container
        # reaches it, and listen on 127.0.0.1:PORT only
        spec.network_mode = "host"
        command += ["--host", "127.0.0.1", "--port", str(port)]
        spec.env["PORT"] = str(port)
    else:
        spec.publish = {containers.SERVER_PORT: port}

    with ModelContainer(client, spec) as mc:
        if spec.network_mode == "host":
            mc.port = port
        stop = threading.Event()
        logger = threading.Thread(target=_stream_logs, args=(client, mc.id, stop), daemon=True)
        logger.start()
        _note(f"Starting the model server on http://127.0.0.1:{port} (Ctrl-C stops it)")
        try:
            # setup output reaches the terminal through the container's logs (the runtime echoes it)
            mc.wait_ready(setup_timeout=float("inf"))
            _note(f"Ready: http://127.0.0.1:{port}  (POST /predictions, docs at /openapi.json)")
            while True:
                state = client.api.inspect_container(mc.id).get("State") or {}
                if not state.get("Running"):
                    time.sleep(0.2)  # let the last logs through
                    _note(f"The model server stopped (exit code {state.get('ExitCode')}).")
                    return int(state.get("ExitCode") or 1)
                time.sleep(1.0)
        except KeyboardInterrupt:
            _note("Stopping …")
            _stop_gracefully(client, mc.id)
            return 0
        finally:
            # the log stream ends when the container stops: let its last lines through
            logger.join(timeout=3)
            stop.set()


def _stop_gracefully(client: DockerClient, cid: str | None) -> None:
    """SIGTERM: the runtime finishes a running prediction, then exits (killed after 10 s)."""
    with containers.uninterruptible():
        try:
            client.api.stop(cid, timeout=10)
        except Exception:
            pass


def _stream_logs(client: DockerClient, cid: str | None, stop: threading.Event) -> None:
    try:
        for chunk in client.api.logs(cid, stream=True, follow=True, stdout=True, stderr=True):
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
            if stop.is_set():
                break
    except Exception:
        pass
