"""The cluster parts' pure core (replicas wanted, replica picked, the reason a replica gives) and the store on
PostgreSQL: the SQL the adapter sends (a fake connection), then the real thing (the dev environment's
PostgreSQL, `scripts/dev-env postgres up`): the same migrations, two stores sharing one state, atomic claims."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from cogpin.hub import core
from cogpin.hub.database import MIGRATIONS, _PgDB
from cogpin.hub.runner import Instance, InstanceState
from cogpin.hub.scaling import Replica, ReplicaState, pick_replica, wanted_replicas
from cogpin.hub.service import Hub
from cogpin.hub.store import Store

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("load", "slots", "lo", "hi", "want"),
    [
        (0, 1, 0, 4, 1),  # a version in use keeps one replica until it is stopped
        (0, 8, 2, 4, 2),  # --min-replicas
        (1, 1, 0, 4, 1),
        (2, 1, 0, 4, 2),
        (9, 8, 0, 4, 2),  # 9 predictions at 8 per replica: 2
        (16, 8, 0, 4, 2),
        (17, 8, 0, 4, 3),
        (100, 1, 0, 4, 4),  # --max-replicas
    ],
)
def test_wanted_replicas(load: int, slots: int, lo: int, hi: int, want: int) -> None:
    assert wanted_replicas(load, slots, lo, hi) == want


def test_pick_replica_only_ready_with_a_free_slot_least_busy_first() -> None:
    a = Replica("a", "n1", "node1", "http://a", ready=True, active=2, since=1)
    b = Replica("b", "n2", "node2", "http://b", ready=True, active=1, since=2)
    c = Replica("c", "n2", "node2", "http://c", ready=False, active=0, since=3)  # not READY: never
    d = Replica("d", "n1", "node1", "http://d", ready=True, dead=True, active=0, since=0)  # gone: never
    assert pick_replica([a, b, c, d], slots=2) is b
    b.active = 2
    assert pick_replica([a, b, c, d], slots=2) is None  # all READY ones are full: wait
    assert pick_replica([a, b, c, d], slots=3) is a  # same load: the older one
    assert pick_replica([], slots=1) is None


def test_replica_state_says_what_happened_and_where() -> None:
    st = ReplicaState(False, 137, False, "", where=" abc on node node2", error="task: non-zero exit (137)")
    assert st.describe() == "the model replica abc on node node2 exited with code 137 (killed)"
    st = ReplicaState(False, 3, False, "", where=" abc on node node1", error="task: non-zero exit (3)")
    assert st.describe() == "the model replica abc on node node1 exited with code 3"
    assert "still running" in ReplicaState(True, where=" x").describe()


class FakeConn:
    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> str:
        self.sent.append((sql, params))
        return "cursor"


def test_pg_adapter_translates_the_sqlite_dialect() -> None:
    conn = FakeConn()
    db = _PgDB(conn)
    db.execute("SELECT body FROM predictions WHERE id=? AND status LIKE 'x%'", ("p1",))
    db.execute("BEGIN IMMEDIATE")
    db.execute("PRAGMA user_version")
    db.execute("PRAGMA user_version=3")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, n INTEGER)")
    sent = [s for s, _ in conn.sent]
    assert sent[0] == "SELECT body FROM predictions WHERE id=%s AND status LIKE 'x%%'"
    assert conn.sent[0][1] == ("p1",)
    assert sent[1] == "BEGIN"
    assert sent[2] == "SELECT COALESCE(MAX(version), 0) FROM cogpin_schema"
    assert sent[3:5] == ["DELETE FROM cogpin_schema", "INSERT INTO cogpin_schema(version) VALUES (%s)"]
    assert conn.sent[4][1] == (3,)
    assert sent[5] == "CREATE TABLE t (seq BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, n BIGINT)"


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    from cogpin.hub.database import StoreError

    with pytest.raises(StoreError) as e:
        Store(tmp_path, database="postgresql://nobody:secret@127.0.0.1:1/none")
    assert "cannot connect to PostgreSQL at postgresql://nobody:***@127.0.0.1:1/none" in str(e.value)
    assert "secret" not in str(e.value)


# ------------------------------------------------------------------------------------------ real PostgreSQL
@pytest.fixture(scope="module")
def pg_url() -> str:
    import psycopg

    r = subprocess.run([str(ROOT / "scripts" / "dev-env"), "postgres", "up"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    dsn = r.stdout.strip().splitlines()[-1]
    name = f"hubu_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return dsn.rsplit("/", 1)[0] + "/" + name


@pytest.mark.engine
def test_postgres_store_same_migrations_shared_state_atomic_claims(pg_url: str, tmp_path: Path) -> None:
    a = Store(tmp_path / "a", database=pg_url)
    b = Store(tmp_path / "b", database=pg_url)  # the second one finds the schema made
    assert a.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    token = a.create_token("shared")
    assert b.check_token(token) and [t["name"] for t in b.list_tokens()] == ["shared"]
    p = core.Prediction(id=core.new_id(), model="o/m", version="a" * 64, input={"x": 1})
    a.save_prediction(p)
    got = b.get_prediction(p.id)
    assert got is not None and got.input == {"x": 1}
    assert [x.id for x in b.unfinished_predictions()] == []  # A's, and A is alive: not B's to run
    assert [x.id for x in a.unfinished_predictions()] == [p.id]
    f = a.add_file(b"bytes", "f.bin", "application/octet-stream")
    assert b.get_file(f.id) is not None and b.get_file(f.id).size == 5  # type: ignore[union-attr]
    # A goes away (its heartbeat row with it): exactly one of B and C takes its prediction over
    a_id = a.instance_id
    a.close()
    c = Store(tmp_path / "c", database=pg_url)
    assert b.claim(p.id, a_id) is True
    assert c.claim(p.id, a_id) is False  # the owner changed under it: the UPDATE matched nothing
    assert [x.id for x in b.unfinished_predictions()] == [p.id]
    assert [x.id for x in c.unfinished_predictions()] == []
    b.close()
    c.close()


@pytest.mark.engine
def test_postgres_takeover_of_a_killed_hub(pg_url: str, tmp_path: Path) -> None:
    """A hub killed with -9 leaves its heartbeat row: a pid that is gone on this host is enough to know."""
    a = Store(tmp_path / "a", database=pg_url)
    p = core.Prediction(id=core.new_id(), model="o/m", version="b" * 64, input={})
    a.save_prediction(p)
    dead = 2**22 + 7  # above Linux's largest pid_max: no process has it
    a.db.execute("UPDATE hubs SET pid=? WHERE id=?", (dead, a.instance_id))
    a._closed.set()  # its heartbeat stops, as a killed process's would
    b = Store(tmp_path / "b", database=pg_url)
    assert p.id in [x.id for x in b.unfinished_predictions()]
    b.close()


# ------------------------------------------------------------------------------------------ the hub's seam
class ScalingRunner:
    """A runner that scales (fake boundary): two replicas, each with one slot; records what the hub asks."""

    scales = True
    max_replicas = 2

    def __init__(self) -> None:
        self.routed: list[tuple[str, int]] = []
        self.released: list[str] = []
        self.busy: dict[str, int] = {"r1": 0, "r2": 0}
        self.peak = 0
        self.free = asyncio.Event()
        self.free.set()

    def has_gpu(self) -> bool:
        return False

    async def start(self, model: str, version: str, *, gpu: bool) -> Instance:
        return Instance("svc", model, version, "swarm://svc")

    async def route(self, inst: Instance, pid: str, slots: int) -> Instance:
        self.routed.append((pid, slots))
        while True:
            idle = [r for r, n in self.busy.items() if n < slots]
            if idle:
                self.busy[idle[0]] += 1
                self.peak = max(self.peak, sum(self.busy.values()))
                return Instance(idle[0], inst.model, inst.version, f"http://{idle[0]}")
            self.free.clear()
            await self.free.wait()

    def release(self, pid: str) -> None:
        self.released.append(pid)

    async def call(self, inst: Instance, method: str, path: str, **kw: Any) -> httpx.Response:
        req = httpx.Request(method, f"{inst.url}{path}")
        if method == "PUT":
            assert inst.id in ("r1", "r2"), "predictions go to a replica, never to the service"
            await asyncio.sleep(0.2)
            self.busy[inst.id] -= 1
            self.free.set()
            body = {"status": "succeeded", "output": f"on {inst.id}", "logs": ""}
            return httpx.Response(200, json=body, request=req)
        return httpx.Response(404, json={}, request=req)

    async def state(self, inst: Instance) -> InstanceState:
        return InstanceState(True)

    async def stop(self, inst: Instance) -> None:
        pass

    async def list(self) -> list[Instance]:
        return []

    async def close(self) -> None:
        pass


def test_hub_routes_through_a_scaling_runner_and_releases_every_prediction(tmp_path: Path) -> None:
    from tests.hub.test_service import VID, FakeIndex

    async def go() -> tuple[list[dict[str, Any]], ScalingRunner]:
        runner = ScalingRunner()
        hub = Hub(Store(tmp_path), FakeIndex({}), runner)  # type: ignore[arg-type]
        await hub.start()
        try:
            outs = await asyncio.gather(
                *(
                    hub.create_prediction(
                        {"version": f"o/gpu:{VID}", "input": {"text": str(i)}}, "http://h", prefer="wait=10"
                    )
                    for i in range(6)
                )
            )
            return list(outs), runner
        finally:
            await hub.close()

    outs, runner = asyncio.run(go())
    assert [o["status"] for o in outs] == ["succeeded"] * 6
    assert {o["output"] for o in outs} == {"on r1", "on r2"}  # spread over both replicas
    assert runner.peak == 2  # concurrency 1 x 2 replicas: two at once, the rest queued in the runner
    assert sorted(p for p, _ in runner.routed) == sorted(runner.released) == sorted(o["id"] for o in outs)
    assert {s for _, s in runner.routed} == {1}  # the version's concurrency.max is the slots per replica
