"""A prediction's files on their way in and out. In: file inputs as the model container receives them
(files this hub holds and URLs the container cannot reach, on loopback, private and link-local hosts, are
sent as data URLs; other URLs stay). Out: the data URLs a model returns are stored as the hub's files
(``FILE_REF`` + id in the prediction), and shown as data URLs up to ``max_inline`` bytes, else as links.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx

from cogpin.hub import core
from cogpin.hub.registry_index import VersionInfo
from cogpin.hub.store import Store

_FILE_PATH = re.compile(r"/v1/files/([a-z0-9]+)(?:/content)?$")


async def container_input(
    store: Store, http: httpx.AsyncClient, info: VersionInfo, inp: dict[str, Any]
) -> dict[str, Any]:
    """The input with its file fields (``format: uri`` in the schema) rewritten where needed."""
    fields = core.uri_fields(info.openapi_schema)
    out = dict(inp)
    for name in fields & set(inp):
        out[name] = await _rewrite_uris(store, http, inp[name])
    return out


async def _rewrite_uris(store: Store, http: httpx.AsyncClient, value: Any) -> Any:
    if isinstance(value, list):
        return [await _rewrite_uris(store, http, v) for v in value]
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return value
    u = urllib.parse.urlsplit(value)
    m = _FILE_PATH.search(u.path)
    if m:
        f = store.get_file(m.group(1))
        if f:
            return core.data_url(f.content_type, store.read_file(f))
    if _is_local(u.hostname or ""):
        try:
            r = await http.get(value, timeout=60, follow_redirects=True)
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise core.invalid(f"could not fetch the input file {value}: {e}") from None
        mime = r.headers.get("content-type", "application/octet-stream").split(";")[0]
        return core.data_url(mime, r.content)
    return value


def _is_local(host: str) -> bool:
    if host in ("localhost", "host.docker.internal") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local


def store_outputs(store: Store, pid: str, output: Any) -> Any:
    """The output with every data URL stored as a file of the prediction."""

    def one(s: str) -> Any:
        if not s.startswith("data:"):
            return s
        dec = core.decode_data_url(s)
        if dec is None:
            return s
        mime, data = dec
        f = store.add_file(data, "output", mime, prediction_id=pid)
        return core.FILE_REF + f.id

    return core.map_strings(output, one)


def render_output(store: Store, max_inline: int, base: str) -> Callable[[Any], Any]:
    """How a stored output is shown: a file as a data URL when small, else as its URL under ``base``."""

    def one(s: str) -> Any:
        if not s.startswith(core.FILE_REF):
            return s
        f = store.get_file(s[len(core.FILE_REF) :])
        if f is None:
            return None
        if f.size <= max_inline:
            return core.data_url(f.content_type, store.read_file(f))
        return f"{base}/v1/files/{f.id}/content"

    return lambda out: core.map_strings(out, one)
