"""``cogpin hub serve`` and ``cogpin hub token create|list|revoke``: settings, the data dir, uvicorn."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import click

from cogpin.errors import CogpinError
from cogpin.registry import is_loopback
from cogpin.settings import hub_data_dir

DEFAULT_PORT = 8700


def data_dir(given: str | None) -> Path:
    return Path(given).expanduser().resolve() if given else hub_data_dir()


def _open_store(given: str | None, database: str | None = None):  # type: ignore[no-untyped-def]
    from cogpin.hub.database import StoreError
    from cogpin.hub.store import Store

    d = data_dir(given)
    if database and not database.startswith(("postgresql://", "postgres://")):
        raise CogpinError(
            f"--database {database!r} is not a PostgreSQL URL",
            "write postgresql://USER@HOST:PORT/DBNAME, or leave it out for SQLite in the data dir.",
        )
    try:
        d.mkdir(parents=True, exist_ok=True)
        return Store(d, database=database)
    except StoreError as e:
        raise CogpinError(str(e), e.hint) from None
    except (OSError, RuntimeError) as e:
        raise CogpinError(
            f"cannot open the hub's data in {d}: {e}", "pass --data DIR (or COGPIN_HUB_DATA)."
        ) from None


def dev_registry() -> str | None:
    """The development environment's registry when it is up (scripts/dev-env status --json)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        script = parent / "scripts" / "dev-env"
        if script.is_file():
            try:
                r = subprocess.run(
                    [str(script), "status", "--json"], capture_output=True, text=True, timeout=30
                )
                info = json.loads(r.stdout or "{}")
                if info.get("registry") and info.get("registry_up", True):
                    return str(info["registry"])
            except (OSError, ValueError, subprocess.TimeoutExpired):
                return None
    return None


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.I)


def parse_size(text: str, what: str) -> int:
    m = _SIZE.match(text.strip())
    if not m:
        raise CogpinError(f"{what}: {text!r} is not a size", "write e.g. 512m, 2g or 2GiB.")
    return int(float(m.group(1)) * 1024 ** "bkmgt".index((m.group(2) or "b").lower()))


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")


def parse_duration(text: str, what: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise CogpinError(f"{what}: {text!r} is not a duration", "write e.g. 90s, 5m, 2h or 7d.")
    n = float(m.group(1))
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2) or "s"]


def _check_serve_options(
    host: str, registry: str | None, no_auth: bool, max_containers: int, min_replicas: int, max_replicas: int
) -> str:
    """The flags that cannot go together refused; the registry to serve (--registry, else dev-env's)."""
    if no_auth and not is_loopback(host):
        raise CogpinError(
            f"--no-auth on {host} would let anyone on the network run models",
            "bind to 127.0.0.1 (the default), or drop --no-auth and use `cogpin hub token create`.",
        )
    registry = registry or dev_registry()
    if not registry:
        raise CogpinError(
            "no registry to serve models from",
            "pass --registry HOST:PORT (or start the development environment: ./run env up).",
        )
    if max_containers < 1:
        raise CogpinError("--max-containers must be at least 1")
    if not 0 <= min_replicas <= max_replicas or max_replicas < 1:
        raise CogpinError(
            f"--min-replicas {min_replicas} / --max-replicas {max_replicas}: need 0 <= min <= max and max >= 1"
        )
    return registry


def _make_runner(
    runner: str, registry: str, hub_id: str, min_replicas: int, max_replicas: int, cpus: float | None,
    memory: int | None,
) -> Any:  # fmt: skip
    """The runner --runner names, on the Docker Engine (a clear error when it cannot be reached)."""
    from cogpin.hub.runner import DockerRunner

    try:
        if runner == "swarm":
            from cogpin.hub.swarm import SwarmRunner

            return SwarmRunner(
                registry,
                hub_id,
                min_replicas=min_replicas,
                max_replicas=max_replicas,
                cpus=cpus,
                memory=memory,
            )
        return DockerRunner(registry, hub_id)
    except RuntimeError as e:
        raise CogpinError(str(e), "or use --runner docker.") from None
    except Exception as e:  # noqa: BLE001 - docker.errors.DockerException and friends
        raise CogpinError(f"cannot reach the Docker Engine: {e}", "start it, or set DOCKER_HOST.") from None


