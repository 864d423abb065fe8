"""The lock's artifacts served on the engine's side, for engines that do not share this machine's loopback
(``DOCKER_HOST=tcp://…``/``ssh://…``, Docker Desktop's VM).

``mode()`` decides, in one place, where the build's wheel server runs (``COGPIN_WHEELHOUSE=host|engine|auto``):

- ``host``: ``cogpin.builder.wheels_host.serve`` on 127.0.0.1 of this machine (the engine shares it);
- ``engine``: a named volume on the engine (``cogpin-artifacts``, or ``COGPIN_ENGINE_VOLUME``) holds the
  artifacts content-addressed like the host cache (``sha256/<hex>/<filename>``, plus a ``.complete`` marker
  written after the file, so an interrupted upload never counts). ``serve`` starts a labelled server
  container with ``network_mode=host`` and the volume mounted read-only, serving exactly the lock's
  artifacts on the engine's 127.0.0.1:<port> (the same index page as the host server, so the Dockerfile is
  the same text); it reports which artifacts the volume already has, and only the others are streamed in
  with ``put_archive`` into a never-started helper container. A sha256 the volume has is never sent again.
  Both containers are removed when the ``with`` block ends, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin.errors import CogpinError
from cogpin.fsutil import FILE_EPOCH
from cogpin.labels import WHEELHOUSE
from cogpin.lock.view import Artifact
from cogpin.settings import docker_host, engine_volume, server_image, wheelhouse_mode
from cogpin.templates import wheel_server

if TYPE_CHECKING:
    from docker import DockerClient

MODES = ("host", "engine", "auto")
DEFAULT_VOLUME = "cogpin-artifacts"
DEFAULT_SERVER_IMAGE = "python:3.11-slim-bookworm"
LABEL = WHEELHOUSE
MOUNT = "/cogpin-artifacts"
MARKER = ".complete"


class EngineWheelhouseError(CogpinError):
    pass


def _n(count: int) -> str:
    return f"{count} artifact" if count == 1 else f"{count} artifacts"


# ---------------------------------------------------------------------------------------------------------
# Mode selection


def choose_mode(setting: str, docker_host: str, operating_system: Callable[[], str]) -> str:
    """``host`` or ``engine`` for ``COGPIN_WHEELHOUSE=setting``. ``auto``: host when the engine shares this
    machine's loopback (DOCKER_HOST unset or ``unix://``, and not Docker Desktop, whose engine runs in a VM);
    else engine. ``operating_system`` (the engine's ``info()["OperatingSystem"]``) is asked only when it
    matters."""
    setting = (setting or "auto").strip().lower()
    if setting not in MODES:
        raise CogpinError(
            f"COGPIN_WHEELHOUSE={setting}: expected one of {', '.join(MODES)}",
            "unset it (auto) or set host (the engine shares this machine's 127.0.0.1) or engine.",
        )
    if setting != "auto":
        return setting
    if docker_host and not docker_host.startswith("unix://"):
        return "engine"
    try:
        os_name = operating_system()
    except Exception:  # noqa: BLE001 - an engine that does not say: assume it is local
        os_name = ""
    return "engine" if "docker desktop" in (os_name or "").lower() else "host"


def mode(client: DockerClient | None = None) -> str:
    def os_name() -> str:
        from cogpin.engine import client as engine_client

        return str((client or engine_client()).info().get("OperatingSystem", ""))

    return choose_mode(wheelhouse_mode(), docker_host(), os_name)


def volume_name() -> str:
    return engine_volume(DEFAULT_VOLUME)


# ---------------------------------------------------------------------------------------------------------
# What the volume lacks


def volume_path(art: Artifact) -> str:
    """Where ``art`` lives in the volume (relative), as in the host cache."""
    return f"sha256/{art.sha256}/{art.filename}"


def missing(wanted: Iterable[Artifact], present: Iterable[str]) -> list[Artifact]:
    """The artifacts of ``wanted`` whose ``volume_path`` is not among ``present`` (each once, in order)."""
    have = set(present)
    out: list[Artifact] = []
    seen: set[str] = set()
    for art in wanted:
        key = volume_path(art)
        if key not in have and key not in seen:
            seen.add(key)
            out.append(art)
    return out


def tar_stream(items: Iterable[tuple[Artifact, Path]], chunk: int = 1 << 20) -> Iterator[bytes]:
    """A tar of ``sha256/<hex>/<filename>`` (then its ``.complete`` marker) for each item, produced as it is
    read: a GB wheel is never held in memory."""

    def info(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> bytes:
        ti = tarfile.TarInfo(name)
        ti.size, ti.type, ti.mode, ti.mtime = size, kind, mode, FILE_EPOCH
        ti.uid = ti.gid = 0
        return ti.tobuf(format=tarfile.PAX_FORMAT)

    yield info("sha256", kind=tarfile.DIRTYPE, mode=0o755)
    for art, path in items:
        folder = f"sha256/{art.sha256}"
        yield info(folder, kind=tarfile.DIRTYPE, mode=0o755)
        size = path.stat().st_size
        yield info(f"{folder}/{art.filename}", size)
        sent = 0
        with open(path, "rb") as f:
            while sent < size:
                data = f.read(min(chunk, size - sent))
                if not data:
                    break
                sent += len(data)
                yield data
        if sent != size:
            raise EngineWheelhouseError(f"{path} changed size while it was sent to the engine")
        yield b"\0" * ((-size) % 512)
        yield info(f"{folder}/{MARKER}")
    yield b"\0" * 1024


# ---------------------------------------------------------------------------------------------------------
# The server in the engine

# The program the server container runs (``python3 -c SERVER_SCRIPT <json>``): cogpin.templates.wheel_server.
SERVER_SCRIPT = (Path(wheel_server.__file__)).read_text(encoding="utf-8")


@dataclass
class EngineServer:
    port: int
    volume: str
    image: str
    present: list[str] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)  # filenames sent to the engine by this build
    uploaded_bytes: int = 0
    upload_seconds: float = 0.0
    container: Any = None

    def failure_hint(self) -> str | None:
        """When a build fails: whether the server in the engine is still up, and its last words."""
        if self.container is None:
            return None
        try:
            self.container.reload()
            status = self.container.status
            logs = self.container.logs(tail=8).decode("utf-8", "replace").strip()
        except Exception as e:  # noqa: BLE001
            return f"the wheel server container in the engine is gone ({e}); package installs could not reach it."
        if status != "running":
            return (
                f"the wheel server container in the engine stopped ({status}); package installs could not "
                f"reach 127.0.0.1:{self.port} there. Its output:\n  {logs or '(none)'}"
            )
        return None


def _server_images(base_ref: str | None) -> list[str]:
    images: list[str] = []
    if base_ref:
        images.append(base_ref)
    images.append(server_image(DEFAULT_SERVER_IMAGE))
    return images


def _ensure_image(c: DockerClient, ref: str) -> None:
    from docker.errors import ImageNotFound

    try:
        c.images.get(ref)
    except ImageNotFound:
        c.images.pull(ref)


def _start_server(c: DockerClient, image: str, cfg: dict, volume: str, run: str) -> tuple[Any, dict]:
    container = c.containers.create(
        image,
        ["python3", "-c", SERVER_SCRIPT, json.dumps(cfg)],
        entrypoint=[],
        labels={LABEL: "server", f"{LABEL}.run": run},
        network_mode="host",
        volumes={volume: {"bind": MOUNT, "mode": "ro"}},
        user="0:0",
        working_dir="/",
    )
    try:
        container.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            logs = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            for line in logs.splitlines():
                if line.startswith("COGPIN-READY "):
                    return container, json.loads(line.removeprefix("COGPIN-READY "))
            container.reload()
            if container.status not in ("created", "running"):
                err = container.logs(tail=6).decode("utf-8", "replace").strip()
                raise EngineWheelhouseError(f"the server exited ({container.status}): {err or '(no output)'}")
            time.sleep(0.05)
        raise EngineWheelhouseError("the server did not start within 60 s")
    except BaseException:
        with contextlib.suppress(Exception):
            container.remove(force=True)
        raise


def _upload(c: DockerClient, image: str, volume: str, items: list[tuple[Artifact, Path]], run: str) -> None:
    helper = c.containers.create(
        image,
        ["true"],
        entrypoint=[],
        labels={LABEL: "upload", f"{LABEL}.run": run},
        network_disabled=True,
        volumes={volume: {"bind": MOUNT, "mode": "rw"}},
    )
    try:
        if not helper.put_archive(MOUNT, tar_stream(items)):
            raise EngineWheelhouseError(f"the engine refused the upload into volume {volume}")
    finally:
        with contextlib.suppress(Exception):
            helper.remove(force=True)


@contextlib.contextmanager
def serve(
    artifacts: list[Artifact],
    paths: dict[str, Path],
    port: int,
    *,
    base_ref: str | None = None,
    client: DockerClient | None = None,
    info: Callable[[str], None] | None = None,
) -> Iterator[EngineServer]:
    """Serve ``artifacts`` from the engine's volume on the engine's 127.0.0.1:``port`` (another free port
    if that one is taken there), uploading first what the volume lacks. ``base_ref``: an image with Python
    to run the server in (the lock's base when it has Python); ``COGPIN_SERVER_IMAGE`` otherwise."""
    from cogpin.builder.wheels_host import index_html
    from cogpin.engine import client as engine_client

    c = client or engine_client()
    volume = volume_name()
    c.volumes.create(volume, labels={LABEL: "artifacts"})  # no-op when it exists
    files = {a.filename: volume_path(a) for a in artifacts}
    cfg = {"port": port, "root": MOUNT, "files": files, "index": index_html(artifacts).decode()}
    run = uuid.uuid4().hex[:12]
    errors: list[str] = []
    container: Any = None
    ready: dict = {}
    image = ""
    for image in _server_images(base_ref):
        try:
            _ensure_image(c, image)
            container, ready = _start_server(c, image, cfg, volume, run)
            break
        except Exception as e:  # noqa: BLE001
            errors.append(
                f"{image}: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}"
            )
    if container is None:
        raise EngineWheelhouseError(
            "could not start cogpin's wheel server in the engine (it serves the lock's artifacts to the build "
            "there); tried " + "; ".join(errors),
            "set COGPIN_SERVER_IMAGE to an image with python3 that the engine has or can pull (default "
            f"{DEFAULT_SERVER_IMAGE}), or COGPIN_WHEELHOUSE=host if the engine shares this machine's 127.0.0.1.",
        )
    server = EngineServer(
        port=int(ready["port"]),
        volume=volume,
        image=image,
        present=list(ready.get("present", [])),
        container=container,
    )
    try:
        todo = missing(artifacts, server.present)
        if todo:
            items = [(a, paths[a.sha256]) for a in todo]
            size = sum(p.stat().st_size for _, p in items)
            if info:
                info(f"uploading {_n(len(todo))} ({size / 1e6:.1f} MB) to the engine's volume {volume}")
            t0 = time.monotonic()
            _upload(c, image, volume, items, run)
            server.upload_seconds = time.monotonic() - t0
            server.uploaded = [a.filename for a in todo]
            server.uploaded_bytes = size
        if info:
            info(
                f"uploaded {_n(len(server.uploaded))} to the engine "
                f"({len(artifacts) - len(server.uploaded)} already in volume {volume}); serving them there on "
                f"127.0.0.1:{server.port}"
            )
        yield server
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
