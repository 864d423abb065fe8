"""The Playground's schema → form core, on schemas made by the real runtime (`cog.schema`) from predictors,
plus hand-written corner cases (Cog's enum forms, anyOf with null, references that point nowhere)."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from cog.schema import openapi_schema
from cogpin.hub.web.form import Field, FormError, fields, initial_values, output_display, resolve

PREDICTOR = """
from typing import Optional, Iterator
from cog import BasePredictor, ConcatenateIterator, Input, Path, Secret

class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str = Input(description="What to draw"),
        steps: int = Input(default=20, ge=1, le=50, description="Denoising steps"),
        guidance: float = Input(default=0.75, ge=0.0, le=1.0),
        seed: Optional[int] = Input(default=None, description="Random seed"),
        weight: float = Input(default=1.5),
        sharpen: bool = Input(default=False, description="Sharpen the result"),
        scheduler: str = Input(default="ddim", choices=["ddim", "euler", "pndm"]),
        size: int = Input(default=512, choices=[256, 512]),
        api_key: Secret = Input(description="A key"),
        image: Path = Input(description="Start image", default=None),
        masks: list[Path] = Input(description="Masks", default=None),
        tags: list[str] = Input(description="Tags", default=["a", "b"]),
        extra: dict = Input(description="Extra options", default=None),
        short: str = Input(default="x", max_length=40, description="A short one"),
        code: str = Input(default="AB12", regex="^[A-Z]{2}[0-9]{2}$"),
    ) -> RET:
        BODY
