"""Issue 14, the runtime: what Cog's runtime (coglet, python/cog) does, through real HTTP against
`python -m cog.server.http` — structured outputs (pydantic and cog BaseModels, TypedDicts, also from
another module of the project), user metrics, SSE, the user healthcheck, the lifecycle log lines."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cogrt import write


def sse_events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def sse_request(
    port: int, method: str, path: str, body: dict[str, Any], timeout: float = 30
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(
        method,
        path,
        body=json.dumps(body),
        headers={"Accept": "text/event-stream", "Content-Type": "application/json"},
    )
    return conn, conn.getresponse()


# ---------------------------------------------------------------------------- structured outputs

SHAPES = """
from typing import Optional, TypedDict
from pydantic import BaseModel as PydanticBaseModel, ConfigDict
from cog import BaseModel, Path

class Box(PydanticBaseModel):
    label: str
    score: float = 0.5
    note: Optional[str] = None

class Result(PydanticBaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)  # cog.Path in a pydantic model, as with Cog
    boxes: list[Box]
    image: Path
    counts: dict[str, int]
"""

PYDANTIC_PREDICT = """
from cog import BasePredictor, Path
from shapes import Box, Result

class Predictor(BasePredictor):
    def predict(self, n: int = 2) -> Result:
        Path("out.txt").write_text("hi")
        return Result(boxes=[Box(label=f"b{i}") for i in range(n)], image=Path("out.txt"), counts={"a": n})
"""


def test_pydantic_output_from_another_module(serve, tmp_path: Path) -> None:
    pytest.importorskip("pydantic")  # a dev dependency: the user's image has it, the runtime has none
    write(tmp_path, "shapes.py", SHAPES)
    s = serve(PYDANTIC_PREDICT)
    out = s.get("/openapi.json")[1]["components"]["schemas"]["Output"]
    box = {
        "type": "object",
        "properties": {
            "label": {"type": "string", "title": "Label"},
            "score": {"type": "number", "title": "Score"},
            "note": {"type": "string", "nullable": True, "title": "Note"},
        },
        "required": ["label"],
    }
    assert out == {  # Cog's rendering: inline, titled properties, `required`, Optional nullable
        "title": "Output",
        "type": "object",
        "properties": {
            "boxes": {"type": "array", "items": box, "title": "Boxes"},
            "image": {"type": "string", "format": "uri", "title": "Image"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}, "title": "Counts"},
        },
        "required": ["boxes", "image", "counts"],
    }
    code, body = s.predict({"n": 2})
    assert code == 200 and body["status"] == "succeeded", body
    output = body["output"]
    assert output["boxes"] == [
        {"label": "b0", "score": 0.5, "note": None},
        {"label": "b1", "score": 0.5, "note": None},
    ]
    assert output["counts"] == {"a": 2}
    assert output["image"].startswith("data:") and output["image"].endswith(",aGk=")


COG_MODEL_PREDICT = """
import sys
from typing import Optional, TypedDict
from cog import BaseModel, BasePredictor
from typing_extensions import NotRequired

class Point(TypedDict):
    x: int
    y: NotRequired[Optional[int]]

class Report(BaseModel):
    text: str
    where: Point
    extra: Optional[str]
    n: int = 3
    pydantic_loaded: bool = False

class Predictor(BasePredictor):
    def predict(self, p: Point) -> Report:
        return Report(text="ok", where=p, extra=None, pydantic_loaded="pydantic" in sys.modules)

class Points(BasePredictor):
    def predict(self) -> list[Point]:
        return [{"x": 1, "y": None}, {"x": 2}]
