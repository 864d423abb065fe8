"""Big file inputs sent inline: the HTTP process decodes each large base64 ``data:`` URL of a file input
straight into a file, and the worker gets a reference to it instead of the text.

Without this a 500 MB data URL was held as the request bytes, the parsed string, the worker message, the
worker's parsed copy and the decoded bytes (1.8 GB in the server, 1.7 GB in the worker). Now the worker never
sees the text and the server decodes in 4 MiB pieces. The file is moved (not copied) into the prediction's own
folder by the worker, and removed by the server when the prediction ends if the worker never took it.

A reference is ``cogpin-spool:<token>/<file name>``; the worker accepts one only inside the spool folder the
server made (``COGPIN_SPOOL_DIR``), and a client cannot send one: file inputs must be http(s) or data URLs.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import re
import shutil
import tempfile
import uuid
from typing import Any

from .protocol import Raw

PREFIX = "cogpin-spool:"
ENV = "COGPIN_SPOOL_DIR"
SPOOL_MIN = int(os.environ.get("COG_SPOOL_MIN_BYTES", str(1 << 20)))  # smaller data URLs go as they are
_CHUNK = 4 << 20  # characters of base64 decoded at a time (a multiple of 4)
_PLAIN = re.compile(r"[A-Za-z0-9.+/;=_-]*")  # a data URL header that needs no JSON escaping

_dir: str | None = None


def spool_dir() -> str:
    """This server's spool folder (made on first use, exported for the worker it starts)."""
    global _dir
    if _dir is None:
        _dir = tempfile.mkdtemp(prefix="cog-spool-")
        os.environ[ENV] = _dir
    return _dir


def remove_all() -> None:
    if _dir is not None:
        shutil.rmtree(_dir, ignore_errors=True)


def spool_inputs(
    schema: dict[str, Any], component: str, cleaned: dict[str, Any], echo: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(the input for the worker, with every large base64 data URL of a file input replaced by a spool
    reference; the echo, with those URLs kept as their JSON bytes (half the size of a str, and encoded once);
    the spool folders written). The dicts passed in are left as they are."""
    props = schema.get("components", {}).get("schemas", {}).get(component, {}).get("properties", {})
    out, echoed = dict(cleaned), dict(echo)
    written: list[str] = []
    try:
        for name, value in cleaned.items():
            prop = props.get(name) or {}
            if _is_uri(prop) and _big_data_url(value):
                out[name], echoed[name] = _spool(value, name, written)
            elif _is_uri(prop.get("items") or {}) and isinstance(value, list):
                pairs = [
                    _spool(v, f"{name}.{i}", written) if _big_data_url(v) else (v, v)
                    for i, v in enumerate(value)
                ]
                out[name], echoed[name] = [p[0] for p in pairs], [p[1] for p in pairs]
    except OSError:  # no room on disk: the worker decodes them as before
        discard(written)
        return cleaned, echo, []
    return out, echoed, written


def discard(written: list[str]) -> None:
    for path in written:
        shutil.rmtree(path, ignore_errors=True)


def take(ref: str, dest_dir: str) -> str:
    """Worker side: move the spooled file behind `ref` into dest_dir; its new path."""
    root = os.environ.get(ENV, "")
    token, _, fname = ref[len(PREFIX) :].partition("/")
    if not root or not token.isalnum() or not fname or "/" in fname or fname in (".", ".."):
        raise ValueError("not a spool reference of this server")
    src = os.path.join(root, token, fname)
    dest = os.path.join(dest_dir, fname)
    os.replace(src, dest)
    os.rmdir(os.path.join(root, token))
    return dest


def _is_uri(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "string" and prop.get("format") == "uri"


def _big_data_url(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= SPOOL_MIN and value.startswith("data:")


def _spool(url: str, name: str, written: list[str]) -> tuple[str, Any]:
    """(the worker's reference, the echo's value) for one data URL."""
    comma = url.find(",")
    header = url[5:comma] if comma > 0 else ""
    if not header.endswith(";base64") or not _PLAIN.fullmatch(header):
        return url, url  # percent-encoded (rare at this size) or odd: decoded by the worker
    mime = header.split(";")[0] or "application/octet-stream"
    token = uuid.uuid4().hex
    folder = os.path.join(spool_dir(), token)
    os.mkdir(folder)
    written.append(folder)
    fname = f"{name}{mimetypes.guess_extension(mime) or ''}"
    try:
        with open(os.path.join(folder, fname), "wb") as f:
            start = comma + 1
            for i in range(start, len(url), _CHUNK):
                f.write(base64.b64decode(url[i : i + _CHUNK], validate=True))
    except (binascii.Error, ValueError):  # not plain base64 (line breaks, bad padding): the worker's lenient
        shutil.rmtree(folder, ignore_errors=True)  # decoder handles it, or names the error, as before
        written.remove(folder)
        return url, url
    return f"{PREFIX}{token}/{fname}", _json_bytes(url)


def _json_bytes(text: str) -> Raw:
    """The JSON string of `text` (plain ASCII: a checked header and base64), built in pieces."""
    buf = bytearray(len(text) + 2)
    buf[0] = buf[-1] = 0x22  # "
    for i in range(0, len(text), _CHUNK):
        piece = text[i : i + _CHUNK].encode("ascii")
        buf[1 + i : 1 + i + len(piece)] = piece
    return Raw(buf)  # type: ignore[arg-type]  # a bytearray splices like bytes
