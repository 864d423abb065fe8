"""`cogpin hub` commands that need no engine: tokens, and the refusals of `serve`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cogpin.hub.server import parse_duration
from cogpin.hub.store import Store


def cogpin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cogpin", *args], capture_output=True, text=True, env=env)


def test_tokens_create_list_revoke(tmp_path: Path) -> None:
    r = cogpin("hub", "token", "create", "--data", str(tmp_path), "--name", "laptop")
    assert r.returncode == 0 and r.stdout.startswith("r8_"), r.stderr
    token = r.stdout.strip()
    assert Store(tmp_path).check_token(token)
    r = cogpin("hub", "token", "list", "--data", str(tmp_path))
    assert "laptop" in r.stdout and token[:7] in r.stdout and token not in r.stdout and "active" in r.stdout
    r = cogpin("hub", "token", "revoke", "--data", str(tmp_path), "laptop")
    assert r.returncode == 0 and not Store(tmp_path).check_token(token)
    r = cogpin("hub", "token", "revoke", "--data", str(tmp_path), "nope")
    assert r.returncode == 1 and "no active token matches 'nope'" in r.stderr and "Traceback" not in r.stderr


def test_data_dir_from_the_environment(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "COGPIN_HUB_DATA": str(tmp_path / "from-env")}
    r = cogpin("hub", "token", "create", env=env)
    assert r.returncode == 0 and (tmp_path / "from-env" / "hub.db").exists()


def test_serve_refuses_no_auth_off_loopback_and_bad_flags(tmp_path: Path) -> None:
    r = cogpin(
        "hub", "serve", "--no-auth", "--host", "0.0.0.0", "--registry", "127.0.0.1:1", "--data", str(tmp_path)
    )
    assert r.returncode == 1 and "--no-auth on 0.0.0.0" in r.stderr and "hint:" in r.stderr
    r = cogpin("hub", "serve", "--idle-timeout", "soon", "--registry", "127.0.0.1:1", "--data", str(tmp_path))
    assert r.returncode == 1 and "--idle-timeout: 'soon' is not a duration" in r.stderr
    assert "Traceback" not in r.stderr


def test_durations() -> None:
    assert parse_duration("90s", "x") == 90
    assert parse_duration("5m", "x") == 300
    assert parse_duration("7d", "x") == 7 * 86400
    assert parse_duration("250ms", "x") == 0.25
    assert parse_duration("2", "x") == 2
    with pytest.raises(Exception, match="not a duration"):
        parse_duration("1 week", "x")


@pytest.mark.parametrize(
    "model",
    sorted(p.name for p in (Path(__file__).parent / "models").iterdir() if (p / "cog.yaml").is_file()),
)
def test_every_hub_test_model_lock_is_fresh(model: str) -> None:
    """The fixtures push these with `cogpin push`, which refuses a stale lock: say so here, offline."""
    d = Path(__file__).parent / "models" / model
    r = subprocess.run(
        [sys.executable, "-m", "cogpin", "lock", "--check"], cwd=d, capture_output=True, text=True
    )
    assert r.returncode == 0, f"{d}/cog.lock is stale: run `cogpin lock` there\n{r.stdout}{r.stderr}"