"""


def schema_of(ret: str = "str", body: str = 'return ""') -> dict[str, Any]:
    ns: dict[str, Any] = {}
    exec(textwrap.dedent(PREDICTOR.replace("RET", ret).replace("BODY", body)), ns)
    return openapi_schema(ns["Predictor"].predict)


def by_name(form: list[Field]) -> dict[str, Field]:
    return {f.name: f for f in form}


def test_fields_come_in_x_order_with_the_widget_for_each_type() -> None:
    form = fields(schema_of())
    assert [f.name for f in form] == [
        "prompt", "steps", "guidance", "seed", "weight", "sharpen", "scheduler", "size", "api_key",
        "image", "masks", "tags", "extra", "short", "code",
    ]  # fmt: skip
    widgets = {f.name: f.widget for f in form}
    assert widgets == {
        "prompt": "textarea",
        "steps": "slider",
        "guidance": "slider",
        "seed": "number",
        "weight": "number",
        "sharpen": "checkbox",
        "scheduler": "select",
        "size": "select",
        "api_key": "password",
        "image": "file",
        "masks": "list",
        "tags": "list",
        "extra": "json",
        "short": "text",
        "code": "text",
    }


def test_required_marks_defaults_and_limits() -> None:
    f = by_name(fields(schema_of()))
    assert f["prompt"].required and f["api_key"].required
    assert not f["steps"].required and f["steps"].default == 20 and f["steps"].has_default
    assert (f["steps"].minimum, f["steps"].maximum, f["steps"].step) == (1, 50, "1")
    assert f["guidance"].step == "0.01"  # a slider over [0, 1] moves by hundredths
    assert f["weight"].step == "any"
    assert f["steps"].hints == ["default: 20", "min: 1", "max: 50"]
    assert f["short"].hints == ["default: x", "max chars: 40"]
    assert f["code"].pattern == "^[A-Z]{2}[0-9]{2}$"
    assert f["prompt"].description == "What to draw"
    assert f["seed"].has_default is False  # Cog writes no default for None
    assert f["steps"].kind == "integer" and f["guidance"].kind == "number" and f["sharpen"].kind == "boolean"
    assert f["extra"].kind == "json" and f["prompt"].kind == "string"


def test_enums_through_allof_refs_keep_their_values_and_type() -> None:
    f = by_name(fields(schema_of()))
    assert f["scheduler"].choices == ("ddim", "euler", "pndm") and f["scheduler"].default == "ddim"
    assert f["size"].choices == (256, 512) and f["size"].kind == "integer"
    assert "allOf" not in f["size"].schema and f["size"].schema["enum"] == [256, 512]


def test_list_inputs_get_rows_of_their_item_widget() -> None:
    f = by_name(fields(schema_of()))
    assert f["masks"].item is not None and f["masks"].item.widget == "file"
    assert f["tags"].item is not None and f["tags"].item.widget == "text"  # one line per row
    assert f["tags"].item.title == "Tags, one item"
    assert f["tags"].default == ["a", "b"]


def test_the_schema_handed_to_the_browser_has_no_references_left() -> None:
    for f in fields(schema_of()):
        assert "$ref" not in repr(f.schema), f.name


def test_initial_values_prefer_the_given_input_then_the_default() -> None:
    form = fields(schema_of())
    assert initial_values(form) == {
        "steps": 20, "guidance": 0.75, "weight": 1.5, "sharpen": False, "scheduler": "ddim", "size": 512,
        "tags": ["a", "b"], "short": "x", "code": "AB12",
    }  # fmt: skip
    again = initial_values(form, {"prompt": "a cat", "steps": 5, "unknown": 1})
    assert again["prompt"] == "a cat" and again["steps"] == 5 and "unknown" not in again


@pytest.mark.parametrize(
    ("ret", "body", "expected"),
    [
        ("str", 'return ""', {"iterator": False, "concatenate": False, "file": False, "list": False}),
        ("Path", 'return Path("x")', {"iterator": False, "concatenate": False, "file": True, "list": False}),
        ("list[Path]", "return []", {"iterator": False, "concatenate": False, "file": True, "list": True}),
        ("Iterator[str]", 'yield ""', {"iterator": True, "concatenate": False, "file": False, "list": True}),
        (
            "ConcatenateIterator[str]",
            'yield ""',
            {"iterator": True, "concatenate": True, "file": False, "list": True},
        ),
        (
            "Iterator[Path]",
            'yield Path("x")',
            {"iterator": True, "concatenate": False, "file": True, "list": True},
        ),
    ],
)
def test_output_display_follows_the_output_schema(ret: str, body: str, expected: dict[str, bool]) -> None:
    assert output_display(schema_of(ret, body)) == expected


def test_anyof_with_null_becomes_the_other_branch_nullable() -> None:
    comps = {"Input": {"properties": {"x": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}}}}
    (f,) = fields({"components": {"schemas": comps}})
    assert f.widget == "number" and f.nullable and f.minimum == 0 and "anyOf" not in f.schema


def test_unordered_properties_come_last_by_name() -> None:
    props = {"b": {"type": "string"}, "a": {"type": "string"}, "z": {"type": "string", "x-order": 0}}
    form = fields({"components": {"schemas": {"Input": {"properties": props}}}})
    assert [f.name for f in form] == ["z", "a", "b"]
    assert form[1].title == "A"


def test_a_missing_input_or_a_dangling_reference_is_a_clear_form_error() -> None:
    with pytest.raises(FormError, match="no components.schemas.Input"):
        fields({"components": {"schemas": {}}})
    bad = {"Input": {"properties": {"x": {"allOf": [{"$ref": "#/components/schemas/Nope"}]}}}}
    with pytest.raises(FormError, match="points nowhere"):
        fields({"components": {"schemas": bad}})
    loop = {
        "Input": {"properties": {"x": {"$ref": "#/components/schemas/A"}}},
        "A": {"$ref": "#/components/schemas/A"},
    }
    with pytest.raises(FormError, match="circular"):
        resolve(loop["Input"]["properties"]["x"], loop)


def test_a_model_without_inputs_has_an_empty_form() -> None:
    ns: dict[str, Any] = {}
    exec(
        "from cog import BasePredictor\nclass P(BasePredictor):\n    def predict(self) -> str:\n        return ''\n",
        ns,
    )
    assert fields(openapi_schema(ns["P"].predict)) == []
