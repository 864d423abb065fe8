"""Endpoints and behaviours of a synchronous predictor, one shared server (module scope)."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest
from cogrt import module_server

SOURCE = """
import logging, os, subprocess, sys, time
from typing import Any, Optional
from cog import BasePredictor, Input, Secret, current_scope

class Predictor(BasePredictor):
    def setup(self):
        print("setup says hi")
        self.count = 0

    def predict(
        self,
        mode: str = Input(default="echo", choices=["echo", "logs", "raise", "exit", "sleep", "secret", "metrics", "scope"]),
        s: str = Input(default="ab", min_length=1, max_length=10, regex="^[a-z]+$"),
        n: int = Input(default=1, ge=1, le=10),
        f: float = Input(default=0.0, ge=0, le=5),
        flag: bool = False,
        token: Optional[Secret] = None,
        xs: list[int] = Input(default=[1], max_length=3),
    ) -> Any:
        self.count += 1
        if mode == "echo":
            return {"s": s * n, "f": f, "flag": flag, "xs": xs, "count": self.count}
        if mode == "logs":
            print("from print")
            logging.getLogger("model").warning("from logging")
            sys.stderr.write("from stderr\\n")
            os.write(1, b"from fd 1\\n")
            os.write(2, b"from fd 2\\n")
            subprocess.run(["sh", "-c", "echo from subprocess"], check=True)
            sys.stdout.buffer.write(b"from buffer\\n")
            sys.stdout.flush()
            return "done"
        if mode == "raise":
            raise ValueError("bad thing happened")
        if mode == "exit":
            sys.exit(3)
        if mode == "sleep":
            print("sleeping")
            time.sleep(f)
            return "slept"
        if mode == "secret":
            value = token.get_secret_value()
            print("the token is", value, repr(token))
            raise RuntimeError("failed with " + value)
        if mode == "metrics":
            scope = current_scope()
            scope.record_metric("tokens", 5)
            scope.record_metric("calls", 1, mode="incr")
            scope.record_metric("calls", 2, mode="incr")
            scope.record_metric("seen", "a", mode="append")
            scope.record_metric("seen", "b", mode="append")
            return dict(scope.context)
        if mode == "scope":
            scope = current_scope()
            return {"context": dict(scope.context), "metrics": dict(scope.metrics), "files": sorted(os.listdir("/tmp"))[:0]}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = module_server(tmp_path_factory, SOURCE)
    yield s
    s.stop()


def test_discovery(server) -> None:
    code, body = server.get("/")
    assert code == 200
    for key in (
        "cog_version",
        "docs_url",
        "openapi_url",
        "shutdown_url",
        "healthcheck_url",
        "predictions_url",
        "predictions_idempotent_url",
        "predictions_cancel_url",
    ):
        assert key in body
    assert "trainings_url" not in body


def test_health_ready_with_setup_logs(server) -> None:
    body = server.health()
    assert body["status"] == "READY"
    assert body["setup"]["status"] == "succeeded"
    assert "setup says hi" in body["setup"]["logs"]
    assert body["setup"]["started_at"] and body["setup"]["completed_at"]


def test_sync_prediction_shape(server) -> None:
    code, body = server.predict({"s": "ab", "n": 2, "f": 1, "flag": True, "xs": [1, 2]})
    assert code == 200
    assert body["status"] == "succeeded"
    assert body["output"]["s"] == "abab" and body["output"]["flag"] is True and body["output"]["xs"] == [1, 2]
    assert isinstance(body["output"]["f"], float)
    for key in ("id", "input", "error", "logs", "created_at", "started_at", "completed_at"):
        assert key in body
    assert body["metrics"]["predict_time"] >= 0
    assert body["input"]["s"] == "ab"


def test_logs_captured_from_every_source(server) -> None:
    code, body = server.predict({"mode": "logs"})
    assert code == 200 and body["status"] == "succeeded"
    for line in (
        "from print",
        "from logging",
        "from stderr",
        "from fd 1",
        "from fd 2",
        "from subprocess",
        "from buffer",
    ):
        assert line in body["logs"], body["logs"]


