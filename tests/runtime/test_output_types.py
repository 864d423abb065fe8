"""A prediction whose output does not match its declared type fails with an error naming the type."""

from __future__ import annotations

from pathlib import Path

import pytest
from cogrt import CogServer, write

SOURCE = """
import os, tempfile
from typing import Any, Iterator, Optional
from cog import BaseModel, BasePredictor, Input, Path

class Out(BaseModel):
    a: int

class Predictor(BasePredictor):
    def predict(self, kind: str = "none-path") -> Any:
        raise AssertionError("replaced per test")

def none_path() -> Path:
    return None

def optional_path() -> Optional[Path]:
    return None

def str_for_int() -> int:
    return "twelve"

def list_for_str() -> str:
    return ["a", "b"]

def good_float() -> float:
    return 3

def missing_file() -> Path:
    return Path("/nonexistent/out.png")

def path_string() -> Path:
    path = os.path.join(tempfile.mkdtemp(), "out.txt")
    with open(path, "w") as f:
        f.write("hi")
    return path

def bad_item() -> list[int]:
    return [1, 2, "three"]

def bad_yield() -> Iterator[str]:
    yield "a"
    yield None

def model_none() -> Out:
    return None

async def async_none() -> str:
    return None

def untyped():
    return None
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):

    d = tmp_path_factory.mktemp("out")
    write(d, "predict.py", SOURCE)
    return d


@pytest.fixture
def server_for(folder):

    started = []

    def start(fn: str) -> CogServer:
        s = CogServer(folder, f"predict.py:{fn}")
        started.append(s)
        s.wait_status("READY")
        return s

    yield start
    for s in started:
        s.stop()


@pytest.mark.parametrize(
    ("fn", "declared", "got"),
    [
        ("none_path", "Path", "returned None"),
        ("str_for_int", "int", "returned str 'twelve'"),
        ("list_for_str", "str", "returned list"),
        ("missing_file", "Path", "no file at '/nonexistent/out.png'"),
        ("bad_item", "list[int]", "item 2 is str 'three'"),
        ("bad_yield", "str", "output item 1"),
        ("model_none", "Out", "returned None"),
        ("async_none", "str", "returned None"),
    ],
)
def test_mismatched_output_fails_naming_the_type(server_for, fn, declared, got) -> None:
    s = server_for(fn)
    code, body = s.predict({})
    assert code == 200
    assert body["status"] == "failed", body
    assert f"does not match the declared output type {declared}" in body["error"]
    assert got in body["error"]
    assert body["error"] in body["logs"]  # also in the prediction's logs, without a traceback
    assert "Traceback" not in body["logs"]
    # the server is fine afterwards
    assert s.health()["status"] == "READY"


@pytest.mark.parametrize(
    ("fn", "check"),
    [
        ("optional_path", lambda out: out is None),
        ("good_float", lambda out: out == 3),
        ("path_string", lambda out: out == "data:text/plain;base64,aGk="),
        ("untyped", lambda out: out is None),
    ],
)
def test_matching_output_succeeds(server_for, fn, check) -> None:
    s = server_for(fn)
    code, body = s.predict({})
    assert body["status"] == "succeeded", body
    assert check(body["output"])


STARTER = Path(__file__).resolve().parents[2] / "src" / "cogpin" / "scaffold" / "predict.py"


def test_cog_init_starter_fails_clearly_until_it_returns_a_path(tmp_path) -> None:
    """`cog init`'s predict.py (Cog's starter, whose predict body is all comments) returns None for
    `-> Path`: that is a failed prediction naming the type, not `succeeded` with no output."""
    write(tmp_path, "predict.py", STARTER.read_text())
    s = CogServer(tmp_path, "predict.py:Predictor")
    try:
        s.wait_status("READY")
        code, body = s.predict({"image": "data:image/png;base64,iVBORw0KGgo="})
        assert code == 200
        assert body["status"] == "failed"
        assert body["output"] is None
        assert "does not match the declared output type Path: predict() returned None" in body["error"]
    finally:
        s.stop()