"""


def test_cog_model_and_typeddict_outputs_and_no_pydantic_import(serve, tmp_path: Path) -> None:
    pytest.importorskip("typing_extensions")
    s = serve(COG_MODEL_PREDICT)
    schemas = s.get("/openapi.json")[1]["components"]["schemas"]
    point = {
        "type": "object",
        "properties": {
            "x": {"type": "integer", "title": "X"},
            "y": {"type": "integer", "nullable": True, "title": "Y"},
        },
        "required": ["x"],
    }
    assert schemas["Output"] == {
        "title": "Output",
        "type": "object",
        "properties": {
            "text": {"type": "string", "title": "Text"},
            "where": {**point, "title": "Where"},
            "extra": {"type": "string", "nullable": True, "title": "Extra"},
            "n": {"type": "integer", "title": "N"},
            "pydantic_loaded": {"type": "boolean", "title": "Pydantic Loaded"},
        },
        "required": ["text", "where"],
    }
    # a TypedDict input is a JSON object, as in Cog's schema
    assert schemas["Input"]["properties"]["p"] == {"type": "object", "title": "P", "x-order": 0}
    code, body = s.predict({"p": {"x": 1}})
    assert code == 200, body
    # the runtime imports no pydantic for a model that does not use it (pydantic is installed here)
    assert body["output"] == {
        "text": "ok",
        "where": {"x": 1},
        "extra": None,
        "n": 3,
        "pydantic_loaded": False,
    }

    s2 = serve(None, ref="predict.py:Points")
    out = s2.get("/openapi.json")[1]["components"]["schemas"]["Output"]
    assert out == {"title": "Output", "type": "array", "items": point}
    assert s2.predict()[1]["output"] == [{"x": 1, "y": None}, {"x": 2}]


# ---------------------------------------------------------------------------- user metrics

METRICS = """
from cog import BasePredictor, current_scope

class Predictor(BasePredictor):
    def predict(self, bad: str = "") -> str:
        scope = current_scope()
        scope.record_metric("timing.preprocess", 0.25)
        scope.record_metric("timing.inference", 1.5)
        scope.record_metric("tokens", 3, mode="incr")
        scope.record_metric("tokens", 4, mode="incr")
        scope.record_metric("seen", "a", mode="append")
        scope.record_metric("seen", "b", mode="append")
        scope.metrics["temp"] = 0.7
        scope.metrics["gone"] = 1
        del scope.metrics["gone"]
        scope.record_metric("a.b.c", True)
        scope.record_metric(key="kw", value=[1, 2])  # Cog's parameter names
        if bad == "reserved":
            scope.record_metric("predict_time", 1.0)
        if bad == "prefix":
            scope.record_metric("cog.gpu", 1)
        if bad == "name":
            scope.record_metric("foo__bar", 1)
        if bad == "depth":
            scope.record_metric("a.b.c.d.e", 1)
        if bad == "type":
            scope.record_metric("tokens", "many")
        if bad == "incr":
            scope.record_metric("label", "x", mode="incr")
        if bad == "mode":
            scope.record_metric("x", 1, mode="sum")
        if bad == "value":
            scope.record_metric("x", object())
        return "ok"
"""


def test_user_metrics_nest_accumulate_and_fail_as_in_cog(serve) -> None:
    s = serve(METRICS)
    code, body = s.predict()
    assert code == 200 and body["status"] == "succeeded", body
    metrics = body["metrics"]
    assert metrics["timing"] == {"preprocess": 0.25, "inference": 1.5}  # dot paths nest, as in Cog
    assert metrics["tokens"] == 7 and metrics["seen"] == ["a", "b"] and metrics["temp"] == 0.7
    assert metrics["a"] == {"b": {"c": True}} and "gone" not in metrics and metrics["kw"] == [1, 2]
    assert isinstance(metrics["predict_time"], float)

    cases = {
        "reserved": "'predict_time' is reserved by the runtime",
        "prefix": "the 'cog.' prefix is reserved for system metrics",
        "name": "metric name segment 'foo__bar' must not contain consecutive underscores",
        "depth": "metric name must have at most 4 dot-separated segments (got 5)",
        "type": "Metric 'tokens' has type int, cannot set to str without deleting first",
        "incr": "Increment mode requires int or float, got str",
        "mode": "Invalid metric mode: 'sum'. Expected 'replace', 'incr', or 'append'.",
        "value": "Unsupported metric value type: object. Expected bool, int, float, str, list, or dict.",
    }
    for bad, message in cases.items():
        code, body = s.predict({"bad": bad})
        assert code == 200 and body["status"] == "failed", (bad, body)
        assert body["error"] == message, (bad, body["error"])
        assert body["metrics"]["timing"] == {"preprocess": 0.25, "inference": 1.5}  # what was recorded stays


# ---------------------------------------------------------------------------- SSE

STREAMING = """
import os, sys, time
from typing import Iterator
from cog import BasePredictor, current_scope, streaming

