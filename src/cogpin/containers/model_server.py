"""A running model server: :class:`ModelContainer` starts one, waits for its HTTP API, calls it and
always removes it; :class:`Timing`, the split of a command for the benchmarks.

Speed matters here (``cog predict`` on a warm image should take well under 1.5 s): the container is
created and started with the low-level API, the published port read from one inspect, and the health
check polled right away with short sleeps over a plain ``http.client`` connection.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cogpin.containers.spec import (
    SERVER_PORT,
    ContainerError,
    RunSpec,
    SetupFailed,
    create,
    remove,
    sigterm_as_interrupt,
    start,
)
from cogpin.settings import timing_enabled

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from docker import DockerClient


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

    def __init__(self, client: DockerClient, spec: RunSpec, timing: Timing | None = None) -> None:
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
        route: str = "predictions",
    ) -> dict[str, Any]:
        """One synchronous prediction (``PUT /predictions/{id}``, Cog's idempotent create). While it runs
        longer than ``first_poll`` seconds, ``GET /predictions/{id}`` (cogpin's runtime; Cog's answers 405
        and polling stops) feeds ``on_progress`` with its logs and output so far. ``route="trainings"``: one
        training (``cog train``)."""
        import threading
        import uuid

        assert self.port is not None
        port = self.port
        pid = uuid.uuid4().hex
        result: dict[str, Any] = {}

        def call() -> None:
            try:
                result["r"] = _request(
                    port, "PUT", f"/{route}/{pid}", {"id": pid, "input": dict(inputs)}, None
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
                    code, body = _request(port, "GET", f"/{route}/{pid}", timeout=5.0)
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


class Timing:
    """With ``COGPIN_TIMING=1``, prints the split of a command on stderr (for bench/bench_journey.py)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = timing_enabled() if enabled is None else enabled
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
        print(f"cogpin-timing: {parts} total={total * 1000:.0f}ms", file=sys.stderr, flush=True)


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
