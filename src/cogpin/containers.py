"""Model containers: start one, wait for its HTTP API, call it, and always remove it (errors, Ctrl-C,
SIGTERM included).

Speed matters here (``cog predict`` on a warm image should take well under 1.5 s): the container is
created and started with the low-level API, the published port read from one inspect, and the health
check polled right away with short sleeps over a plain ``http.client`` connection.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogpin.errors import CogpinError

SERVER_PORT = 5000
DEFAULT_COMMAND = ["python", "-m", "cog.server.http"]
LABEL = "run.cogpin.role"  # containers cogpin starts carry this label (tests count them)


class ContainerError(CogpinError):
    pass


class SetupFailed(ContainerError):
    def __init__(self, message: str, logs: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.logs = logs


# ---------------------------------------------------------------------------------------------- signals


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


# ---------------------------------------------------------------------------------------------- GPUs


def gpu_present(client: Any = None) -> bool:
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


def choose_gpus(gpus: str | None, config_gpu: bool, client: Any, note: Callable[[str], None]) -> str | None:
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


# ---------------------------------------------------------------------------------------------- spec


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

    def create_kwargs(self, client: Any) -> dict[str, Any]:
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


def create(client: Any, spec: RunSpec) -> str:
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


def start(client: Any, container_id: str, spec: RunSpec) -> None:
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


def remove(client: Any, container_id: str) -> None:
    """Remove (killing if needed); never raises, ignores Ctrl-C meanwhile."""
    with uninterruptible():
        try:
            client.api.remove_container(container_id, force=True)
        except Exception:
            pass


def image_command(client: Any, image: str) -> list[str]:
    """The image's CMD when it is the runtime's server, else the default server command."""
    try:
        cmd = client.api.inspect_image(image)["Config"].get("Cmd") or []
    except Exception:
        cmd = []
    return list(cmd) if cmd and "cog.server.http" in " ".join(cmd) else list(DEFAULT_COMMAND)


# ---------------------------------------------------------------------------------------------- HTTP


def _request(
    port: int, method: str, path: str, body: Any = None, timeout: float | None = 5.0
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")
    finally:
        conn.close()


class ModelContainer:
    """A running model server container (context manager: removed on exit, whatever happened)."""

    def __init__(self, client: Any, spec: RunSpec, timing: Timing | None = None) -> None:
        self.client = client
        self.spec = spec
        self.id: str | None = None
        self.port: int | None = None
        self.timing = timing or Timing(False)

    def __enter__(self) -> ModelContainer:
        self._sig = sigterm_as_interrupt()
        self._sig.__enter__()
        try:
            self.id = create(self.client, self.spec)
            start(self.client, self.id, self.spec)
            self.port = self._published_port()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.timing.mark("start")
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.id is not None:
                remove(self.client, self.id)
                self.id = None
        finally:
            self._sig.__exit__(None, None, None)

    def _published_port(self) -> int | None:
        if self.spec.network_mode == "host":
            return SERVER_PORT
        if SERVER_PORT not in self.spec.publish:
            return None
        assert self.id is not None
        info = self.client.api.inspect_container(self.id)
        bindings = (info.get("NetworkSettings") or {}).get("Ports") or {}
        for b in bindings.get(f"{SERVER_PORT}/tcp") or []:
            if b.get("HostPort"):
                return int(b["HostPort"])
        raise ContainerError("the engine did not publish the model's port")

    def logs(self) -> str:
        assert self.id is not None
        try:
            return self.client.api.logs(self.id, stdout=True, stderr=True).decode(errors="replace")
        except Exception:
            return ""

    def _state(self) -> Mapping[str, Any]:
        assert self.id is not None
        return self.client.api.inspect_container(self.id).get("State") or {}

    def wait_ready(
        self,
        setup_timeout: float,
        start_timeout: float = 60.0,
        on_setup_log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Poll ``GET /health-check`` until READY. SETUP_FAILED, an exited container or a timeout raise.
        ``on_setup_log`` gets setup() output as it appears (the health check carries it), so a slow setup
        shows its progress; a SetupFailed then holds only what was not shown yet."""
        assert self.port is not None
        t0 = time.monotonic()
        shown = 0

        def setup_logs(body: Mapping[str, Any]) -> str:
            nonlocal shown
            logs = str((body.get("setup") or {}).get("logs") or "")
            new = logs[shown:] if len(logs) >= shown else logs
            if on_setup_log is not None and new:
                on_setup_log(new)
                shown = len(logs)
                return ""
            return new

        setup_started: float | None = None
        sleep = 0.005
        next_state_check = t0 + 0.5
        while True:
            now = time.monotonic()
            try:
                status, body = _request(self.port, "GET", "/health-check", timeout=2.0)
            except (OSError, http.client.HTTPException):
                status, body = 0, None
            if status == 200 and isinstance(body, dict):
                state = body.get("status")
                pending = setup_logs(body)
                if state in ("READY", "BUSY"):
                    self.timing.mark("ready")
                    return body
                if state in ("SETUP_FAILED", "DEFUNCT"):
                    raise SetupFailed(
                        "the model's setup() failed"
                        if state == "SETUP_FAILED"
                        else "the model server is defunct",
                        pending.rstrip() if (pending or shown) else self.logs().rstrip(),
                        "the setup logs are above; fix setup() (or the predictor reference in cog.yaml).",
                    )
                if setup_started is None:
                    setup_started = now
                if now - setup_started > setup_timeout + 5:
                    raise SetupFailed(
                        f"setup() did not finish within {setup_timeout:g} s",
                        pending.rstrip(),
                        "raise --setup-timeout, or make setup() faster.",
                    )
            elif setup_started is None and now - t0 > start_timeout:
                raise SetupFailed(
                    f"the model server did not answer within {start_timeout:g} s", self.logs().rstrip()
                )
            if now >= next_state_check:
                next_state_check = now + 0.5
                st = self._state()
                if not st.get("Running"):
                    raise SetupFailed(
                        f"the model's container stopped (exit code {st.get('ExitCode')}) before it was ready",
                        self.logs().rstrip(),
                        "the container's output is above.",
                    )
            time.sleep(sleep)
            sleep = min(sleep * 1.5, 0.05)

    def predict(
        self,
        inputs: Mapping[str, Any],
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        first_poll: float = 0.2,
        interval: float = 0.25,
    ) -> dict[str, Any]:
        """One synchronous prediction (``PUT /predictions/{id}``, Cog's idempotent create). While it runs
        longer than ``first_poll`` seconds, ``GET /predictions/{id}`` (cogpin's runtime; Cog's answers 405
        and polling stops) feeds ``on_progress`` with its logs and output so far."""
        import threading
        import uuid

        assert self.port is not None
        port = self.port
        pid = uuid.uuid4().hex
        result: dict[str, Any] = {}

        def call() -> None:
            try:
                result["r"] = _request(
                    port, "PUT", f"/predictions/{pid}", {"id": pid, "input": dict(inputs)}, None
                )
            except BaseException as e:  # handed to the main thread
                result["e"] = e

        worker = threading.Thread(target=call, name="cogpin-predict", daemon=True)
        worker.start()
        worker.join(first_poll)
        polling = on_progress is not None
        while worker.is_alive():
            if polling:
                assert on_progress is not None
                try:
                    code, body = _request(port, "GET", f"/predictions/{pid}", timeout=5.0)
                except (OSError, http.client.HTTPException):
                    code, body = 0, None
                if code == 200 and isinstance(body, dict):
                    on_progress(body)
                elif code in (405, 501):
                    polling = False
            worker.join(interval)
        if "e" in result:
            e = result["e"]
            if not isinstance(e, (OSError, http.client.HTTPException)):
                raise e
            st = self._state() if self.id else {}
            if st and not st.get("Running"):
                raise ContainerError(
                    f"the model's container stopped (exit code {st.get('ExitCode')}) during the prediction",
                    "its output: " + self.logs().rstrip()[-2000:],
                ) from None
            raise ContainerError(f"the model server dropped the prediction: {e}") from None
        status, body = result["r"]
        self.timing.mark("predict")
        if status == 422 and isinstance(body, dict):
            lines = []
            for d in body.get("detail") or []:
                loc = [str(x) for x in d.get("loc") or [] if x not in ("body", "input")]
                lines.append(f'input "{".".join(loc)}": {d.get("msg")}' if loc else str(d.get("msg")))
            raise ContainerError("the model rejected the inputs: " + "; ".join(lines or [str(body)]))
        if status != 200 or not isinstance(body, dict):
            raise ContainerError(f"the model server answered HTTP {status}: {str(body)[:500]}")
        return body


