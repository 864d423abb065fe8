"""Files in and out: URL / data-URL inputs to local temporary files; file outputs to data URLs or uploads."""

from __future__ import annotations

import base64
import binascii
import io
import mimetypes
import os
import pathlib
import urllib.parse
from typing import Any

CHUNK = 1 << 20
DOWNLOAD_MAX = 64 << 30  # bytes of one input file, unless COG_DOWNLOAD_MAX_BYTES says otherwise


class FileInputError(Exception):
    """An input file could not be fetched; the message names the input and the reason."""


def fetch(url: str, dest_dir: str, name: str) -> str:
    """Write the file behind `url` (http(s):// or data:) into dest_dir and return its path."""
    if url.startswith("cogpin-spool:"):  # a big data URL the HTTP process already wrote to disk
        from .server import spool

        try:
            return spool.take(url, dest_dir)
        except (OSError, ValueError) as e:
            raise FileInputError(f"input {name!r}: the server's copy of this file is gone ({e})") from None
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
    basename = os.path.basename(urllib.parse.urlsplit(url).path) or name
    path = os.path.join(dest_dir, urllib.parse.unquote(basename).replace("/", "_") or name)
    try:
        _download(url, path)
    except FileInputError as e:
        raise FileInputError(f"input {name!r}: could not download {_safe(url)}: {e}") from None
    except Exception as e:  # noqa: BLE001 - reported as the prediction's error
        raise FileInputError(f"input {name!r}: could not download {_safe(url)}: {e}") from None
    return path


def _download(url: str, path: str) -> None:
    """GET url into path within COG_DOWNLOAD_TIMEOUT seconds in all (not per read), at most
    COG_DOWNLOAD_MAX_BYTES, and exactly the declared Content-Length (a short body is an error)."""
    import time
    from urllib.request import urlopen  # only when needed: it pulls in ssl and http.client

    timeout = float(os.environ.get("COG_DOWNLOAD_TIMEOUT", "300"))
    limit = int(os.environ.get("COG_DOWNLOAD_MAX_BYTES", str(DOWNLOAD_MAX)))
    deadline = time.monotonic() + timeout
    with urlopen(url, timeout=timeout) as resp, open(path, "wb") as f:
        declared = resp.headers.get("Content-Length")
        expected = int(declared) if declared and declared.strip().isdigit() else None
        if expected is not None and expected > limit:
            raise FileInputError(f"it is {expected} bytes, more than COG_DOWNLOAD_MAX_BYTES={limit}")
        sock = _socket_of(resp)
        got = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FileInputError(f"not finished within COG_DOWNLOAD_TIMEOUT={timeout:g}s ({got} bytes)")
            if sock is not None:
                sock.settimeout(left)
            try:
                chunk = resp.read1(CHUNK) if hasattr(resp, "read1") else resp.read(CHUNK)
            except TimeoutError:
                raise FileInputError(
                    f"not finished within COG_DOWNLOAD_TIMEOUT={timeout:g}s ({got} bytes)"
                ) from None
            if not chunk:
                break
            got += len(chunk)
            if got > limit:
                raise FileInputError(f"more than COG_DOWNLOAD_MAX_BYTES={limit} bytes")
            f.write(chunk)
        if expected is not None and got < expected:
            raise FileInputError(f"the body ended after {got} of {expected} bytes")


def _socket_of(resp: Any) -> Any:
    """The socket under an http.client response (to bound each read by the time left), or None."""
    try:
        return resp.fp.raw._sock
    except AttributeError:
        return None


def _unquote(payload: str) -> bytes:
    return urllib.parse.unquote_to_bytes(payload)


def _safe(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # host and port, without credentials
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


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
