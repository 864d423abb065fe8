"""A prediction's output on the user's side: files written, strings printed, the rest printed as JSON.

- A file output (``data:<mime>;base64,…``) is written to ``output.<ext>`` (or ``-o PATH``); a list of files
  to ``output.<i>.<ext>`` (or ``PATH-stem.<i>.<ext>``). A file sent as an input is never overwritten: the
  name gets a ``-2``, ``-3``… suffix instead.
- ``ConcatenateIterator`` text (``x-cog-array-display: concatenate``) is joined and printed.
- A string is printed as is; anything else as indented JSON. With ``-o`` these are written to the file.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from cogpin.errors import CogpinError

_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(;[^;,]*)*?)(?P<b64>;base64)?,", re.S)

# extensions mimetypes gets wrong or leaves out
_EXT = {
    "image/jpeg": ".jpg",
    "text/plain": ".txt",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "application/octet-stream": ".bin",
    "image/webp": ".webp",
}


def is_data_url(value: Any) -> bool:
    return isinstance(value, str) and bool(_DATA_URL.match(value))


def decode_data_url(url: str) -> tuple[str, bytes]:
    """``data:`` URL → (mime type, bytes)."""
    m = _DATA_URL.match(url)
    if not m:
        raise CogpinError("the model returned a malformed data URL")
    body = url[m.end() :]
    mime = m.group("mime") or "text/plain"
    try:
        data = base64.b64decode(body) if m.group("b64") else urllib.parse.unquote_to_bytes(body)
    except (binascii.Error, ValueError) as e:
        raise CogpinError(f"the model returned a data URL that does not decode: {e}") from None
    return mime, data


def extension_for(mime: str) -> str:
    mime = mime.lower()
    return _EXT.get(mime) or mimetypes.guess_extension(mime) or ".bin"


def output_schema(schema: Mapping[str, Any] | None, component: str = "Output") -> dict[str, Any]:
    if not schema:
        return {}
    comp = schema.get("components", {}).get("schemas", {}).get(component)
    return dict(comp) if isinstance(comp, Mapping) else {}


def _free(path: Path, protected: set[Path]) -> Path:
    """``path`` unless it is a protected input file; then ``stem-2.ext``, ``stem-3.ext``, …"""
    if path.resolve() not in protected:
        return path
    n = 2
    while True:
        cand = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if cand.resolve() not in protected and not cand.exists():
            return cand
        n += 1


class OutputWriter:
    """Turns a prediction's ``output`` into files and printed text. ``echo`` prints to stdout, ``note`` to
    stderr (both injectable for tests)."""

    def __init__(
        self,
        out: str | None,
        protected: Iterable[Path] = (),
        cwd: Path | None = None,
        echo: Callable[[str], None] | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        import click

        self.out = out
        self.cwd = cwd or Path.cwd()
        self.protected = {Path(p).resolve() for p in protected}
        self.echo = echo or (lambda s: click.echo(s))
        self.note = note or (lambda s: click.echo(s, err=True))
        self.written: list[Path] = []

    # -- files
    def _target(self, ext: str, index: int | None) -> Path:
        if self.out is None:
            name = f"output{ext}" if index is None else f"output.{index}{ext}"
            return _free(self.cwd / name, self.protected)
        out = Path(self.out).expanduser()
        if not out.is_absolute():
            out = self.cwd / out
        if out.is_dir() or self.out.endswith("/"):
            out.mkdir(parents=True, exist_ok=True)
            name = f"output{ext}" if index is None else f"output.{index}{ext}"
            return _free(out / name, self.protected)
        target = out if index is None else out.with_name(f"{out.stem}.{index}{out.suffix or ext}")
        if target.resolve() in self.protected:
            raise CogpinError(
                f"-o {self.out} would overwrite an input file ({target})", "choose another output path."
            )
        return target

    def _write_file(self, url: str, index: int | None) -> Path:
        mime, data = decode_data_url(url)
        target = self._target(extension_for(mime), index)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.written.append(target)
        self.note(f"Written output to: {_rel(target, self.cwd)}")
        return target

    def _write_text(self, text: str) -> None:
        assert self.out is not None
        target = self._target(".txt", None)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text if text.endswith("\n") or not text else text + "\n", encoding="utf-8")
        self.written.append(target)
        self.note(f"Written output to: {_rel(target, self.cwd)}")

    # -- entry points
    def write(self, output: Any, schema: Mapping[str, Any] | None = None, component: str = "Output") -> None:
        """The ``output`` field of a succeeded prediction (``component="TrainingOutput"``: a training's)."""
        out_schema = output_schema(schema, component)
        if output is None:
            self.note("No output generated")  # Cog's words (scripts grep them)
            return
        if is_data_url(output):
            self._write_file(output, None)
            return
        if isinstance(output, list):
            if out_schema.get("x-cog-array-display") == "concatenate" and all(
                isinstance(x, str) for x in output
            ):
                self._text("".join(output))
                return
            if output and all(is_data_url(x) for x in output):
                for i, item in enumerate(output):
                    self._write_file(item, i)
                return
        if isinstance(output, str):
            self._text(output)
            return
        if isinstance(output, dict) and any(is_data_url(v) for v in output.values()):
            # an object output (cog.BaseModel) with files: each file written as output.<key>.<ext>,
            # the printed JSON names the file instead of holding a data URL
            output = {k: self._write_named(v, k) if is_data_url(v) else v for k, v in output.items()}
        self._text(json.dumps(output, indent=2, ensure_ascii=False))

    def _write_named(self, url: str, key: str) -> str:
        mime, data = decode_data_url(url)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key) or "file"
        base = self.cwd if self.out is None else Path(self.out).expanduser().parent
        target = _free(base / f"output.{safe}{extension_for(mime)}", self.protected)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.written.append(target)
        self.note(f"Written output to: {_rel(target, self.cwd)}")
        return _rel(target, self.cwd)

    def write_prediction(self, prediction: Mapping[str, Any]) -> None:
        """``--json``: the whole prediction as JSON, printed or written to ``-o``."""
        self._text(json.dumps(prediction, indent=2, ensure_ascii=False))

    def _text(self, text: str) -> None:
        if self.out is None:
            self.echo(text)
        else:
            self._write_text(text)


def _rel(path: Path, cwd: Path) -> str:
    try:
        return str(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        return str(path)