def test_logs_do_not_leak_into_next_prediction(server) -> None:
    server.predict({"mode": "logs"})
    code, body = server.predict({"mode": "echo"})
    assert body["logs"] == ""


@pytest.mark.parametrize(
    ("inputs", "name", "type_"),
    [
        ({"n": 11}, "n", "value_error.number.not_le"),
        ({"n": 0}, "n", "value_error.number.not_ge"),
        ({"n": "x"}, "n", "type_error.integer"),
        ({"f": 9.5}, "f", "value_error.number.not_le"),
        ({"s": ""}, "s", "value_error.any_str.min_length"),
        ({"s": "abcdefghijk"}, "s", "value_error.any_str.max_length"),
        ({"s": "AB"}, "s", "value_error.str.regex"),
        ({"s": 5}, "s", "type_error.str"),
        ({"mode": "nope"}, "mode", "type_error.enum"),
        ({"flag": "maybe"}, "flag", "type_error.bool"),
        ({"xs": [1, 2, 3, 4]}, "xs", "value_error.list.max_items"),
        ({"xs": ["a"]}, "xs", "type_error.integer"),
        ({"s": None}, "s", "type_error.none.not_allowed"),
    ],
)
def test_invalid_input_is_422(server, inputs, name, type_) -> None:
    code, body = server.predict(inputs)
    assert code == 422
    assert body["detail"][0]["loc"] == ["body", "input", name]
    assert body["detail"][0]["type"] == type_
    assert body["detail"][0]["msg"]


def test_missing_required_input_is_422(tmp_path, serve) -> None:
    s = serve("def predict(a: str, b: int = 2) -> str:\n    return a\n", ref="predict.py:predict")
    code, body = s.predict({})
    assert code == 422
    assert body["detail"] == [
        {"loc": ["body", "input", "a"], "msg": "field required", "type": "value_error.missing"}
    ]


def test_unknown_input_dropped_with_warning(server) -> None:
    code, body = server.predict({"s": "ab", "wrong": 1})
    assert code == 200 and body["status"] == "succeeded"
    assert "wrong" not in body["input"]
    assert "unknown input field(s): wrong" in server.logs()


def test_malformed_json_is_422(server) -> None:
    code, body = server.request("POST", "/predictions", b'{"input": {"s": ')
    assert code == 422
    assert body["detail"][0]["type"] == "value_error.jsondecode"
    assert server.health()["status"] == "READY"


def test_non_object_body_is_422(server) -> None:
    code, body = server.request("POST", "/predictions", b"[1, 2]")
    assert code == 422


def test_model_raises_is_failed_and_server_fine(server) -> None:
    code, body = server.predict({"mode": "raise"})
    assert code == 200
    assert body["status"] == "failed"
    assert body["error"] == "bad thing happened"
    assert "ValueError" in body["logs"]
    assert server.predict({})[1]["status"] == "succeeded"


def test_sys_exit_fails_prediction_only(server) -> None:
    code, body = server.predict({"mode": "exit"})
    assert code == 200 and body["status"] == "failed"
    assert "sys.exit" in body["error"]
    code, body = server.predict({})
    assert body["status"] == "succeeded"
    assert server.health()["setup"]["logs"].count("setup says hi") == 1  # no restart happened


def test_secret_never_shown(server) -> None:
    secret = "hunter2secretvalue"
    code, body = server.predict({"mode": "secret", "token": secret})
    assert code == 200 and body["status"] == "failed"
    text = json.dumps(body)
    assert secret not in text
    assert body["input"]["token"] == "**********"
    assert "**********" in body["error"] and "Secret('**********')" in body["logs"]
    assert secret not in server.logs()


def test_metrics_and_context(server) -> None:
    code, body = server.post("/predictions", {"input": {"mode": "metrics"}, "context": {"user": "u1"}})
    assert body["status"] == "succeeded"
    assert body["output"] == {"user": "u1"}
    assert (
        body["metrics"]["tokens"] == 5
        and body["metrics"]["calls"] == 3
        and body["metrics"]["seen"] == ["a", "b"]
    )
    assert "predict_time" in body["metrics"]


