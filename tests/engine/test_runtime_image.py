"""The critical runtime-hardening repros (issue 13) against a built image on the real engine: deep JSON
nesting, cancel right after an async create, list[Secret] redaction, a negative Content-Length, and a
None output for `-> Path`-like types. The image is tagged `cogpin-test-rtimage-*` and removed at the end.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cogpin.builder import BuildOptions, build_image
from cogpin.config import load_config
from cogpin.engine import client
from tests.engine.test_build import cli, serving

pytestmark = pytest.mark.engine

TAG = f"cogpin-test-rtimage-{uuid.uuid4().hex[:8]}:latest"
COG_YAML = 'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\nconcurrency:\n  max: 8\n'
PREDICT = """
import asyncio, time
from typing import Optional
from cog import BasePredictor, Input, Secret

class Predictor(BasePredictor):
    async def predict(
        self,
        block: float = 0.0,
        delay: float = 0.0,
        tokens: list[Secret] = Input(default=[]),
        maybe: Optional[list[Secret]] = None,
        nothing: bool = False,
    ) -> str:
        if block:
            time.sleep(block)  # blocks the event loop
        for t in tokens + (maybe or []):
            print("token", t.get_secret_value())
        await asyncio.sleep(delay)
        if nothing:
            return None
        return "done"
"""


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d: Path = tmp_path_factory.mktemp("rtimage")
    (d / "cog.yaml").write_text(COG_YAML)
    (d / "predict.py").write_text(PREDICT)
    cli("lock", cwd=d)
    built = build_image(
        load_config(d / "cog.yaml"), BuildOptions(tag=TAG, progress="quiet"), include_project=True
    )
    try:
        with serving(built.id) as base:
            yield base
    finally:
        try:
            client().images.remove(TAG, force=True)
        except Exception:  # noqa: BLE001 - best effort
            pass


def call(
    base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def wait_done(base: str, pid: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        code, body = call(base, "GET", f"/predictions/{pid}")
        if code == 200 and body["status"] in ("succeeded", "failed", "canceled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{pid} did not finish: {body}")


def test_deep_nesting_is_422_and_the_image_stays_ready(url: str) -> None:
    for depth in (978, 100_000):
        body = b'{"input": {}, "context": {"a": ' + b"[" * depth + b"1" + b"]" * depth + b"}}"
        assert call(url, "POST", "/predictions", body)[0] == 422
    assert call(url, "GET", "/health-check")[1]["status"] == "READY"
    code, body = call(url, "POST", "/predictions", {"input": {}})
    assert code == 200 and body["output"] == "done"


def test_cancel_right_after_create_frees_every_slot(url: str) -> None:
    hdr = {"Prefer": "respond-async"}
    call(url, "POST", "/predictions", {"id": "img-blocker", "input": {"block": 1.0}}, hdr)
    time.sleep(0.2)
    for i in range(7):
        assert call(url, "POST", "/predictions", {"id": f"img-c{i}", "input": {"delay": 30}}, hdr)[0] == 202
        assert call(url, "POST", f"/predictions/img-c{i}/cancel")[0] == 200
    for i in range(7):
        assert wait_done(url, f"img-c{i}")["status"] == "canceled"
    assert call(url, "GET", "/health-check")[1]["status"] == "READY"


def test_list_of_secrets_is_redacted(url: str) -> None:
    secrets = ["img-s3cr3t-one", "img-s3cr3t-two"]
    code, body = call(
        url, "POST", "/predictions", {"id": "img-sec", "input": {"tokens": secrets[:1], "maybe": secrets[1:]}}
    )
    assert code == 200 and body["status"] == "succeeded"
    assert body["input"]["tokens"] == ["**********"] and body["input"]["maybe"] == ["**********"]
    everything = json.dumps([body, call(url, "GET", "/predictions/img-sec")[1]])
    assert "token **********" in everything
    assert not any(s in everything for s in secrets)


def test_negative_content_length_is_400(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(b"POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}" + b" " * 4096)
        assert sock.recv(4096).startswith(b"HTTP/1.1 400")


def test_none_for_a_str_output_fails_naming_the_type(url: str) -> None:
    code, body = call(url, "POST", "/predictions", {"input": {"nothing": True}})
    assert code == 200 and body["status"] == "failed"
    assert "does not match the declared output type str" in body["error"]