class Predictor(BasePredictor):
    @streaming
    def predict(self, n: int = 3, wait: bool = False) -> Iterator[str]:
        for i in range(n):
            print("out", i)
            sys.stderr.write(f"err {i}\\n")
            sys.stderr.flush()
            current_scope().record_metric("count", 1, mode="incr")
            yield f"c{i}"
        while wait and not os.path.exists("go"):
            time.sleep(0.02)
        yield "end"

    def train(self, n: int = 1) -> str:
        return "trained"
"""

NOT_STREAMING = """
from typing import Iterator
from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self) -> Iterator[str]:
        yield "x"
"""


def test_sse_events_are_cogs(serve) -> None:
    s = serve(STREAMING)
    schema = s.get("/openapi.json")[1]
    assert schema["paths"]["/predictions"]["post"]["x-cog-streaming"] is True  # the opt-in, as Cog marks it
    conn, resp = sse_request(s.port, "POST", "/predictions", {"id": "p-sse", "input": {"n": 2}})
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    events = sse_events(resp.read().decode())
    conn.close()
    assert events[0] == ("start", {"id": "p-sse", "status": "processing"})
    assert [d for e, d in events if e == "output"] == [
        {"chunk": "c0", "index": 0},
        {"chunk": "c1", "index": 1},
        {"chunk": "end", "index": 2},
    ]
    logs = [d for e, d in events if e == "log"]
    assert set(logs[0]) == {"source", "data"}
    assert "".join(d["data"] for d in logs if d["source"] == "stdout") == "out 0\nout 1\n"
    assert "".join(d["data"] for d in logs if d["source"] == "stderr") == "err 0\nerr 1\n"
    assert {"name": "count", "value": 1, "mode": "increment"} in [d for e, d in events if e == "metric"]
    name, final = events[-1]
    assert name == "completed" and final["status"] == "succeeded" and final["metrics"]["count"] == 2
    assert final["output"] == ["c0", "c1", "end"]


def test_sse_refused_with_cogs_406(serve) -> None:
    s = serve(NOT_STREAMING)
    assert "x-cog-streaming" not in s.get("/openapi.json")[1]["paths"]["/predictions"]["post"]
    code, body = s.predict({}, headers={"Accept": "application/json, text/event-stream;q=0.9"})
    assert (code, body) == (
        406,
        {
            "error": "This model does not support streaming responses. "
            "Add @cog.streaming to predict() to enable SSE."
        },
    )
    s2 = serve(STREAMING, ref="predict.py:Predictor", env={"COG_TRAIN_TYPE_STUB": "predict.py:Predictor"})
    code, body = s2.post("/trainings", {"input": {}}, headers={"Accept": "text/event-stream"})
    assert (code, body) == (406, {"error": "Training endpoints do not support streaming responses."})


def _attach_after_outputs(s: Any, pid: str, n: int) -> None:
    code, _ = s.request(
        "PUT", f"/predictions/{pid}", {"input": {"n": n, "wait": True}}, headers={"Prefer": "respond-async"}
    )
    assert code == 202
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = s.get(f"/predictions/{pid}")[1]
        if isinstance(body.get("output"), list) and len(body["output"]) == n:
            return
        time.sleep(0.02)
    raise AssertionError(f"outputs never came: {body}")


def test_sse_history_replays_to_a_late_client(serve, tmp_path: Path) -> None:
    s = serve(STREAMING)
    _attach_after_outputs(s, "late", 3)
    conn, resp = sse_request(s.port, "PUT", "/predictions/late", {"input": {"n": 3, "wait": True}})
    assert resp.status == 200
    (tmp_path / "go").write_text("")  # the prediction ends after the client attached
    events = sse_events(resp.read().decode())
    conn.close()
    names = [e for e, _ in events]
    assert names[0] == "start" and names[-1] == "completed"  # the history, from the start
    assert [d["chunk"] for e, d in events if e == "output"] == ["c0", "c1", "c2", "end"]


def test_sse_history_capacity_truncation_is_an_error_event(serve, tmp_path: Path) -> None:
    s = serve(STREAMING, env={"COG_STREAM_HISTORY_CAPACITY": "2"})
    _attach_after_outputs(s, "lossy", 2)
    conn, resp = sse_request(s.port, "PUT", "/predictions/lossy", {"input": {"n": 2, "wait": True}})
    events = sse_events(resp.read().decode())
    conn.close()
    # start + 2 × (logs, metric, output) were published and only the last 2 kept: Cog's error event, and the end
    assert len(events) == 1 and events[0][0] == "error", events
    assert events[0][1]["error"] == "SSE stream replay truncated; events were dropped"
    assert events[0][1]["skipped"] >= 5
    (tmp_path / "go").write_text("")
    assert s.wait_prediction("lossy")["status"] == "succeeded"


# ---------------------------------------------------------------------------- healthcheck

HEALTH = """
import os, time
from cog import BasePredictor

