"""`cog login` pieces without an engine: verification against /v2/ (Basic and Bearer challenges),
credentials stored exactly as `docker login` stores them, push stream accounting and error lines."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cogpin import registry as reg

USER, PASSWORD = "alice", "s3cret"
GOOD = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def serve(mode: str) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            auth = self.headers.get("Authorization")
            port = self.server.server_address[1]
            if self.path.startswith("/token"):
                code = 200 if auth == GOOD and "service=reg" in self.path else 401
                self._reply(code, {"token": "t"} if code == 200 else {})
            elif mode == "open":
                self._reply(200, {})
            elif mode == "bearer":
                self._reply(
                    401,
                    {},
                    {"WWW-Authenticate": f'Bearer realm="http://127.0.0.1:{port}/token",service="reg"'},
                )
            elif auth == GOOD:
                self._reply(200, {})
            else:
                self._reply(401, {}, {"WWW-Authenticate": 'Basic realm="Registry Realm"'})

        def _reply(self, code: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    d = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(d))
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ.get("PATH", ""))
    yield d


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_login_verifies_then_stores_like_docker(docker_config: Path, mode: str):
    server, host = serve(mode)
    try:
        key, where = reg.login(host, USER, PASSWORD)
    finally:
        server.shutdown()
    assert key == host
    cfg = json.loads((docker_config / "config.json").read_text())
    assert cfg == {"auths": {host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}
    assert stat.S_IMODE((docker_config / "config.json").stat().st_mode) == 0o600
    assert reg.stored_credentials(host) == (USER, PASSWORD)


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_wrong_password_is_one_line_and_stores_nothing(docker_config: Path, mode: str):
    server, host = serve(mode)
    try:
        with pytest.raises(reg.RegistryError, match="wrong username or password") as e:
            reg.login(host, USER, "nope")
    finally:
        server.shutdown()
    assert "\n" not in e.value.message
    assert not (docker_config / "config.json").exists()


def test_unreachable_registry(docker_config: Path):
    server, host = serve("basic")
    server.shutdown()
    server.server_close()
    with pytest.raises(reg.RegistryError, match=f"cannot reach registry {host}") as e:
        reg.login(host, USER, PASSWORD)
    assert e.value.hint


def test_other_entries_are_kept(docker_config: Path):
    docker_config.mkdir()
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {"other.io": {"auth": "eA=="}}, "psFormat": "x"})
    )
    server, host = serve("open")
    try:
        reg.login(host, USER, PASSWORD)
    finally:
        server.shutdown()
    cfg = json.loads((docker_config / "config.json").read_text())
    assert cfg["psFormat"] == "x" and cfg["auths"]["other.io"] == {"auth": "eA=="} and host in cfg["auths"]


def test_credential_helper_is_used_when_configured(docker_config: Path, tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    store = tmp_path / "stored.json"
    helper = bin_dir / "docker-credential-fake"
    helper.write_text(
        f'#!/bin/sh\nif [ "$1" = store ]; then cat > {store}; else cat {store} | sed "s/ServerURL/X/"; fi\n'
    )
    helper.chmod(0o755)
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "fake"}))
    server, host = serve("basic")
    try:
        _, where = reg.login(host, USER, PASSWORD)
    finally:
        server.shutdown()
    assert where == "credential helper fake"
    assert json.loads(store.read_text()) == {"ServerURL": host, "Username": USER, "Secret": PASSWORD}
    cfg = json.loads((docker_config / "config.json").read_text())
    assert cfg == {"credsStore": "fake", "auths": {host: {}}}  # what docker login leaves behind
    assert reg.stored_credentials(host) == (USER, PASSWORD)


def test_registry_names():
    assert reg.normalize_registry(None) == "r8.im"
    assert reg.normalize_registry("docker.io") == reg.DOCKER_HUB_KEY
    assert reg.normalize_registry("https://127.0.0.1:5000/") == "127.0.0.1:5000"
    assert reg.split_reference("127.0.0.1:5000/user/model") == (
        "127.0.0.1:5000",
        "127.0.0.1:5000/user/model",
        "latest",
    )
    assert reg.split_reference("r8.im/user/model:v2") == ("r8.im", "r8.im/user/model", "v2")
    with pytest.raises(reg.RegistryError, match="not a valid image name"):
        reg.split_reference("r8.im/User/Model")


DIGEST = "sha256:" + "ab" * 32


def test_push_events_count_layers():
    events = [
        {"status": "The push refers to repository [127.0.0.1:5000/u/m]"},
        {"status": "Preparing", "id": "l1"},
        {"status": "Pushing", "id": "l1", "progressDetail": {"current": 1}},
        {"status": "Pushed", "id": "l1"},
        {"status": "Layer already exists", "id": "l2"},
        {"status": "Mounted from u/other", "id": "l3"},
        {"status": f"latest: digest: {DIGEST} size: 528"},
        {"progressDetail": {}, "aux": {"Tag": "latest", "Digest": DIGEST, "Size": 528}},
    ]
    r = reg.push_events(iter(events), "127.0.0.1:5000", "127.0.0.1:5000/u/m", "latest")
    assert r.uploaded == ["l1"] and r.existing == ["l2", "l3"] and r.digest == DIGEST
    assert r.pinned == f"127.0.0.1:5000/u/m:latest@{DIGEST}"


@pytest.mark.parametrize(
    "message,want",
    [
        ("no basic auth credentials", "not logged in"),
        ("unauthorized: authentication required", "not logged in"),
        ("denied: requested access to the resource is denied", "denied"),
        ("name unknown: repository name not known to registry", "does not know the repository"),
        ('Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', "cannot reach"),
        ("http: server gave HTTP response to HTTPS client", "plain HTTP"),
    ],
)
def test_push_errors_are_one_line_with_what_to_do(message: str, want: str):
    events = [{"status": "Preparing", "id": "l1"}, {"errorDetail": {"message": message}, "error": message}]
    with pytest.raises(reg.RegistryError, match=want) as e:
        reg.push_events(iter(events), "127.0.0.1:5000", "127.0.0.1:5000/u/m", "latest")
    assert "\n" not in e.value.message and e.value.hint


def test_login_command_prompts_for_user_and_password(docker_config: Path):
    from click.testing import CliRunner

    from cogpin.cli import cli

    server, host = serve("basic")
    try:
        result = CliRunner().invoke(cli, ["login", host], input=f"{USER}\n{PASSWORD}\n")
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    assert "Login Succeeded" in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert reg.stored_credentials(host) == (USER, PASSWORD)
