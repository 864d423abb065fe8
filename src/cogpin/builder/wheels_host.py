"""The lock's artifacts: fetched into the content-addressed cache on the host, then served to the build.

``ensure_artifacts(lock_view, settings)`` makes sure every wheel (and the standalone Python archive) the
lock pins is in the cache, verified by sha256. Sources, in order: the cache; a file of that name in a
``find-links`` folder (``COGPIN_FIND_LINKS``/``UV_FIND_LINKS``/``PIP_FIND_LINKS``, or pip's own config);
the lock's URL hint (through the proxy, with ``SSL_CERT_FILE``). Nothing is used before its hash matches.

``serve(artifacts, port)`` runs a ``--find-links`` page on 127.0.0.1 that offers exactly those artifacts,
for as long as the ``with`` block lasts; ``docker build`` runs with ``network_mode=host`` so ``pip`` in a
``RUN`` step reaches it. Nothing is copied into the build context. That needs an engine that shares this
machine's loopback; for the others (remote, Docker Desktop) ``cogpin.builder.wheels_engine`` serves the same
page from the engine's side.
"""

from __future__ import annotations

import contextlib
import html
import shutil
import ssl
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

from cogpin.artifacts.cache import ArtifactCache, HashMismatch
from cogpin.errors import CogpinError
from cogpin.lock.view import Artifact, LockView
from cogpin.settings import Settings
from cogpin.templates import wheel_server


class ArtifactMissing(CogpinError):
    pass


def find_links_dirs(settings: Settings) -> list[Path]:
    """Local find-links folders of the settings (the environment, else pip's configuration)."""
    dirs: list[Path] = []
    for link in settings.find_links:
        path = Path(urllib.parse.urlparse(link).path) if link.startswith("file:") else Path(link)
        if ("://" not in link or link.startswith("file:")) and path.is_dir() and path not in dirs:
            dirs.append(path)
    return dirs


def ensure_artifacts(
    lock: LockView,
    settings: Settings,
    on_fetch=None,  # type: ignore[no-untyped-def]
) -> dict[str, Path]:
    """``{sha256: cached path}`` for every artifact of ``lock``; raises with what is missing and how to
    add it."""
    cache = ArtifactCache(settings.cache_dir)
    dirs = find_links_dirs(settings)
    paths: dict[str, Path] = {}
    runtime = lock.runtime.wheels[0]
    others = [a for a in lock.artifacts() if a != runtime]
    for art in [*others, runtime]:
        cached = cache.get(art.sha256, art.filename)
        if cached is None and art == runtime:
            cached = _runtime_wheel(art, settings)
        if cached is None:
            if on_fetch:
                on_fetch(art)
            cached = _fetch(art, cache, dirs, settings)
        paths[art.sha256] = cached
    return paths


def _runtime_wheel(art: Artifact, settings: Settings) -> Path | None:
    """The runtime wheel is built (deterministically) from the installed runtime; it serves when it is
    the one the lock pins."""
    from cogpin.artifacts.runtime_wheel import build_runtime_wheel

    try:
        wheel = build_runtime_wheel(settings.cache_dir)
    except CogpinError:
        return None
    if wheel.sha256 == art.sha256 and wheel.filename == art.filename:
        return wheel.path
    raise ArtifactMissing(
        f"cog.lock pins the runtime {art.filename} (sha256:{art.sha256}), but the cogpin runtime installed "
        f"here is {wheel.filename} (sha256:{wheel.sha256}) and the locked one is not in the artifact cache",
        "run `cogpin lock` to pin the runtime installed here (or install the cogpin version that made the lock).",
    )


def _fetch(art: Artifact, cache: ArtifactCache, dirs: list[Path], settings: Settings) -> Path:
    tried: list[str] = []
    for d in dirs:
        candidate = d / art.filename
        if candidate.is_file():
            return cache.put_file(candidate, art.filename, art.sha256, str(candidate))
        tried.append(str(d))
    if art.url:
        try:
            return _download(art, cache, settings)
        except HashMismatch:
            raise
        except OSError as e:
            tried.append(f"{art.url} ({_reason(e)})")
    target = cache.path_for(art.sha256, art.filename)
    raise ArtifactMissing(
        f"{art.filename} (sha256:{art.sha256}) is not in the artifact cache and could not be fetched; "
        f"tried: {', '.join(tried) or 'no source'}",
        f"download it where {art.url or 'it is published'} is reachable, then put it in a find-links folder "
        f"(COGPIN_FIND_LINKS=DIR) or copy it to {target}; it is checked by sha256 either way.",
    )


def _reason(e: OSError) -> str:
    reason = getattr(e, "reason", None)
    return str(reason or e).strip()[:200]


def _download(art: Artifact, cache: ArtifactCache, settings: Settings) -> Path:
    ctx = ssl.create_default_context(cafile=settings.ca_bundle) if settings.ca_bundle else None
    cache.root.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache.root, prefix=".dl-", delete=False) as tmp:
        try:
            with urllib.request.urlopen(art.url, timeout=60, context=ctx) as r:  # noqa: S310
                shutil.copyfileobj(r, tmp, 1 << 20)
            tmp.close()
            return cache.put_file(Path(tmp.name), art.filename, art.sha256, art.url)
        finally:
            Path(tmp.name).unlink(missing_ok=True)


def index_html(artifacts: list[Artifact]) -> bytes:
    links = "\n".join(
        f'<a href="{html.escape(urllib.parse.quote(a.filename))}#sha256={a.sha256}">{html.escape(a.filename)}</a><br>'
        for a in sorted(artifacts, key=lambda a: a.filename)
    )
    return f"<!DOCTYPE html>\n<html><body>\n{links}\n</body></html>\n".encode()


class WheelServer:
    def __init__(self, httpd: ThreadingHTTPServer, served: list[str]) -> None:
        self.httpd = httpd
        self.served = served

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])


@contextlib.contextmanager
def serve(artifacts: list[Artifact], paths: dict[str, Path], port: int) -> Iterator[WheelServer]:
    """Serve ``artifacts`` on 127.0.0.1:``port`` (another free port if that one is taken: the build still
    works, but its package layers cannot come from the cache then)."""
    served: list[str] = []
    files = {a.filename: str(paths[a.sha256]) for a in artifacts}
    httpd = wheel_server.bind(port, wheel_server.handler(index_html(artifacts), files.get, served))
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="cogpin-wheels", daemon=True
    )
    thread.start()
    try:
        yield WheelServer(httpd, served)
    finally:
        httpd.shutdown()
        httpd.server_close()
