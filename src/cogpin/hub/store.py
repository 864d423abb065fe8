"""What the hub keeps, in its data dir: ``hub.db`` (SQLite in WAL mode, migrations versioned below) and
``files/sha256/<2>/<64>`` (content-addressed bytes of uploaded and output files). With ``database=
"postgresql://…"`` the tables live in PostgreSQL instead (the same migrations, through ``_PgDB``, a thin
sqlite3-shaped adapter in ``database.py``), so several hub processes share one state.

Several hubs, one state: each process registers in ``hubs`` (a heartbeat every few seconds) and a
prediction belongs to the hub that created it (``claimed_by``). ``unfinished_predictions()`` gives a hub only
its own, plus those of hubs that are gone (no heartbeat for ``HUB_DEAD_AFTER`` s, or a dead pid on this
host), each taken over with one atomic ``UPDATE … WHERE claimed_by = <old owner>``: so a prediction is run
by one hub only, and a restarted hub (kill -9) recovers its work at once.

Every change is one committed transaction, so a ``kill -9`` loses nothing that was acknowledged; file
bytes are written to a temporary name, fsynced and renamed before their row is committed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogpin.fsutil import atomic_write
from cogpin.hub import core
from cogpin.hub.database import Tx, connect, migrate

log = logging.getLogger("cogpin.hub")

HUB_DEAD_AFTER = 30.0  # seconds without a heartbeat after which a hub's unfinished work may be taken over
HEARTBEAT = 5.0


@dataclass(frozen=True)
class StoredFile:
    id: str
    sha256: str
    name: str
    content_type: str
    size: int
    md5: str
    metadata: dict[str, Any]
    created_at: str
    created_ts: float

    def to_api(self, base: str, retention: float) -> dict[str, Any]:
        from datetime import datetime, timezone

        expires = datetime.fromtimestamp(self.created_ts + retention, timezone.utc)
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "etag": self.md5,
            "checksums": {"sha256": self.sha256, "md5": self.md5},
            "metadata": self.metadata,
            "created_at": self.created_at,
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "urls": {"get": f"{base}/v1/files/{self.id}", "content": f"{base}/v1/files/{self.id}/content"},
        }


class Store:
    def __init__(self, data_dir: Path, database: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.blobs = self.data_dir / "files" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        # write-through cache of recent predictions (the hot path reads them several times each)
        self._recent: OrderedDict[str, core.Prediction] = OrderedDict()
        self.instance_id = core.new_id()  # this process, in the hubs table and claimed_by
        self.is_postgres = bool(database)
        self.db: Any = connect(self.data_dir, database)
        with self.tx() as db:
            migrate(
                db,
                "the PostgreSQL database" if self.is_postgres else self.data_dir / "hub.db",
                self.is_postgres,
            )
        self._beat()
        self._closed = threading.Event()
        threading.Thread(target=self._heartbeat, name="hub-heartbeat", daemon=True).start()

    # ------------------------------------------------------------------------------ hubs sharing the store
    def _beat(self) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO hubs(id, host, pid, seen_ts) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET seen_ts=excluded.seen_ts",
                (self.instance_id, socket.gethostname(), os.getpid(), time.time()),
            )

    def _heartbeat(self) -> None:
        while not self._closed.wait(HEARTBEAT):
            try:
                self._beat()
            except Exception:  # noqa: BLE001 - a closed or busy database: the next beat tries again
                pass

    def _alive(self, hub: str | None, hubs: dict[str, tuple[str, int, float]]) -> bool:
        if hub == self.instance_id:
            return True
        if not hub or hub not in hubs:
            return False
        host, pid, seen = hubs[hub]
        if host == socket.gethostname():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass
        return time.time() - seen < HUB_DEAD_AFTER

    def claim(self, pid: str, owner: str | None) -> bool:
        """Take prediction ``pid`` over from ``owner`` (atomically: False if another hub was faster)."""
        with self.tx() as db:
            if owner is None:
                cur = db.execute(
                    "UPDATE predictions SET claimed_by=? WHERE id=? AND claimed_by IS NULL",
                    (self.instance_id, pid),
                )
            else:
                cur = db.execute(
                    "UPDATE predictions SET claimed_by=? WHERE id=? AND claimed_by=?",
                    (self.instance_id, pid, owner),
                )
            return int(cur.rowcount) == 1

    # ------------------------------------------------------------------------------ plumbing
    @contextmanager
    def tx(self) -> Iterator[Any]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self.db)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            try:
                self.db.execute("DELETE FROM hubs WHERE id=?", (self.instance_id,))
            except Exception:  # noqa: BLE001
                pass
            self.db.close()

    def setting(self, key: str, make: Any) -> str:
        with self.tx() as db:
            row = db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
            if row:
                return str(row[0])
            value = make()
            db.execute("INSERT INTO settings(key, value) VALUES (?, ?)", (key, value))
            return str(value)

    # ------------------------------------------------------------------------------ tokens
    def create_token(self, name: str) -> str:
        token = core.new_token()
        with self.tx() as db:
            db.execute(
                "INSERT INTO tokens(name, hash, prefix, created_at) VALUES (?, ?, ?, ?)",
                (name, core.hash_token(token), token[:7], core.now()),
            )
        return token

    def check_token(self, token: str) -> bool:
        with self._lock:
            row = self.db.execute(
                "SELECT 1 FROM tokens WHERE hash=? AND revoked_at IS NULL", (core.hash_token(token),)
            ).fetchone()
        return row is not None

    def list_tokens(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.db.execute("SELECT id, name, prefix, created_at, revoked_at FROM tokens ORDER BY id")
            return [dict(r) for r in rows]

    def revoke_token(self, ident: str) -> int:
        """Revoke by numeric id, name, or the token itself; returns how many were revoked."""
        with self.tx() as db:
            cur = db.execute(
                "UPDATE tokens SET revoked_at=? WHERE revoked_at IS NULL AND "
                "(CAST(id AS TEXT)=? OR name=? OR hash=?)",
                (core.now(), ident, ident, core.hash_token(ident)),
            )
            return int(cur.rowcount)

    # ------------------------------------------------------------------------------ predictions
    def save_prediction(self, p: core.Prediction) -> None:
        body = json.dumps(p.__dict__)
        with self.tx() as db:
            db.execute(
                "INSERT INTO predictions(id, model, version, status, created_at, created_ts, body, claimed_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status=excluded.status, "
                "body=excluded.body",
                (
                    p.id,
                    p.model,
                    p.version,
                    p.status,
                    p.created_at,
                    core.parse_time(p.created_at),
                    body,
                    self.instance_id,
                ),
            )
            self._remember(p)

    def _remember(self, p: core.Prediction) -> None:
        self._recent[p.id] = _copy(p)
        self._recent.move_to_end(p.id)
        while len(self._recent) > 5000:
            self._recent.popitem(last=False)

    def recent(self, n: int) -> list[core.Prediction]:
        """The last ``n`` predictions this process saved or read (newest last), from memory."""
        with self._lock:
            return list(self._recent.values())[-n:]

    def get_prediction(self, pid: str) -> core.Prediction | None:
        with self._lock:
            hit = self._recent.get(pid)
            if hit is not None:
                return _copy(hit)
            row = self.db.execute("SELECT body FROM predictions WHERE id=?", (pid,)).fetchone()
        return core.Prediction(**json.loads(row[0])) if row else None

    def list_predictions(
        self, before_seq: int | None, limit: int
    ) -> tuple[list[core.Prediction], int | None]:
        """Newest first; returns the page and the cursor value for the next page (or None)."""
        with self._lock:
            rows = self.db.execute(
                "SELECT seq, body FROM predictions WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                (before_seq if before_seq is not None else 2**62, limit + 1),
            ).fetchall()
        page = [core.Prediction(**json.loads(r[1])) for r in rows[:limit]]
        return page, (rows[limit - 1][0] if len(rows) > limit else None)

    def run_stats(self) -> dict[str, tuple[int, str]]:
        """model -> (predictions run, when the newest was created)."""
        with self._lock:
            rows = self.db.execute("SELECT model, COUNT(*), MAX(created_at) FROM predictions GROUP BY model")
            return {r[0]: (int(r[1]), str(r[2])) for r in rows}

    def unfinished_predictions(self, *, take_over: bool = True) -> list[core.Prediction]:
        """Unfinished predictions this hub runs: its own, and (``take_over``) those of hubs that are gone."""
        with self._lock:
            rows = self.db.execute(
                "SELECT body, claimed_by FROM predictions WHERE status IN ('starting', 'processing') ORDER BY seq"
            ).fetchall()
            hubs = {
                r[0]: (r[1], int(r[2]), float(r[3]))
                for r in self.db.execute("SELECT id, host, pid, seen_ts FROM hubs")
            }
        out = []
        for r in rows:
            owner = r[1]
            pid = json.loads(r[0])["id"]
            if owner == self.instance_id:
                out.append(core.Prediction(**json.loads(r[0])))
            elif take_over and not self._alive(owner, hubs) and self.claim(pid, owner):
                log.info("took over prediction %s from hub %s (gone)", pid, owner)
                out.append(core.Prediction(**json.loads(r[0])))
        return out

    # ------------------------------------------------------------------------------ files
    def blob_path(self, sha: str) -> Path:
        return self.blobs / sha[:2] / sha

    def put_blob(self, data: bytes) -> tuple[str, str]:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data, mode=0o644, durable=True)
        return sha, hashlib.md5(data).hexdigest()

    def add_file(
        self,
        data: bytes,
        name: str,
        content_type: str,
        metadata: dict[str, Any] | None = None,
        prediction_id: str | None = None,
    ) -> StoredFile:
        sha, md5 = self.put_blob(data)
        f = StoredFile(
            core.new_id(), sha, name, content_type, len(data), md5, metadata or {}, core.now(), time.time()
        )
        with self.tx() as db:
            db.execute(
                "INSERT INTO files(id, sha256, name, content_type, size, md5, metadata, created_at, created_ts, "
                "prediction_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f.id,
                    sha,
                    name,
                    content_type,
                    f.size,
                    md5,
                    json.dumps(f.metadata),
                    f.created_at,
                    f.created_ts,
                    prediction_id,
                ),
            )
        return f

    def _file(self, row: sqlite3.Row) -> StoredFile:
        return StoredFile(
            row["id"], row["sha256"], row["name"], row["content_type"], row["size"], row["md5"],
            json.loads(row["metadata"]), row["created_at"], row["created_ts"],
        )  # fmt: skip

    def get_file(self, fid: str) -> StoredFile | None:
        with self._lock:
            row = self.db.execute("SELECT * FROM files WHERE id=?", (fid,)).fetchone()
        return self._file(row) if row else None

    def read_file(self, f: StoredFile) -> bytes:
        return self.blob_path(f.sha256).read_bytes()

    def list_files(self) -> list[StoredFile]:
        with self._lock:
            rows = self.db.execute(
                "SELECT * FROM files WHERE prediction_id IS NULL ORDER BY created_ts DESC"
            ).fetchall()
        return [self._file(r) for r in rows]

    def delete_file(self, fid: str) -> bool:
        with self.tx() as db:
            row = db.execute("SELECT sha256 FROM files WHERE id=?", (fid,)).fetchone()
            if not row:
                return False
            db.execute("DELETE FROM files WHERE id=?", (fid,))
        self._drop_unreferenced([row[0]])
        return True

    def _drop_unreferenced(self, shas: list[str]) -> None:
        for sha in set(shas):
            with self._lock:
                used = self.db.execute("SELECT 1 FROM files WHERE sha256=? LIMIT 1", (sha,)).fetchone()
            if not used:
                try:
                    self.blob_path(sha).unlink()
                except FileNotFoundError:
                    pass

    def remove_expired(self, retention_seconds: float) -> tuple[int, int]:
        """Delete predictions and files older than the retention period (and bytes no file uses)."""
        cutoff = time.time() - retention_seconds
        with self.tx() as db:
            shas = [r[0] for r in db.execute("SELECT sha256 FROM files WHERE created_ts < ?", (cutoff,))]
            old = [r[0] for r in db.execute("SELECT id FROM predictions WHERE created_ts < ? AND status IN "
                                            "('succeeded','failed','canceled')", (cutoff,))]  # fmt: skip
            for pid in old:
                shas += [r[0] for r in db.execute("SELECT sha256 FROM files WHERE prediction_id=?", (pid,))]
                db.execute("DELETE FROM files WHERE prediction_id=?", (pid,))
                db.execute("DELETE FROM predictions WHERE id=?", (pid,))
                self._recent.pop(pid, None)
            nfiles = db.execute("DELETE FROM files WHERE created_ts < ?", (cutoff,)).rowcount
        self._drop_unreferenced(shas)
        return len(old), int(nfiles)

    # ------------------------------------------------------------------------------ versions
    def remember_version(self, model: str, v: dict[str, Any], config: dict[str, Any]) -> None:
        """A version seen in the registry (``v`` as the API shows it, its optional ``readme`` included).
        The first ``created_at`` stays."""
        with self.tx() as db:
            db.execute(
                "INSERT INTO versions(id, model, created_at, cog_version, openapi_schema, config, seen_ts, readme) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(model, id) DO UPDATE SET seen_ts=excluded.seen_ts",
                (v["id"], model, v["created_at"], v["cog_version"], json.dumps(v["openapi_schema"]),
                 json.dumps(config), time.time(), v.get("readme")),
            )  # fmt: skip

    def version_model(self, vid: str) -> str | None:
        """The model a version id was seen under (None when this hub never saw it)."""
        with self._lock:
            row = self.db.execute("SELECT model FROM versions WHERE id=?", (vid,)).fetchone()
        return row[0] if row else None

    def known_version(self, model: str, vid: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        with self._lock:
            row = self.db.execute("SELECT * FROM versions WHERE model=? AND id=?", (model, vid)).fetchone()
        if not row:
            return None
        v = {
            "id": row["id"],
            "created_at": row["created_at"],
            "cog_version": row["cog_version"],
            "openapi_schema": json.loads(row["openapi_schema"]),
        }
        if row["readme"]:
            v["readme"] = row["readme"]
        return v, json.loads(row["config"])


def _copy(p: core.Prediction) -> core.Prediction:
    """A copy callers may change (its mutable parts are replaced, never changed in place, except metrics)."""
    q = copy.copy(p)
    q.metrics = dict(p.metrics)
    return q
