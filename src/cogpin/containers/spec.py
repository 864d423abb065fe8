"""A container's life on the engine: what to run (:class:`RunSpec`: image, command, env, mounts, ports,
GPUs), created and started with one clear error line, always removed (Ctrl-C and SIGTERM included);
and the GPUs to give it."""

from __future__ import annotations

import contextlib
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin.errors import CogpinError
from cogpin.labels import ROLE

if TYPE_CHECKING:
    pass

SERVER_PORT = 5000
DEFAULT_COMMAND = ["python", "-m", "cog.server.http"]
LABEL = ROLE  # containers cogpin starts carry this label (tests count them)

if TYPE_CHECKING:
    from docker import DockerClient


class ContainerError(CogpinError):
    pass


class SetupFailed(ContainerError):
    def __init__(self, message: str, logs: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.logs = logs


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread (like Ctrl-C), so cleanup runs either way."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def uninterruptible() -> Iterator[None]:
    """Ignore Ctrl-C/SIGTERM for a short critical section (removing the container)."""
    try:
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def gpu_present(client: DockerClient | None = None) -> bool:
    if shutil.which("nvidia-smi"):
        return True
    if client is not None:
        try:
            return "nvidia" in (client.api.info().get("Runtimes") or {})
        except Exception:
            return False
    return False


def device_requests(gpus: str | None) -> list[dict[str, Any]] | None:
    """``--gpus`` value (all, N, device=0,1, 0,1) → the engine's DeviceRequests."""
    if not gpus:
        return None
    value = gpus.strip().strip('"')
    if value.startswith("device="):
        value = value[len("device=") :]
        return [{"Driver": "", "Count": 0, "DeviceIDs": value.split(","), "Capabilities": [["gpu"]]}]
    if value == "all":
        return [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]
    if value.isdigit():
        return [{"Driver": "", "Count": int(value), "Capabilities": [["gpu"]]}]
    return [{"Driver": "", "Count": 0, "DeviceIDs": value.split(","), "Capabilities": [["gpu"]]}]


def choose_gpus(
    gpus: str | None, config_gpu: bool, client: DockerClient, note: Callable[[str], None]
) -> str | None:
    """``--gpus`` as given; else ``all`` when cog.yaml says gpu: true and a GPU is present; else a note."""
    if gpus:
        return gpus
    if not config_gpu:
        return None
    if gpu_present(client):
        return "all"
    note(
        "note: cog.yaml has gpu: true, but this machine shows no NVIDIA GPU (no nvidia-smi, no nvidia runtime "
        "in the engine); running on the CPU."
    )
    return None


@dataclass
class RunSpec:
    image: str
    command: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    mounts: dict[str, str] = field(default_factory=dict)  # host path -> container path (rw)
    working_dir: str | None = None
    gpus: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    publish: dict[int, int | None] = field(default_factory=dict)  # container port -> host port on 127.0.0.1
    network_mode: str | None = None
    role: str = "predict"
    tty: bool = False
    stdin_open: bool = False
    name: str | None = None

    def create_kwargs(self, client: DockerClient) -> dict[str, Any]:
        host_config = client.api.create_host_config(
            binds={src: {"bind": dst, "mode": "rw"} for src, dst in self.mounts.items()} or None,
            port_bindings={p: ("127.0.0.1", h or "") for p, h in self.publish.items()} or None,
            device_requests=device_requests(self.gpus),
            network_mode=self.network_mode,
            init=True,
        )
        return dict(
            image=self.image,
            command=self.command,
            environment=self.env or None,
            working_dir=self.working_dir,
            labels={LABEL: self.role, **self.labels},
            ports=list(self.publish) or None,
            host_config=host_config,
            tty=self.tty,
            stdin_open=self.stdin_open,
            name=self.name,
        )


def create(client: DockerClient, spec: RunSpec) -> str:
    """Create a container; returns its id. Engine errors become one clear line."""
    from docker.errors import APIError, ImageNotFound

    try:
        return str(client.api.create_container(**spec.create_kwargs(client))["Id"])
    except ImageNotFound:
        raise ContainerError(
            f"image {spec.image} not found", "build it (`cog build`) or pull it first."
        ) from None
    except APIError as e:
        raise ContainerError(f"cannot create a container from {spec.image}: {e.explanation or e}") from None


def start(client: DockerClient, container_id: str, spec: RunSpec) -> None:
    from docker.errors import APIError

    try:
        client.api.start(container_id)
    except APIError as e:
        msg = str(e.explanation or e)
        if "capabilities: [[gpu]]" in msg or "nvidia" in msg.lower():
            raise ContainerError(
                f"the engine cannot give this container GPUs (--gpus {spec.gpus}): {msg}",
                "install the NVIDIA Container Toolkit and restart the engine, or run without --gpus.",
            ) from None
        if "port is already allocated" in msg or "address already in use" in msg:
            raise ContainerError(f"a port is already in use: {msg}", "pick another port with -p.") from None
        raise ContainerError(f"cannot start the container: {msg}") from None


def remove(client: DockerClient, container_id: str) -> None:
    """Remove (killing if needed); never raises, ignores Ctrl-C meanwhile."""
    with uninterruptible():
        try:
            client.api.remove_container(container_id, force=True)
        except Exception:
            pass


def project_mount(root: Path) -> dict[str, str]:
    return {str(root.resolve()): "/src"}