# ---------------------------------------------------------------------------------------------- timing


class Timing:
    """With ``COGPIN_TIMING=1``, prints the split of a command on stderr (for bench/bench_journey.py)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = os.environ.get("COGPIN_TIMING", "") not in ("", "0") if enabled is None else enabled
        self.t0 = _process_start()
        self.last = self.t0
        self.marks: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        if self.enabled:
            now = time.time()
            self.marks.append((name, now - self.last))
            self.last = now

    def report(self) -> None:
        if not self.enabled:
            return
        total = time.time() - self.t0
        parts = " ".join(f"{n}={d * 1000:.0f}ms" for n, d in self.marks)
        print(f"cogpin-timing: {parts} total={total * 1000:.0f}ms", file=__import__("sys").stderr, flush=True)


def _process_start() -> float:
    """Wall-clock start of this process (Linux: from /proc), so 'cli' includes the interpreter start."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        hz = os.sysconf("SC_CLK_TCK")
        return time.time() - (uptime - ticks / hz)
    except Exception:
        return time.time()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def project_mount(root: Path) -> dict[str, str]:
    return {str(root.resolve()): "/src"}


# ---------------------------------------------------------------------------------------------- images


def parse_env(envs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``-e KEY=VALUE`` (or ``-e KEY`` to pass the host's value, like docker)."""
    out: dict[str, str] = {}
    for item in envs:
        key, sep, value = item.partition("=")
        if not key or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise CogpinError(f"-e {item!r}: not KEY=VALUE", "e.g. -e HF_HOME=/src/.hf")
        if not sep:
            if key not in os.environ:
                continue
            value = os.environ[key]
        out[key] = value
    return out


def project_env(config: Any) -> dict[str, str]:
    """The model's environment from cog.yaml, plus the predictor references the runtime reads."""
    env = {k: v for k, v in config.environment}
    if config.predict:
        env["COG_PREDICT_TYPE_STUB"] = config.predict
    if config.train:
        env["COG_TRAIN_TYPE_STUB"] = config.train
    if config.concurrency_max:
        env["COG_MAX_CONCURRENCY"] = str(config.concurrency_max)
    return env


def lock_mode(frozen: bool, relock: bool) -> str:
    if frozen and relock:
        raise CogpinError("--frozen and --relock exclude each other", "give one of them.")
    return "frozen" if frozen else "relock" if relock else "locked"


def environment_image(config: Any, frozen: bool = False, relock: bool = False) -> Any:
    """Build (or reuse, by content identity) the environment image: everything but the project."""
    from cogpin.build import BuildOptions, build_image

    opts = BuildOptions(
        tag=None, no_cache=False, secrets=(), progress="auto", lock_mode=lock_mode(frozen, relock)
    )
    return build_image(config, opts, include_project=False)


def ensure_image(client: Any, ref: str, note: Callable[[str], None]) -> str:
    """A local image for ``ref``, pulled when missing; returns the reference to run."""
    from docker.errors import APIError, ImageNotFound

    try:
        client.api.inspect_image(ref)
        return ref
    except ImageNotFound:
        pass
    note(f"Pulling {ref} …")
    try:
        client.images.pull(ref)
    except ImageNotFound:
        raise CogpinError(
            f"image {ref} not found locally or in its registry",
            "check the name, or build it with `cog build -t`.",
        ) from None
    except APIError as e:
        raise CogpinError(
            f"cannot pull {ref}: {e.explanation or e}",
            "check the name, and `cog login` for a private registry.",
        ) from None
    return ref


def image_schema(client: Any, ref: str) -> tuple[dict[str, Any] | None, bool]:
    """(OpenAPI schema from the ``run.cog.openapi_schema`` label, gpu from ``run.cog.config``)."""
    labels = client.api.inspect_image(ref)["Config"].get("Labels") or {}
    schema = None
    raw = labels.get("run.cog.openapi_schema")
    if raw:
        try:
            schema = json.loads(raw)
        except ValueError:
            schema = None
    gpu = False
    try:
        cfg = json.loads(labels.get("run.cog.config") or "{}")
        gpu = bool((cfg.get("build") or {}).get("gpu"))
    except (ValueError, AttributeError):
        pass
    return schema, gpu


_SKIP_DIRS = {"__pycache__", "node_modules", "venv", "env", "site-packages"}


def source_digest(root: Path) -> str:
    """sha256 over the project's Python files and cog.yaml (what the schema can depend on)."""
    import hashlib

    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith((".py", ".pyi")) or name in ("cog.yaml", "cog.yml"):
                p = Path(dirpath) / name
                try:
                    data = p.read_bytes()
                except OSError:
                    continue
                h.update(str(p.relative_to(root)).encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def source_schema(client: Any, image_id: str, config: Any) -> dict[str, Any]:
    """The schema of the current source: from the cache (keyed by project files + image id), or from
    ``python -m cog.command.openapi_schema`` in the environment image with the project mounted."""
    import hashlib

    from cogpin.settings import Settings

    key = hashlib.sha256(
        json.dumps([image_id, config.predict, config.train, source_digest(config.root)]).encode()
    ).hexdigest()
    cache = Settings.from_env().cache_dir / "schemas" / f"{key}.json"
    try:
        return dict(json.loads(cache.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    spec = RunSpec(
        image=image_id,
        command=["python", "-m", "cog.command.openapi_schema"],
        env=project_env(config),
        mounts=project_mount(config.root),
        working_dir="/src",
        network_mode="none",
        role="schema",
    )
    cid = create(client, spec)
    try:
        with sigterm_as_interrupt():
            start(client, cid, spec)
            code = client.api.wait(cid).get("StatusCode", 1)
            out = client.api.logs(cid, stdout=True, stderr=False).decode(errors="replace")
            err = client.api.logs(cid, stdout=False, stderr=True).decode(errors="replace")
    finally:
        remove(client, cid)
    if code != 0:
        last = (err.strip().splitlines() or [f"exit code {code}"])[-1]
        raise SetupFailed(
            f"cannot read the model's inputs from {config.predict}: {last}",
            err.rstrip(),
            "fix predict.py (the full error is above); the runtime could not load the predictor.",
        )
    try:
        schema = json.loads(out)
    except ValueError:
        raise ContainerError(f"the runtime printed no schema for {config.predict}: {out[:200]!r}") from None
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(schema), encoding="utf-8")
    os.replace(tmp, cache)
    return dict(schema)
