"""The hub's store on a real SQLite file: migrations, tokens, predictions across a kill -9, files, retention."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cogpin.hub import core
from cogpin.hub.database import MIGRATIONS
from cogpin.hub.store import Store


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "hub.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    Store(tmp_path).close()  # a second open applies nothing again
    db = sqlite3.connect(tmp_path / "hub.db")
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer cogpin"):
        Store(tmp_path)


def test_tokens(tmp_path: Path) -> None:
    s = Store(tmp_path)
    t = s.create_token("ci")
    assert s.check_token(t) and not s.check_token(t + "x")
    assert t not in (tmp_path / "hub.db").read_bytes().decode(errors="replace")  # only its hash is kept
    assert [x["name"] for x in s.list_tokens()] == ["ci"]
    assert s.revoke_token("ci") == 1 and not s.check_token(t)
    assert s.revoke_token("ci") == 0


def test_acknowledged_predictions_survive_kill_9(tmp_path: Path) -> None:
    # a child process saves a prediction, prints its id, then is SIGKILLed without closing anything
    code = f"""
import os, signal, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2] / "src")!r})
from cogpin.hub import core
from cogpin.hub.store import Store
s = Store({str(tmp_path)!r})
p = core.Prediction(id=core.new_id(), model="o/n", version="a" * 64, input={{"x": 1}})
s.save_prediction(p)
p.set_status("processing")
s.save_prediction(p)
print(p.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == -9
    pid = r.stdout.strip()
    s = Store(tmp_path)
    p = s.get_prediction(pid)
    assert p is not None and p.status == "processing" and p.input == {"x": 1}
    assert [x.id for x in s.unfinished_predictions()] == [pid]


def test_list_newest_first_with_cursor(tmp_path: Path) -> None:
    s = Store(tmp_path)
    ids = []
    for _ in range(5):
        p = core.Prediction(id=core.new_id(), model="o/n", version="a" * 64, input={})
        s.save_prediction(p)
        ids.append(p.id)
    page, nxt = s.list_predictions(None, 2)
    assert [p.id for p in page] == ids[::-1][:2] and nxt is not None
    page2, nxt2 = s.list_predictions(nxt, 2)
    page3, nxt3 = s.list_predictions(nxt2, 2)
    assert [p.id for p in page + page2 + page3] == ids[::-1] and nxt3 is None


def test_files_are_content_addressed_and_expire_with_retention(tmp_path: Path) -> None:
    s = Store(tmp_path)
    a = s.add_file(b"same bytes", "a.txt", "text/plain")
    b = s.add_file(b"same bytes", "b.txt", "text/plain")
    assert a.sha256 == b.sha256 and a.id != b.id
    blob = s.blob_path(a.sha256)
    assert blob.read_bytes() == b"same bytes" and len(list((tmp_path / "files").rglob("*"))) == 3  # dirs + 1
    assert s.delete_file(a.id) and blob.exists()  # still used by b
    assert s.delete_file(b.id) and not blob.exists()
    # retention: an old prediction goes with its output files; a new one stays
    old = core.Prediction(id=core.new_id(), model="o/n", version="a" * 64, input={})
    old.set_status("succeeded")
    s.save_prediction(old)
    out = s.add_file(b"output", "output", "text/plain", prediction_id=old.id)
    new = core.Prediction(id=core.new_id(), model="o/n", version="a" * 64, input={})
    s.save_prediction(new)
    time.sleep(0.05)
    s.db.execute("UPDATE predictions SET created_ts = created_ts - 100 WHERE id=?", (old.id,))
    s.db.execute("UPDATE files SET created_ts = created_ts - 100 WHERE id=?", (out.id,))
    assert s.remove_expired(50) == (1, 0)
    assert s.get_prediction(old.id) is None and s.get_file(out.id) is None
    assert not s.blob_path(out.sha256).exists()
    assert s.get_prediction(new.id) is not None


def test_settings_are_made_once(tmp_path: Path) -> None:
    s = Store(tmp_path)
    first = s.setting("webhook_secret", core.new_webhook_secret)
    s.close()
    assert Store(tmp_path).setting("webhook_secret", core.new_webhook_secret) == first
    assert os.path.exists(tmp_path / "hub.db")


def test_versions_keep_their_readme_across_a_restart(tmp_path: Path) -> None:
    v = {"id": "a" * 64, "created_at": core.now(), "cog_version": "0.23.1", "openapi_schema": {"x": 1}}
    s = Store(tmp_path)
    s.remember_version("o/n", {**v, "readme": "# hello"}, {"build": {}})
    s.remember_version("o/m", v, {})
    s.close()
    s = Store(tmp_path)
    assert s.known_version("o/n", "a" * 64) == ({**v, "readme": "# hello"}, {"build": {}})
    assert s.known_version("o/m", "a" * 64) == (v, {})
    assert s.known_version("o/x", "a" * 64) is None
