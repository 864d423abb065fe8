"""The OpenAPI schema: a table of input/output types, and the schema command."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cogrt import runtime_env, write

# (annotation and default as written in a predictor, the expected property subset)
INPUT_CASES = [
    ("x: str", {"type": "string", "title": "X", "x-order": 0}),
    ("x: int = 3", {"type": "integer", "default": 3}),
    (
        "x: float = Input(default=0.5, ge=0, le=1)",
        {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
    ),
    ("x: bool = False", {"type": "boolean", "default": False}),
    (
        "x: str = Input(min_length=2, max_length=5, regex='^a')",
        {"minLength": 2, "maxLength": 5, "pattern": "^a"},
    ),
    ("x: Path", {"type": "string", "format": "uri"}),
    ("x: File", {"type": "string", "format": "uri"}),
    ("x: Secret", {"type": "string", "format": "password", "x-cog-secret": True, "writeOnly": True}),
    ("x: List[str]", {"type": "array", "items": {"type": "string"}}),
    ("x: list[Path]", {"type": "array", "items": {"type": "string", "format": "uri"}}),
    ("x: Optional[str] = None", {"type": "string", "nullable": True}),
    ("x: Optional[Path]", {"type": "string", "format": "uri", "nullable": True}),
    ("x: str | None = None", {"type": "string", "nullable": True}),
    ("x: Union[str, int]", {"anyOf": [{"type": "string"}, {"type": "integer"}]}),
    ("x: dict = {}", {"type": "object"}),
    ("x: Dict[str, Any] = {}", {"type": "object"}),
    ("x: Any = None", {"type": "object"}),
    ("x: str = Input(description='d', deprecated=True)", {"description": "d", "deprecated": True}),
    ("x: Path = Input(accept='image/*,.png')", {"x-cog-accept": "image/*,.png"}),
    (
        "x: str = Input(choices=['a', 'b'], default='a')",
        {"allOf": [{"$ref": "#/components/schemas/x"}], "default": "a"},
    ),
    ("x: Literal['a', 'b'] = 'b'", {"allOf": [{"$ref": "#/components/schemas/x"}], "default": "b"}),
    ("x: int = Input(choices=[1, 2])", {"allOf": [{"$ref": "#/components/schemas/x"}]}),
]

OUTPUT_CASES = [
    ("str", {"type": "string", "title": "Output"}),
    ("int", {"type": "integer"}),
    ("Path", {"type": "string", "format": "uri"}),
    ("List[Path]", {"type": "array", "items": {"type": "string", "format": "uri"}}),
    ("dict", {"type": "object"}),
    ("Iterator[str]", {"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator"}),
    ("AsyncIterator[int]", {"type": "array", "items": {"type": "integer"}, "x-cog-array-type": "iterator"}),
    (
        "ConcatenateIterator[str]",
        {"type": "array", "x-cog-array-type": "iterator", "x-cog-array-display": "concatenate"},
    ),
    ("AsyncConcatenateIterator[str]", {"x-cog-array-display": "concatenate"}),
    (
        "Out",
        {
            "type": "object",
            "properties": {
                "text": {"type": "string", "title": "Text"},
                "score": {"type": "number", "title": "Score"},  # no default: Cog renders none for a field
            },
            "required": ["text"],
        },
    ),
]

HEADER = """\
from __future__ import annotations
from typing import Any, AsyncIterator, Dict, Iterator, List, Literal, Optional, Union
from cog import (AsyncConcatenateIterator, BaseModel, BasePredictor, ConcatenateIterator, File, Input, Path,
                 Secret)

class Out(BaseModel):
    text: str
    score: float = 1.0