def test_no_scope_leak_between_predictions(server) -> None:
    server.post("/predictions", {"input": {"mode": "metrics"}, "context": {"user": "u1"}})
    code, body = server.predict({"mode": "scope"})
    assert body["output"]["context"] == {} and body["output"]["metrics"] == {}
    assert set(body["metrics"]) == {"predict_time"}


def test_async_request_and_polling(server) -> None:
    code, body = server.predict({"mode": "sleep", "f": 0.3}, headers={"Prefer": "respond-async"})
    assert code == 202
    assert body["status"] in ("starting", "processing")
    final = server.wait_prediction(body["id"])
    assert final["status"] == "succeeded" and final["output"] == "slept"
    assert "sleeping" in final["logs"]


def test_get_unknown_prediction_is_404(server) -> None:
    assert server.get("/predictions/nope")[0] == 404


def test_put_is_idempotent(server) -> None:
    body = {"input": {"mode": "sleep", "f": 0.5}}
    code1, first = server.request("PUT", "/predictions/idem-1", body, headers={"Prefer": "respond-async"})
    code2, second = server.request("PUT", "/predictions/idem-1", body, headers={"Prefer": "respond-async"})
    assert code1 == 202 and code2 == 202
    assert first["id"] == second["id"] == "idem-1"
    final = server.wait_prediction("idem-1")
    assert final["status"] == "succeeded"
    code3, third = server.request("PUT", "/predictions/idem-1", body)
    assert code3 == 200 and third["created_at"] == final["created_at"]


def test_sync_put_waits(server) -> None:
    code, body = server.request("PUT", "/predictions/sync-put-1", {"input": {"s": "zz"}})
    assert code == 200 and body["id"] == "sync-put-1" and body["output"]["s"] == "zz"


def test_cancel_running_prediction(server) -> None:
    code, body = server.predict({"mode": "sleep", "f": 5}, headers={"Prefer": "respond-async"})
    time.sleep(0.2)
    assert server.post(f"/predictions/{body['id']}/cancel") == (200, {})
    final = server.wait_prediction(body["id"], timeout=5)
    assert final["status"] == "canceled"
    assert server.predict({})[1]["status"] == "succeeded"


def test_cancel_unknown_is_404(server) -> None:
    assert server.post("/predictions/unknown-id/cancel")[0] == 404


def test_sync_client_disconnect_cancels(server) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port))
    payload = json.dumps({"id": "gone-1", "input": {"mode": "sleep", "f": 5}}).encode()
    sock.sendall(
        b"POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(payload)).encode()
        + b"\r\n\r\n"
        + payload
    )
    time.sleep(0.3)
    sock.close()
    final = server.wait_prediction("gone-1", timeout=5)
    assert final["status"] == "canceled"


def test_sequential_clients_never_get_409(server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    codes = []
    for _ in range(200):
        conn.request(
            "POST", "/predictions", body=b'{"input": {}}', headers={"Content-Type": "application/json"}
        )
        resp = conn.getresponse()
        resp.read()
        codes.append(resp.status)
    conn.close()
    assert codes.count(200) == 200


def test_busy_is_409_and_health_busy(server) -> None:
    code, body = server.predict({"mode": "sleep", "f": 1}, headers={"Prefer": "respond-async"})
    time.sleep(0.1)
    assert server.health()["status"] == "BUSY"
    code2, body2 = server.predict({})
    assert code2 == 409
    server.wait_prediction(body["id"])
    assert server.health()["status"] == "READY"


def test_body_over_limit_is_413(serve) -> None:
    s = serve(
        "def predict(s: str) -> str:\n    return s\n",
        ref="predict.py:predict",
        env={"COG_MAX_BODY_BYTES": "1000"},
    )
    code, body = s.predict({"s": "x" * 2000})
    assert code == 413
    assert s.predict({"s": "small"})[1]["output"] == "small"


def test_unknown_route_is_404(server) -> None:
    assert server.get("/nope")[0] == 404
    assert server.post("/trainings", {"input": {}})[0] == 404
