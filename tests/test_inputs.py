"""`-i name=value` / `--json` parsing against a Cog-shaped OpenAPI schema (no engine)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cogpin.errors import CogpinError
from cogpin.inputs import InputError, load_json_arg, parse

# What the runtime's `python -m cog.command.openapi_schema` gives for
#   predict(s: str, n: int = Input(1, ge=0, le=10), x: float = 0.5, flag: bool = False,
#           words: list[str] = None, image: Path = None, mode: str = Input("a", choices=["a", "b"]),
#           lit: Literal[1, 2] = 1, opt: Optional[int] = None, pat: str = Input("ab", regex="^a"),
#           files: list[Path] = None) -> Path
SCHEMA = {
    "components": {
        "schemas": json.loads(
            """{"Input": {"title": "Input", "type": "object", "properties": {"s": {"type": "string", "title": "S", "x-order": 0}, "n": {"type": "integer", "title": "N", "x-order": 1, "default": 1, "minimum": 0, "maximum": 10}, "x": {"type": "number", "title": "X", "x-order": 2, "default": 0.5}, "flag": {"type": "boolean", "title": "Flag", "x-order": 3, "default": false}, "words": {"type": "array", "items": {"type": "string"}, "title": "Words", "x-order": 4}, "image": {"type": "string", "format": "uri", "title": "Image", "x-order": 5}, "mode": {"allOf": [{"$ref": "#/components/schemas/mode"}], "title": "Mode", "x-order": 6, "default": "a"}, "lit": {"allOf": [{"$ref": "#/components/schemas/lit"}], "title": "Lit", "x-order": 7, "default": 1}, "opt": {"type": "integer", "nullable": true, "title": "Opt", "x-order": 8}, "pat": {"type": "string", "title": "Pat", "x-order": 9, "default": "ab", "pattern": "^a"}, "files": {"type": "array", "items": {"type": "string", "format": "uri"}, "title": "Files", "x-order": 10}}, "required": ["s"]}, "mode": {"title": "mode", "description": "An enumeration.", "enum": ["a", "b"], "type": "string"}, "lit": {"title": "lit", "description": "An enumeration.", "enum": [1, 2], "type": "integer"}, "Output": {"type": "string", "format": "uri", "title": "Output"}}"""
        )
    }
}


def errors(pairs, json_inputs=None):
    with pytest.raises(InputError) as e:
        parse(pairs, SCHEMA, json_inputs)
    return e.value.lines


def test_coercion_by_type():
    got = parse(["s=hi", "n=3", "x=2", "flag=true", "mode=b", "lit=2", "opt=7", "pat=abc"], SCHEMA).values
    assert got == {"s": "hi", "n": 3, "x": 2.0, "flag": True, "mode": "b", "lit": 2, "opt": 7, "pat": "abc"}
    assert isinstance(got["x"], float)


@pytest.mark.parametrize("raw,want", [("TRUE", True), ("yes", True), ("0", False), ("false", False)])
def test_booleans(raw, want):
    assert parse(["s=a", f"flag={raw}"], SCHEMA).values["flag"] is want


def test_value_keeps_equals_signs_and_spaces():
    assert parse(["s=a=b c"], SCHEMA).values["s"] == "a=b c"


def test_repeated_name_makes_a_list_and_single_value_a_list_of_one():
    assert parse(["s=a", "words=x", "words=y"], SCHEMA).values["words"] == ["x", "y"]
    assert parse(["s=a", "words=x"], SCHEMA).values["words"] == ["x"]


def test_file_becomes_a_data_url_and_is_remembered(tmp_path: Path):
    img = tmp_path / "in.png"
    img.write_bytes(b"\x89PNG fake")
    parsed = parse(["s=a", f"image=@{img}", f"files=@{img}", f"files=@{img}"], SCHEMA)
    assert parsed.values["image"] == "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    assert len(parsed.values["files"]) == 2
    assert img.resolve() in parsed.files


def test_urls_pass_through_for_files():
    assert (
        parse(["s=a", "image=https://example.com/x.jpg"], SCHEMA).values["image"]
        == "https://example.com/x.jpg"
    )


def test_at_path_for_a_string_input_sends_the_text(tmp_path: Path):
    f = tmp_path / "prompt.txt"
    f.write_text("a long prompt")
    assert parse([f"s=@{f}"], SCHEMA).values["s"] == "a long prompt"


def test_one_line_per_problem():
    lines = errors(["wrong=1", "n=abc", "x=big", "flag=maybe", "mode=c", "n=5"])
    assert 'unknown input "wrong"' in lines
    assert 'missing required input "s"' in lines
    assert 'input "x" must be a number, got "big"' in lines
    assert 'input "flag" must be true or false, got "maybe"' in lines
    assert 'input "mode" must be one of a, b; got "c"' in lines
    assert 'input "n" takes one value, got 2' in lines
    assert all("\n" not in line for line in lines)


def test_range_pattern_and_enum():
    assert errors(["s=a", "n=11"]) == ['input "n" must be <= 10, got 11']
    assert errors(["s=a", "n=-1"]) == ['input "n" must be >= 0, got -1']
    assert errors(["s=a", "n=1.5"]) == ['input "n" must be an integer, got "1.5"']
    assert errors(["s=a", "pat=xyz"]) == ['input "pat" must match the pattern ^a, got "xyz"']
    assert errors(["s=a", "lit=3"]) == ['input "lit" must be one of 1, 2; got 3']


def test_missing_file_and_file_without_at(tmp_path: Path):
    assert errors(["s=a", f"image=@{tmp_path}/nope.jpg"]) == [
        f'input "image": file {tmp_path}/nope.jpg not found'
    ]
    assert errors(["s=a", "image=input.jpg"]) == [
        'input "image" is a file: use image=@PATH (or a URL), got "input.jpg"'
    ]


def test_malformed_pair():
    assert 'input "oops" is not NAME=VALUE' in errors(["oops"])


def test_hint_lists_the_inputs():
    with pytest.raises(InputError) as e:
        parse(["wrong=1"], SCHEMA)
    assert e.value.hint is not None
    assert "s (str, required)" in e.value.hint and "image (file)" in e.value.hint


def test_json_inputs_are_type_checked_not_coerced(tmp_path: Path):
    assert parse([], SCHEMA, {"s": "a", "n": 2, "x": 1}).values == {"s": "a", "n": 2, "x": 1}
    assert errors([], {"s": "a", "n": "2"}) == ['input "n" must be an integer, got "2"']
    assert errors([], {"s": 1}) == ['input "s" must be a string, got 1']
    assert errors([], {"s": "a", "bogus": 1}) == ['unknown input "bogus"']
    img = tmp_path / "a.jpg"
    img.write_bytes(b"jpg")
    assert (
        parse([], SCHEMA, {"s": "a", "image": f"@{img}"})
        .values["image"]
        .startswith("data:image/jpeg;base64,")
    )


def test_flags_override_json():
    assert parse(["s=flag"], SCHEMA, {"s": "json"}).values == {"s": "flag"}


def test_no_schema_sends_strings():
    assert parse(["a=1", "a=2", "b=x"], None).values == {"a": ["1", "2"], "b": "x"}


def test_load_json_arg(tmp_path: Path, monkeypatch):
    assert load_json_arg('{"s": "x"}') == {"s": "x"}
    f = tmp_path / "in.json"
    f.write_text('{"input": {"s": "y"}}')
    assert load_json_arg(f"@{f}") == {"s": "y"}
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO('{"s": "z"}'))
    assert load_json_arg("@-") == {"s": "z"}
    with pytest.raises(CogpinError, match="not valid JSON"):
        load_json_arg("{nope")
    with pytest.raises(CogpinError, match="must be a JSON object"):
        load_json_arg("[1]")