"""


def schema_of(folder: Path, source: str, python: str = sys.executable) -> dict:
    write(folder, "predict.py", source)
    proc = subprocess.run(
        [python, "-m", "cog.command.openapi_schema"],
        cwd=folder,
        env=runtime_env({"COG_PREDICT_TYPE_STUB": "predict.py:Predictor"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def in_process_schema(source: str) -> dict:
    namespace: dict = {}
    exec(compile(textwrap.dedent(source), "<predictor>", "exec"), namespace)  # noqa: S102
    from cog.schema import openapi_schema

    return openapi_schema(namespace["Predictor"].predict)


def subset(actual: dict, expected: dict) -> bool:
    return all(k in actual and actual[k] == v for k, v in expected.items())


@pytest.mark.parametrize(("param", "expected"), INPUT_CASES, ids=[c[0] for c in INPUT_CASES])
def test_input_types(param: str, expected: dict) -> None:
    source = (
        HEADER
        + f"\nclass Predictor(BasePredictor):\n    def predict(self, {param}) -> str:\n        return ''\n"
    )
    schema = in_process_schema(source)["components"]["schemas"]
    prop = schema["Input"]["properties"]["x"]
    assert subset(prop, expected), prop
    if "allOf" in expected:
        assert schema["x"]["description"] == "An enumeration." and schema["x"]["enum"]


@pytest.mark.parametrize(("ret", "expected"), OUTPUT_CASES, ids=[c[0] for c in OUTPUT_CASES])
def test_output_types(ret: str, expected: dict) -> None:
    body = "yield ''" if "Iterator" in ret else "return None"
    source = HEADER + f"\nclass Predictor(BasePredictor):\n    def predict(self) -> {ret}:\n        {body}\n"
    out = in_process_schema(source)["components"]["schemas"]["Output"]
    assert out["title"] == "Output"
    assert subset(out, expected), out


def test_required_and_order() -> None:
    source = HEADER + textwrap.dedent("""
        class Predictor(BasePredictor):
            def predict(self, b: str, a: int = 1, c: Path = Input(description="c")) -> str:
                return ""
        """)
    inp = in_process_schema(source)["components"]["schemas"]["Input"]
    assert inp["required"] == ["b", "c"]
    assert [inp["properties"][k]["x-order"] for k in ("b", "a", "c")] == [0, 1, 2]


def test_components_like_cog(tmp_path: Path) -> None:
    schema = schema_of(
        tmp_path,
        HEADER
        + "\nclass Predictor(BasePredictor):\n    def predict(self, s: str) -> str:\n        return s\n",
    )
    components = schema["components"]["schemas"]
    for name in (
        "Input",
        "Output",
        "PredictionRequest",
        "PredictionResponse",
        "Status",
        "HTTPValidationError",
        "ValidationError",
    ):
        assert name in components
    assert components["Status"]["enum"] == ["starting", "processing", "succeeded", "canceled", "failed"]
    assert schema["openapi"].startswith("3.")
    assert "/predictions" in schema["paths"] and "/trainings" not in schema["paths"]


def test_training_components(tmp_path: Path) -> None:
    write(
        tmp_path,
        "train.py",
        "from cog import Input\ndef train(steps: int = Input(default=2, ge=1)) -> str:\n    return 'ok'\n",
    )
    write(tmp_path, "predict.py", "def predict(s: str) -> str:\n    return s\n")
    proc = subprocess.run(
        [sys.executable, "-m", "cog.command.openapi_schema"],
        cwd=tmp_path,
        env=runtime_env(
            {"COG_PREDICT_TYPE_STUB": "predict.py:predict", "COG_TRAIN_TYPE_STUB": "train.py:train"}
        ),
        capture_output=True,
        text=True,
    )
    components = json.loads(proc.stdout)["components"]["schemas"]
    assert components["TrainingInput"]["properties"]["steps"]["minimum"] == 1
    for name in ("TrainingOutput", "TrainingRequest", "TrainingResponse"):
        assert name in components


def test_schema_command_reads_cog_yaml(tmp_path: Path) -> None:
    write(tmp_path, "cog.yaml", 'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n')
    write(
        tmp_path,
        "predict.py",
        "from cog import BasePredictor\nclass Predictor(BasePredictor):\n    def predict(self, n: int) -> int:\n        return n\n",
    )
    env = runtime_env()
    env.pop("COG_PREDICT_TYPE_STUB", None)
    proc = subprocess.run(
        [sys.executable, "-m", "cog.command.openapi_schema"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["components"]["schemas"]["Input"]["properties"]["n"]["type"] == "integer"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            "from cog import BasePredictor\nclass Predictor(BasePredictor):\n    def predict(self, x: set) -> str:\n        return ''\n",
            "unsupported type",
        ),
        (
            "from cog import BasePredictor\nclass Other(BasePredictor):\n    pass\n",
            "has no attribute 'Predictor'",
        ),
        ("raise ImportError('boom')\n", "boom"),
        ("def Predictor(x) -> str:\n    return x\n", "no type annotation"),
    ],
    ids=["unsupported-type", "missing-name", "import-error", "unannotated"],
)
def test_schema_command_rejects_invalid_predictor(tmp_path: Path, source: str, reason: str) -> None:
    write(tmp_path, "predict.py", source)
    proc = subprocess.run(
        [sys.executable, "-m", "cog.command.openapi_schema"],
        cwd=tmp_path,
        env=runtime_env({"COG_PREDICT_TYPE_STUB": "predict.py:Predictor"}),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert reason in proc.stderr
    assert proc.stdout == ""


def test_schema_command_equals_server_schema(tmp_path: Path, serve) -> None:
    source = HEADER + textwrap.dedent("""
        class Predictor(BasePredictor):
            def predict(self, s: str = Input(choices=["a", "b"]), n: int = Input(default=1, ge=0, le=9),
                        p: Optional[Path] = None) -> Iterator[str]:
                yield s
        """)
    built = schema_of(tmp_path, source)
    server = serve(None)
    assert server.get("/openapi.json") == (200, built)


PY39 = Path("/root/.pyenv/versions/3.9.18/bin/python")


@pytest.mark.skipif(not PY39.exists(), reason="no Python 3.9 on this machine")
def test_schema_on_python39_with_pep604_annotations(tmp_path: Path) -> None:
    source = HEADER + textwrap.dedent("""
        class Predictor(BasePredictor):
            def predict(self, s: str | None = None, xs: list[int] = Input(default=[1]), p: Path | None = None) -> str:
                return ""
        """)
    props = schema_of(tmp_path, source, python=str(PY39))["components"]["schemas"]["Input"]["properties"]
    assert props["s"]["nullable"] is True and props["xs"]["items"] == {"type": "integer"}
    assert props["p"]["format"] == "uri"
