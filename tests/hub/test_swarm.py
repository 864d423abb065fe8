"""The hub on a cluster, for real: `cogpin hub serve --runner swarm` on the dev engine's swarm with a second
node (a second dockerd in its own network namespace, `scripts/dev-env cluster up`), the official client,
and the store on PostgreSQL (`scripts/dev-env postgres up`) shared by two hub processes."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from tests.hub.conftest import ROOT, HubProcess, run_client

pytestmark = pytest.mark.engine
HUB_LABEL = "dev.cogpin.hub"


def _dev_env(*args: str) -> str:
    r = subprocess.run(
        [str(ROOT / "scripts" / "dev-env"), *args], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, f"scripts/dev-env {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="session")
def cluster() -> dict[str, Any]:
    """The swarm with its second node (idempotent; left up for the next run)."""
    _dev_env("cluster", "up")
    info = json.loads(_dev_env("cluster", "status", "--json"))
    assert info["manager"] == "active" and info["node2"] == "active", info
    return info


@pytest.fixture(scope="session")
def postgres() -> str:
    return _dev_env("postgres", "up").strip().splitlines()[-1]


def _hub_id(data: Path) -> str:
    return hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:16]


def _services(data: Path) -> list[Any]:
    return docker.from_env().services.list(filters={"label": f"{HUB_LABEL}={_hub_id(data)}"})


@pytest.fixture
def swarm_hub(cluster: dict[str, Any], registry: str, tmp_path: Path) -> Any:
    made: list[HubProcess] = []

    def make(*extra: str) -> HubProcess:
        h = HubProcess(tmp_path / f"hub-{len(made)}", registry, "--runner", "swarm", *extra)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
        for s in _services(h.data):  # a hub that was killed leaves its services
            s.remove()


def _engine_of(node_label: str, cluster: dict[str, Any]) -> docker.DockerClient:
    return (
        docker.from_env() if node_label == "node1" else docker.DockerClient(base_url=cluster["node2_socket"])
    )


def _running_tasks(service: Any) -> list[dict[str, Any]]:
    tasks = service.tasks(filters={"desired-state": "running"})
    return [t for t in tasks if (t.get("Status") or {}).get("State") == "running"]


def _node_label(node_id: str) -> str:
    node = docker.from_env().nodes.get(node_id)
    return str((node.attrs["Spec"].get("Labels") or {}).get("dev.cogpin.node", ""))


def _wait(what: str, cond: Any, timeout: float = 120, every: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def test_swarm_scales_out_to_the_second_node_and_back_to_zero(
    swarm_hub: Any, hub_models: Any, replicate_venv: Path, cluster: dict[str, Any]
) -> None:
    am = hub_models["asyncmodel"]  # concurrency 8
    hub = swarm_hub("--max-replicas", "2", "--idle-timeout", "6s").start()
    first = run_client(
        replicate_venv, hub, f'result = replicate.run("{am.versioned}", input={{"text": "one"}})'
    )
    assert first == "hello one"
    [svc] = _services(hub.data)
    assert len(_running_tasks(svc)) == 1  # one replica for one client
    spec = svc.attrs["Spec"]
    # by digest from the registry (from this model's repository, or another one holding the same image: the
    # registry outlives test runs, and the official client sends the bare version id)
    image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image.startswith(f"{hub.registry}/") and image.endswith(f"/asyncmodel@sha256:{am.version}"), image
    holder = image[len(hub.registry) + 1 :].split("@")[0]
    assert spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"][0] == "CMD"
    # 16 concurrent clients: 16 predictions of 3 s at 8 per replica want 2 replicas
    out = run_client(
        replicate_venv,
        hub,
        f"""
        import concurrent.futures
        def one(i):
            return replicate.run("{am.versioned}", input={{"text": str(i), "delay": 3}})
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            result = list(pool.map(one, range(16)))
        """,
    )
    assert out == [f"hello {i}" for i in range(16)]
    svc.reload()
    assert svc.attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    # the second replica may still be starting (pulling its image on the second node) when the first has
    # served all 16; the hub keeps it for 20 s of quiet, so it must be running within that
    tasks = _wait(
        "two running replicas",
        lambda: (lambda ts: ts if len(ts) == 2 else None)(_running_tasks(svc)),
        timeout=15,
    )
    nodes = {_node_label(t["NodeID"]) for t in tasks}
    assert "node2" in nodes, nodes  # spread over both nodes: one replica runs on the second node
    status = _wait(
        "the hub's status to count two ready replicas",
        lambda: (lambda st: st if st["versions"][0]["replicas"]["ready"] == 2 else None)(
            httpx.get(f"{hub.url}/v1/hub/status", headers=hub.headers).json()
        ),
        timeout=15,
    )
    [row] = status["versions"]
    assert status["runner"] == "swarm"
    assert row["replicas"] == {"wanted": 2, "running": 2, "ready": 2} and row["latency_p50"] >= 3
    r = subprocess.run(
        [sys.executable, "-m", "cogpin", "hub", "status", "--url", hub.url, "--token", hub.token],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0 and re.search(rf"{holder}:{am.version[:12]}\s+2\s+2\s+2\s+0\s+0", r.stdout), (
        r.stdout
    )
    # idle: back to zero (the service goes), and the next prediction cold-starts a new one
    _wait("scale to zero", lambda: not _services(hub.data), timeout=90)
    again = run_client(
        replicate_venv, hub, f'result = replicate.run("{am.versioned}", input={{"text": "again"}})'
    )
    assert again == "hello again"
    [svc2] = _services(hub.data)
    assert svc2.id != svc.id


def test_replica_killed_mid_prediction_fails_it_with_the_reason(
    swarm_hub: Any, hub_models: Any, cluster: dict[str, Any]
) -> None:
    files = hub_models["files"]  # concurrency 1; mode=sleep holds a prediction
    hub = swarm_hub("--max-replicas", "1").start()
    h = hub.headers
    warm = httpx.post(
        f"{hub.url}/v1/predictions", json={"version": files.version, "input": {"mode": "echo"}},
        headers={**h, "Prefer": "wait=60"}, timeout=90,
    ).json()  # fmt: skip
    assert warm["status"] == "succeeded", warm
    long = httpx.post(
        f"{hub.url}/v1/predictions", json={"version": files.version, "input": {"mode": "sleep", "seconds": 60}},
        headers=h,
    ).json()  # fmt: skip
    _wait(
        "processing",
        lambda: (
            httpx.get(f"{hub.url}/v1/predictions/{long['id']}", headers=h).json()["status"] == "processing"
        ),
    )
    [svc] = _services(hub.data)
    [task] = _running_tasks(svc)
    engine = _engine_of(_node_label(task["NodeID"]), cluster)
    engine.containers.get(task["Status"]["ContainerStatus"]["ContainerID"]).kill()
    got = _wait(
        "the prediction to fail",
        lambda: (
            (p := httpx.get(f"{hub.url}/v1/predictions/{long['id']}", headers=h).json())["status"]
            in ("failed", "succeeded", "canceled")
            and p
        ),
        timeout=60,
    )
    assert got["status"] == "failed"
    assert "replica" in got["error"] and "exited with code 137" in got["error"], got["error"]
    # Swarm replaces the replica; the next predictions succeed
    for i in range(2):
        nxt = httpx.post(
            f"{hub.url}/v1/predictions", json={"version": files.version, "input": {"mode": "echo"}},
            headers={**h, "Prefer": "wait=60"}, timeout=120,
        ).json()  # fmt: skip
        if nxt["status"] == "starting":
            nxt = _wait(
                "the next prediction",
                lambda n=nxt: (
                    (q := httpx.get(f"{hub.url}/v1/predictions/{n['id']}", headers=h).json())["status"]
                    in ("failed", "succeeded")
                    and q
                ),
            )
        assert nxt["status"] == "succeeded", (i, nxt)


def _pg_database(dsn: str) -> str:
    import psycopg

    name = f"hubt_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return dsn.rsplit("/", 1)[0] + "/" + name


def test_two_hubs_on_one_postgres_share_state_and_never_run_a_prediction_twice(
    own_hub: Any, hub_models: Any, replicate_venv: Path, postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _pg_database(postgres)
    monkeypatch.setenv("COGPIN_HUB_DATABASE", db)  # every hub process below and `token create` use it
    am = hub_models["asyncmodel"]
    a, b = own_hub().start(), own_hub().start()
    # one state: a token made for A works on B (tokens, predictions, files: one set of tables)
    both = [a, b]
    ids: dict[str, str] = {}
    for hub in both:
        for i in range(3):
            r = httpx.post(
                f"{hub.url}/v1/predictions", json={"version": am.version, "input": {"text": f"{hub.port}-{i}"}},
                headers={**a.headers, "Prefer": "wait=60"}, timeout=90,
            ).json()  # fmt: skip
            assert r["status"] == "succeeded", r
            ids[r["id"]] = f"hello {hub.port}-{i}"
    for hub in both:  # each sees the other's predictions, by id and in the list
        for pid, out in ids.items():
            assert httpx.get(f"{hub.url}/v1/predictions/{pid}", headers=b.headers).json()["output"] == out
        listed = run_client(
            replicate_venv, hub, "result = [p.id for p in replicate.predictions.list().results]"
        )
        assert set(ids) <= set(listed)
    # A dies with work in flight (8 running, 8 queued behind them: concurrency 8); two hubs start at once
    pending = [
        httpx.post(
            f"{a.url}/v1/predictions", json={"version": am.version, "input": {"text": str(i), "delay": 5}},
            headers=a.headers,
        ).json()["id"]
        for i in range(16)
    ]  # fmt: skip
    _wait(
        "A running",
        lambda: (
            sum(
                httpx.get(f"{a.url}/v1/predictions/{p}", headers=a.headers).json()["status"] == "processing"
                for p in pending
            )
            >= 8
        ),
    )
    a.kill()
    unfinished = {
        p for p in pending
        if httpx.get(f"{b.url}/v1/predictions/{p}", headers=b.headers).json()["status"] in ("starting", "processing")
    }  # fmt: skip
    assert len(unfinished) >= 8
    c, d = own_hub(), own_hub()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda h: h.start(), (c, d)))
    final = _wait(
        "every prediction finished",
        lambda: (
            (s := {p: httpx.get(f"{b.url}/v1/predictions/{p}", headers=b.headers).json() for p in pending})
            and all(x["status"] in ("succeeded", "failed", "canceled") for x in s.values())
            and s
        ),
        timeout=180,
    )
    took = {h.port: set(re.findall(r"took over prediction (\w+)", h.log.read_text())) for h in (b, c, d)}
    assert not took[b.port]  # B was up all along: A's work is not B's until a hub starts and takes it over
    assert not took[c.port] & took[d.port], took  # never one prediction for two hubs
    assert took[c.port] | took[d.port] == unfinished, took
    for pid, p in final.items():
        if p["status"] == "failed":
            assert "hub restarted" in p["error"], p
        else:
            assert p["status"] == "succeeded" and p["output"] == f"hello {pending.index(pid)}"
    assert sum(p["status"] == "succeeded" for p in final.values()) >= 8  # the queued ones ran, once
