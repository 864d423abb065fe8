"""Webhooks, shutdown, SIGTERM, --await-explicit-shutdown, server logs."""

from __future__ import annotations

import json
import signal
import time

SLOW_ITER = """
import time
from typing import Iterator
from cog import BasePredictor, Secret

class Predictor(BasePredictor):
    def predict(self, n: int = 3, delay: float = 0.0, token: Secret = Secret("")) -> Iterator[str]:
        for i in range(n):
            print("step", i, token.get_secret_value())
            time.sleep(delay)
            yield str(i)
"""


def wait_for(cond, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met")


def test_webhook_events_and_auth(serve, receiver) -> None:
    s = serve(SLOW_ITER, env={"WEBHOOK_AUTH_TOKEN": "tok123"})
    code, body = s.post(
        "/predictions",
        {"input": {"n": 3}, "webhook": receiver.url + "/hook"},
        headers={"Prefer": "respond-async"},
    )
    assert code == 202
    wait_for(lambda: any(r["body"]["status"] == "succeeded" for r in receiver.posts()))
    posts = receiver.posts()
    assert posts[0]["body"]["status"] in ("starting", "processing")
    assert posts[-1]["body"]["status"] == "succeeded" and posts[-1]["body"]["output"] == ["0", "1", "2"]
    assert all(r["headers"]["Authorization"] == "Bearer tok123" for r in posts)
    assert all(r["path"] == "/hook" for r in posts)


def test_webhook_events_filter(serve, receiver) -> None:
    s = serve(SLOW_ITER)
    s.post(
        "/predictions",
        {"input": {"n": 3}, "webhook": receiver.url, "webhook_events_filter": ["completed"]},
    )
    wait_for(lambda: len(receiver.posts()) >= 1)
    time.sleep(0.3)
    assert [r["body"]["status"] for r in receiver.posts()] == ["succeeded"]


def test_webhook_output_events_are_throttled(serve, receiver) -> None:
    s = serve(SLOW_ITER)
    s.post(
        "/predictions",
        {
            "input": {"n": 20, "delay": 0.05},
            "webhook": receiver.url,
            "webhook_events_filter": ["output", "completed"],
        },
    )
    wait_for(lambda: any(r["body"]["status"] == "succeeded" for r in receiver.posts()))
    # 20 outputs over ~1 s: at most one output event per 500 ms, plus the terminal one
    assert 2 <= len(receiver.posts()) <= 5


def test_webhook_terminal_retried(serve, receiver) -> None:
    receiver.status_codes = [503, 500]
    s = serve(SLOW_ITER, env={"COG_WEBHOOK_BACKOFF": "0.05"})
    s.post(
        "/predictions", {"input": {"n": 1}, "webhook": receiver.url, "webhook_events_filter": ["completed"]}
    )
    wait_for(lambda: len(receiver.posts()) >= 3)
    assert [r["code"] for r in receiver.posts()] == [503, 500, 200]


def test_webhook_receiver_down(serve) -> None:
    s = serve(SLOW_ITER, env={"COG_WEBHOOK_BACKOFF": "0.01", "COG_WEBHOOK_RETRIES": "3"})
    code, body = s.post("/predictions", {"input": {"n": 2}, "webhook": "http://127.0.0.1:9/nothing"})
    assert code == 200 and body["status"] == "succeeded"
    assert s.predict({})[1]["status"] == "succeeded"
    assert s.health()["status"] == "READY"


def test_secret_not_in_webhooks(serve, receiver) -> None:
    s = serve(SLOW_ITER)
    s.post("/predictions", {"input": {"n": 1, "token": "s3cr3tvalue"}, "webhook": receiver.url})
    wait_for(lambda: any(r["body"]["status"] == "succeeded" for r in receiver.posts()))
    text = json.dumps(receiver.posts())
    assert "s3cr3tvalue" not in text and "**********" in text


def test_invalid_webhook_is_422(serve) -> None:
    s = serve(SLOW_ITER)
    assert s.post("/predictions", {"input": {}, "webhook": "ftp://x"})[0] == 422
    body = {"input": {}, "webhook": "http://127.0.0.1:9/", "webhook_events_filter": ["bogus"]}
    assert s.post("/predictions", body)[0] == 422


def test_shutdown_endpoint(serve) -> None:
    s = serve(SLOW_ITER)
    assert s.post("/shutdown") == (200, {})
    assert s.proc.wait(10) == 0


def test_sigterm_waits_for_prediction_result(serve, receiver) -> None:
    s = serve(SLOW_ITER)
    s.post(
        "/predictions",
        {"input": {"n": 2, "delay": 0.4}, "webhook": receiver.url, "webhook_events_filter": ["completed"]},
        headers={"Prefer": "respond-async"},
    )
    time.sleep(0.2)
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(10) == 0
    assert [r["body"]["status"] for r in receiver.posts()] == ["succeeded"]


def test_await_explicit_shutdown(serve) -> None:
    s = serve(SLOW_ITER, args=["--await-explicit-shutdown", "true"])
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert s.proc.poll() is None
    assert s.health()["status"] == "READY"
    s.post("/shutdown")
    assert s.proc.wait(10) == 0


def test_json_server_logs(serve) -> None:
    s = serve(SLOW_ITER, env={"COG_LOG_FORMAT": "json"})
    s.predict({"wrong": 1})
    lines = [json.loads(line) for line in s.logs().splitlines() if line.startswith("{")]
    assert any("unknown input" in entry["message"] and entry["level"] == "warning" for entry in lines)


def test_log_level(serve) -> None:
    s = serve(SLOW_ITER, env={"COG_LOG_LEVEL": "ERROR"})
    s.predict({"wrong": 1})
    assert "unknown input" not in s.logs()


def test_sigterm_answers_waiting_sync_client(serve) -> None:
    import threading

    s = serve(SLOW_ITER)
    result: list = []
    t = threading.Thread(target=lambda: result.append(s.predict({"n": 2, "delay": 0.4})))
    t.start()
    time.sleep(0.3)
    s.proc.send_signal(signal.SIGTERM)
    t.join(10)
    assert result and result[0][0] == 200 and result[0][1]["output"] == ["0", "1"]
    assert s.proc.wait(10) == 0


def test_model_output_is_echoed_to_the_server_log_with_secrets_redacted(serve) -> None:
    s = serve(SLOW_ITER)
    code, body = s.predict({"n": 2, "token": "s3cr3tvalue"})
    assert code == 200 and body["status"] == "succeeded"
    assert "step 1" in body["logs"] and "s3cr3tvalue" not in body["logs"]
    wait_for(lambda: "step 1" in s.logs())
    assert "step 0" in s.logs()  # what `docker logs` and `cog serve` show
    assert "s3cr3tvalue" not in s.logs()
