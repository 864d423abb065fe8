"""builder/wheels_host.py: fetching the lock's artifacts into the cache, and serving them."""

from __future__ import annotations

import hashlib
import http.client
from pathlib import Path

import pytest

from cogpin.artifacts.cache import ArtifactCache, HashMismatch
from cogpin.lock.view import view
from cogpin.settings import Settings
from tests.build_fixtures import (
    CUDA_RUNTIME,
    lock_text,
    sha,
)


def test_hash_mismatch_names_file_expected_and_actual(tmp_path: Path) -> None:
    from cogpin.builder import wheels_host as wheelhouse

    links = tmp_path / "links"
    links.mkdir()
    fn = "numpy-2.1.3-py3-none-any.whl"
    (links / fn).write_bytes(b"not the locked bytes")
    lv = view(lock_text(packages=(("numpy", "2.1.3"),)))
    settings = Settings(find_links=(str(links),), cache_dir=tmp_path / "cache")
    with pytest.raises(HashMismatch) as e:
        wheelhouse.ensure_artifacts(lv, settings)
    msg = str(e.value)
    assert fn in msg
    assert f"expected sha256:{sha(fn)}" in msg
    assert f"got sha256:{hashlib.sha256(b'not the locked bytes').hexdigest()}" in msg
    assert not list((tmp_path / "cache").rglob(fn))  # nothing stored


def test_missing_artifact_says_what_and_how_to_add_it(tmp_path: Path) -> None:
    from cogpin.builder import wheels_host as wheelhouse

    lv = view(
        lock_text(base=CUDA_RUNTIME, gpu=True, standalone=True).replace(
            "https://github.com", "http://127.0.0.1:9"
        )
    )
    settings = Settings(find_links=(str(tmp_path),), cache_dir=tmp_path / "cache")
    cache = ArtifactCache(tmp_path / "cache")
    rt = lv.runtime.wheels[0]
    cache.path_for(rt.sha256, rt.filename).parent.mkdir(parents=True)
    cache.path_for(rt.sha256, rt.filename).write_bytes(b"")
    with pytest.raises(wheelhouse.ArtifactMissing) as e:
        wheelhouse.ensure_artifacts(lv, settings)
    assert lv.standalone_python is not None
    assert lv.standalone_python.filename in e.value.message
    assert lv.standalone_python.sha256 in e.value.message
    assert "COGPIN_FIND_LINKS" in (e.value.hint or "")


def test_wheel_server_serves_only_the_lock(tmp_path: Path) -> None:
    from cogpin.builder import wheels_host as wheelhouse

    links = tmp_path / "links"
    links.mkdir()
    body = b"wheel bytes"
    fn = "numpy-2.1.3-py3-none-any.whl"
    (links / fn).write_bytes(body)
    text = lock_text(packages=(("numpy", "2.1.3"),)).replace(sha(fn), hashlib.sha256(body).hexdigest())
    rt_cache = ArtifactCache(tmp_path / "cache")
    rt_path = rt_cache.path_for(sha("runtime"), "cogpin_runtime-0.1.0-py3-none-any.whl")
    rt_path.parent.mkdir(parents=True)
    rt_path.write_bytes(b"")
    lv = view(text)
    paths = wheelhouse.ensure_artifacts(lv, Settings(find_links=(str(links),), cache_dir=tmp_path / "cache"))
    with wheelhouse.serve(list(lv.artifacts()), paths, 0) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/")
        index = conn.getresponse().read().decode()
        assert f'href="{fn}#sha256={hashlib.sha256(body).hexdigest()}"' in index
        conn.request("GET", f"/{fn}")
        assert conn.getresponse().read() == body
        conn.request("GET", "/../../etc/passwd")
        r = conn.getresponse()
        r.read()
        assert r.status == 404
