"""Writing prediction outputs: files, lists of files, concatenated text, strings, JSON (no engine)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cogpin.errors import CogpinError
from cogpin.outputs import OutputWriter, decode_data_url


def url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def writer(tmp_path: Path, out=None, protected=()):
    printed: list[str] = []
    notes: list[str] = []
    w = OutputWriter(out, protected, cwd=tmp_path, echo=printed.append, note=notes.append)
    return w, printed, notes


def test_file_output_written_as_output_ext(tmp_path: Path):
    w, printed, notes = writer(tmp_path)
    w.write(url("image/png", b"PNG"))
    assert (tmp_path / "output.png").read_bytes() == b"PNG"
    assert printed == [] and notes == ["Written output to: output.png"]


def test_jpeg_gets_jpg(tmp_path: Path):
    w, _, _ = writer(tmp_path)
    w.write(url("image/jpeg", b"J"))
    assert (tmp_path / "output.jpg").exists()


def test_list_of_files(tmp_path: Path):
    w, _, _ = writer(tmp_path)
    w.write([url("image/png", b"0"), url("image/png", b"1")])
    assert (tmp_path / "output.0.png").read_bytes() == b"0"
    assert (tmp_path / "output.1.png").read_bytes() == b"1"


def test_never_overwrites_an_input(tmp_path: Path):
    inp = tmp_path / "output.png"
    inp.write_bytes(b"INPUT")
    w, _, _ = writer(tmp_path, protected=[inp])
    w.write(url("image/png", b"NEW"))
    assert inp.read_bytes() == b"INPUT"
    assert (tmp_path / "output-2.png").read_bytes() == b"NEW"
    w2, _, _ = writer(tmp_path, out=str(inp), protected=[inp])
    with pytest.raises(CogpinError, match="overwrite an input"):
        w2.write(url("image/png", b"NEW"))


def test_dash_o_path_and_list_naming(tmp_path: Path):
    w, _, _ = writer(tmp_path, out="up.png")
    w.write(url("image/png", b"x"))
    assert (tmp_path / "up.png").read_bytes() == b"x"
    w, _, _ = writer(tmp_path, out="frames.png")
    w.write([url("image/png", b"a"), url("image/png", b"b")])
    assert (tmp_path / "frames.0.png").exists() and (tmp_path / "frames.1.png").exists()
    w, _, _ = writer(tmp_path, out="outdir/")
    w.write(url("text/plain", b"t"))
    assert (tmp_path / "outdir" / "output.txt").read_bytes() == b"t"


def test_strings_printed_concatenate_joined_rest_json(tmp_path: Path):
    w, printed, _ = writer(tmp_path)
    w.write("hello world")
    concat = {"components": {"schemas": {"Output": {"type": "array", "x-cog-array-display": "concatenate"}}}}
    w.write(["hel", "lo"], concat)
    w.write(["a", "b"])
    w.write({"k": 1})
    w.write(3)
    assert printed[0] == "hello world"
    assert printed[1] == "hello"
    assert json.loads(printed[2]) == ["a", "b"]
    assert json.loads(printed[3]) == {"k": 1}
    assert printed[4] == "3"


def test_string_with_dash_o_goes_to_the_file(tmp_path: Path):
    w, printed, _ = writer(tmp_path, out="out.txt")
    w.write("hi")
    assert printed == [] and (tmp_path / "out.txt").read_text() == "hi\n"


def test_whole_prediction_json(tmp_path: Path):
    w, printed, _ = writer(tmp_path)
    w.write_prediction({"status": "succeeded", "output": "x"})
    assert json.loads(printed[0])["output"] == "x"


def test_decode_plain_data_url():
    assert decode_data_url("data:text/plain,hello%20there") == ("text/plain", b"hello there")
    assert decode_data_url(url("image/png", b"\x00\x01")) == ("image/png", b"\x00\x01")


def test_object_output_with_files(tmp_path: Path):
    w, printed, _ = writer(tmp_path)
    w.write({"mask": url("image/png", b"M"), "score": 0.5})
    assert (tmp_path / "output.mask.png").read_bytes() == b"M"
    assert json.loads(printed[0]) == {"mask": "output.mask.png", "score": 0.5}
