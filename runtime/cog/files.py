"""Files in and out: URL / data-URL inputs to local temporary files; file outputs to data URLs or uploads."""

from __future__ import annotations

import base64
import binascii
import io
import mimetypes
import os
import pathlib
import shutil
import urllib.parse
from typing import Any

CHUNK = 1 << 20


class FileInputError(Exception):
    """An input file could not be fetched; the message names the input and the reason."""


def fetch(url: str, dest_dir: str, name: str) -> str:
    """Write the file behind `url` (http(s):// or data:) into dest_dir and return its path."""
    if url.startswith("data:"):
        header, sep, payload = url[5:].partition(",")
        if not sep:
            raise FileInputError(f"input {name!r}: malformed data URL")
        mime = header.split(";")[0] or "application/octet-stream"
        try:
            data = (
                base64.b64decode(payload, validate=False) if header.endswith(";base64") else _unquote(payload)
            )
        except (binascii.Error, ValueError) as e:
            raise FileInputError(f"input {name!r}: malformed data URL ({e})") from None
        path = os.path.join(dest_dir, f"{name}{mimetypes.guess_extension(mime) or ''}")
        with open(path, "wb") as f:
            f.write(data)
        return path
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise FileInputError(f"input {name!r}: unsupported URL scheme {scheme!r} (use http, https or data)")
    from urllib.request import urlopen  # only when needed: it pulls in ssl and http.client

    basename = os.path.basename(urllib.parse.urlsplit(url).path) or name
    path = os.path.join(dest_dir, urllib.parse.unquote(basename).replace("/", "_") or name)
    try:
        with (
            urlopen(url, timeout=float(os.environ.get("COG_DOWNLOAD_TIMEOUT", "300"))) as resp,
            open(path, "wb") as f,
        ):
            shutil.copyfileobj(resp, f, CHUNK)
    except Exception as e:  # noqa: BLE001 - reported as the prediction's error
        raise FileInputError(f"input {name!r}: could not download {_safe(url)}: {e}") from None
    return path


def _unquote(payload: str) -> bytes:
    return urllib.parse.unquote_to_bytes(payload)


def _safe(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", ""))


def encode_file(path: str | os.PathLike[str] | Any, upload_url: str | None) -> str | bytes:
    """The URL the file was PUT to under `upload_url` (str), or else a data URL of it as a JSON string
    (ASCII bytes with the quotes: a data URL needs no escaping)."""
    if isinstance(path, (str, os.PathLike)):
        filename = os.path.basename(os.fspath(path))
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if upload_url:
            with open(path, "rb") as f:
                return _upload(upload_url, filename, mime, f)
        with open(path, "rb") as f:
            data = f.read()
    else:  # a file object
        filename = os.path.basename(str(getattr(path, "name", "") or "output"))
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if hasattr(path, "seek"):
            try:
                path.seek(0)
            except (OSError, ValueError):
                pass
        data = path.read()
        if isinstance(data, str):
            data = data.encode()
        if upload_url:
            return _upload(upload_url, filename, mime, io.BytesIO(data))
    return b"".join((b'"data:', mime.encode("ascii"), b";base64,", base64.b64encode(data), b'"'))


def _upload(upload_url: str, filename: str, mime: str, f: Any) -> str:
    from urllib.request import Request, urlopen

    url = upload_url.rstrip("/") + "/" + urllib.parse.quote(filename)
    size = os.fstat(f.fileno()).st_size if hasattr(f, "fileno") and _has_fileno(f) else None
    req = Request(url, data=f, method="PUT", headers={"Content-Type": mime})
    if size is not None:
        req.add_header("Content-Length", str(size))
    else:
        body = f.read()
        req = Request(url, data=body, method="PUT", headers={"Content-Type": mime})
    with urlopen(req, timeout=300) as resp:
        location = resp.headers.get("Location")
        final = location or resp.geturl()
    parts = urllib.parse.urlsplit(final)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _has_fileno(f: Any) -> bool:
    try:
        f.fileno()
        return True
    except (OSError, ValueError, io.UnsupportedOperation):
        return False


def is_file_output(value: Any) -> bool:
    return isinstance(value, (pathlib.PurePath, io.IOBase))
