"""The hub's database: its schema (``MIGRATIONS``, versioned by ``PRAGMA user_version``), the connection
(SQLite in WAL mode in the data dir, or PostgreSQL through :class:`_PgDB`, a thin sqlite3-shaped adapter)
and the transaction handle the store's queries run on."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL,
        created_at TEXT NOT NULL, revoked_at TEXT
    );
    CREATE TABLE predictions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, model TEXT NOT NULL,
        version TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, created_ts REAL NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX predictions_status ON predictions(status);
    CREATE INDEX predictions_version ON predictions(version);
    CREATE TABLE files (
        id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, name TEXT NOT NULL, content_type TEXT NOT NULL,
        size INTEGER NOT NULL, md5 TEXT NOT NULL, metadata TEXT NOT NULL, created_at TEXT NOT NULL,
        created_ts REAL NOT NULL, prediction_id TEXT
    );
    CREATE INDEX files_sha ON files(sha256);
    CREATE INDEX files_prediction ON files(prediction_id);
    CREATE TABLE versions (
        id TEXT NOT NULL, model TEXT NOT NULL, created_at TEXT NOT NULL, cog_version TEXT NOT NULL,
        openapi_schema TEXT NOT NULL, config TEXT NOT NULL, seen_ts REAL NOT NULL,
        PRIMARY KEY (model, id)
    );
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: a version's README (the run.cogpin.readme label), for the web pages
    """
    ALTER TABLE versions ADD COLUMN readme TEXT
    """,
    # 3: several hub processes on one store (PostgreSQL): who runs which prediction
    """
    ALTER TABLE predictions ADD COLUMN claimed_by TEXT;
    CREATE TABLE hubs (id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, seen_ts REAL NOT NULL);
    """,
]


class StoreError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def connect(data_dir: Path, database: str | None) -> Any:
    """``database`` (a ``postgresql://`` URL), else ``hub.db`` in ``data_dir``."""
    if database:
        return _PgDB.connect(database)
    db = sqlite3.connect(data_dir / "hub.db", check_same_thread=False, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL: a commit survives the process being killed (kill -9); only an OS crash or power
    # loss can lose the last commits. FULL would fsync every commit (milliseconds on each prediction).
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=10000")
    return db


def migrate(db: Tx, where: object, is_postgres: bool) -> None:
    """Bring the schema up to date inside transaction ``db`` (``where`` names the database in errors)."""
    if is_postgres:  # hubs starting at once migrate one after the other
        db.execute("SELECT pg_advisory_xact_lock(7370013)")
    have = db.execute("PRAGMA user_version").fetchone()[0]
    if have > len(MIGRATIONS):
        raise RuntimeError(f"{where} was written by a newer cogpin (schema {have}); upgrade cogpin")
    for n in range(have, len(MIGRATIONS)):
        db.executescript_safe(MIGRATIONS[n])
        db.execute(f"PRAGMA user_version={n + 1}")


class Tx:
    """The connection inside a transaction (``executescript`` would commit, so statements run one by one)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    def executescript_safe(self, script: str) -> None:
        for stmt in script.split(";"):
            if stmt.strip():
                self._db.execute(stmt)


class _PgRow(tuple):  # type: ignore[type-arg]
    """A row by index or by column name, like sqlite3.Row (``dict(row)`` works)."""

    _names: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


_PG_TYPES = [
    (re.compile(r"INTEGER PRIMARY KEY( AUTOINCREMENT)?", re.I), "BIGSERIAL PRIMARY KEY"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
]


class _PgDB:
    """The few sqlite3.Connection calls the store makes, on a psycopg (3) connection in autocommit mode:
    ``?`` placeholders become ``%s``, SQLite's types their PostgreSQL names, ``PRAGMA user_version`` a row of
    ``cogpin_schema``, ``BEGIN IMMEDIATE`` a plain ``BEGIN`` (PostgreSQL locks rows as they are written)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    def connect(cls, url: str) -> _PgDB:
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                "--database postgresql://… needs psycopg (PostgreSQL's driver), which is not installed",
                "pip install 'cogpin[hub-postgres]'",
            ) from None
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            safe = re.sub(r"//([^:@/]+):[^@/]*@", r"//\1:***@", url)
            raise StoreError(
                f"cannot connect to PostgreSQL at {safe}: {str(e).strip()}",
                "check the URL and that the server runs (scripts/dev-env postgres up for the dev one).",
            ) from None
        conn.row_factory = _pg_row_factory
        conn.execute("CREATE TABLE IF NOT EXISTS cogpin_schema (version INTEGER NOT NULL)")
        return cls(conn)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        s = sql.strip()
        up = s.upper()
        if up.startswith("PRAGMA USER_VERSION="):
            n = int(s.split("=", 1)[1])
            self.conn.execute("DELETE FROM cogpin_schema")
            return self.conn.execute("INSERT INTO cogpin_schema(version) VALUES (%s)", (n,))
        if up == "PRAGMA USER_VERSION":
            return self.conn.execute("SELECT COALESCE(MAX(version), 0) FROM cogpin_schema")
        if up.startswith("BEGIN"):
            return self.conn.execute("BEGIN")
        if up.startswith("CREATE TABLE"):
            for pat, rep in _PG_TYPES:
                s = pat.sub(rep, s)
        return self.conn.execute(s.replace("%", "%%").replace("?", "%s"), params)

    def close(self) -> None:
        self.conn.close()


def _pg_row_factory(cursor: Any) -> Any:
    names = {d.name: i for i, d in enumerate(cursor.description or [])}
    cls = type("Row", (_PgRow,), {"_names": names})
    return lambda values: cls(values)