class Predictor(BasePredictor):
    def healthcheck(self):
        if os.path.exists("false"):
            return False
        if os.path.exists("raise"):
            raise RuntimeError("gpu gone")
        if os.path.exists("hang"):
            time.sleep(30)
        return True

    def predict(self) -> str:
        return "x"
"""


def test_healthcheck_reasons_and_default_timeout_are_cogs(serve, tmp_path: Path) -> None:
    s = serve(HEALTH)
    assert s.health()["status"] == "READY"
    (tmp_path / "false").write_text("")
    body = s.health()
    assert body["status"] == "UNHEALTHY"
    assert body["user_healthcheck_error"] == "Healthcheck failed: user-defined healthcheck returned False"
    (tmp_path / "false").unlink()
    (tmp_path / "raise").write_text("")
    body = s.health()
    assert body["user_healthcheck_error"] == "Healthcheck failed: RuntimeError: gpu gone"
    (tmp_path / "raise").unlink()
    (tmp_path / "hang").write_text("")
    body = s.health()  # answered once Cog's 5 s limit has passed
    assert body["status"] == "UNHEALTHY"
    assert body["user_healthcheck_error"] == (
        "Healthcheck failed: user-defined healthcheck timed out after 5.0 seconds"
    )


# ---------------------------------------------------------------------------- lifecycle lines

LIFECYCLE = """
from cog import BasePredictor

class Predictor(BasePredictor):
    def setup(self):
        print("loading weights")

    def predict(self, x: int = 1) -> int:
        if x < 0:
            raise ValueError("negative")
        return x
"""


def test_lifecycle_log_lines_are_cogs(serve) -> None:
    s = serve(LIFECYCLE)
    ok = s.predict({"x": 2})[1]
    bad = s.predict({"x": -1})[1]
    s.post("/shutdown")
    s.proc.wait(20)
    logs = s.logs()
    expected = [
        "python sdk ",
        "Using subprocess isolation predictor_ref=predict.py:Predictor is_train=false",
        "Spawning worker subprocess",
        "Loading predictor predictor_ref=predict.py:Predictor",
        "Running setup",
        "loading weights",
        "Setup complete\n",
        'Server ready num_slots=1 mode="predict"',
        "Setup complete, now accepting requests",
        f"Starting prediction prediction_id={ok['id']}",
        f"Prediction succeeded prediction_id={ok['id']} predict_time=",
        f"Starting prediction prediction_id={bad['id']}",
        f"Prediction failed prediction_id={bad['id']} error=negative",
        "Shutdown requested via /shutdown endpoint...",
        "Server shutdown complete",
    ]
    at = 0
    for text in expected:  # each line, in Cog's order
        found = logs.find(text, at)
        assert found >= 0, f"{text!r} not after offset {at}:\n{logs}"
        at = found + len(text)
    assert re.search(r"Starting coglet server on 127\.0\.0\.1:\d+", logs)