def _run_app(app: Any, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn until Ctrl-C or SIGTERM."""
    import asyncio

    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    try:
        asyncio.run(server.serve())
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise CogpinError(f"the hub could not listen on {host}:{port}", "pick another --port.")


def serve(
    host: str,
    port: int,
    registry: str | None,
    data: str | None,
    no_auth: bool,
    idle_timeout: str,
    max_containers: int,
    retention: str,
    max_inline_mb: float,
    database: str | None = None,
    runner: str = "docker",
    min_replicas: int = 0,
    max_replicas: int = 4,
    replica_cpus: float | None = None,
    replica_memory: str | None = None,
) -> int:
    from cogpin.hub.app import create_app
    from cogpin.hub.registry_index import RegistryIndex
    from cogpin.hub.service import Hub

    registry = _check_serve_options(host, registry, no_auth, max_containers, min_replicas, max_replicas)
    idle = parse_duration(idle_timeout, "--idle-timeout")
    keep = parse_duration(retention, "--retention")
    memory = parse_size(replica_memory, "--replica-memory") if replica_memory else None
    store = _open_store(data, database)
    hub_id = hashlib.sha256(str(store.data_dir).encode()).hexdigest()[:16]
    the_runner = _make_runner(runner, registry, hub_id, min_replicas, max_replicas, replica_cpus, memory)
    hub = Hub(
        store,
        RegistryIndex(registry, insecure=is_loopback(registry) or registry.startswith("localhost")),
        the_runner,
        no_auth=no_auth,
        idle_timeout=idle,
        max_containers=max_containers,
        retention=keep,
        max_inline=int(max_inline_mb * 1024 * 1024),
    )
    if not no_auth and not store.list_tokens():
        click.echo("note: no API tokens yet: make one with `cogpin hub token create`", err=True)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    click.echo(
        f"cogpin hub on http://{host}:{port} — registry {registry}, data {store.data_dir}, runner {runner}"
        + (", store PostgreSQL" if database else "")
        + (" (no auth)" if no_auth else ""),
        err=True,
    )
    _run_app(create_app(hub), host, port)
    return 0


def token_create(data: str | None, name: str, database: str | None = None) -> int:
    store = _open_store(data, database)
    click.echo(store.create_token(name))
    return 0


def token_list(data: str | None, database: str | None = None) -> int:
    store = _open_store(data, database)
    for t in store.list_tokens():
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
        click.echo(f"{t['id']}\t{t['name']}\t{t['prefix']}…\t{t['created_at']}\t{state}")
    return 0


def token_revoke(data: str | None, ident: str, database: str | None = None) -> int:
    store = _open_store(data, database)
    n = store.revoke_token(ident)
    if not n:
        raise CogpinError(f"no active token matches {ident!r}", "see `cogpin hub token list` (id or name).")
    click.echo(f"revoked {n} token{'s' if n != 1 else ''}", err=True)
    return 0


def status(url: str, token: str | None, as_json: bool) -> int:
    """`cogpin hub status`: GET /v1/hub/status, printed per version."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = httpx.get(f"{url.rstrip('/')}/v1/hub/status", headers=headers, timeout=10)
    except httpx.HTTPError as e:
        raise CogpinError(
            f"cannot reach the hub at {url}: {e}", "is `cogpin hub serve` running? pass --url."
        ) from None
    if r.status_code == 401:
        raise CogpinError(f"the hub at {url} wants a token", "pass --token or set REPLICATE_API_TOKEN.")
    if r.status_code != 200:
        raise CogpinError(f"the hub at {url} answered HTTP {r.status_code}: {r.text[:200]}")
    info = r.json()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return 0
    click.echo(f"runner {info['runner']}, store {info['store']}, hub {info['hub']}")
    rows = info["versions"]
    if not rows:
        click.echo("no version in use")
        return 0
    click.echo(
        f"{'model:version':<52} {'wanted':>6} {'running':>7} {'ready':>5} {'queued':>6} {'active':>6} {'p50 s':>7}  nodes"
    )
    for v in rows:
        rep = v["replicas"]
        lat = f"{v['latency_p50']:.3f}" if v.get("latency_p50") is not None else "-"
        ref = f"{v['model']}:{v['version'][:12]}"
        click.echo(
            f"{ref:<52} {rep['wanted']:>6} {rep['running']:>7} {rep['ready']:>5} {v['queued']:>6} "
            f"{v['running']:>6} {lat:>7}  {','.join(v.get('nodes') or [])}"
        )
    return 0
