"""make_lock runs its effects concurrently: uv starts on a guessed Python and is re-run when the image says
otherwise, a failing step stops uv, and the torch-index probe's answer is remembered (and forgotten when a
resolution then misses torch). No network, no engine."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from cogpin import config as config_mod
from cogpin.lock.make import _python_key, make_lock
from cogpin.resolver import python as py_mod
from cogpin.resolver.compat import Flags, ResolveError, plan
from cogpin.resolver.memo import Memo
from tests.resolver_fixtures import TagImageSource, local_settings, write_project

BUILD = {"gpu": "false", "python_version": '"3.11"'}


def _project(tmp_path, reqs=("torch==2.3.1", "tinydep==1.0")):
    root = write_project(tmp_path / "proj", BUILD, list(reqs))
    return config_mod.load_config(root / "cog.yaml")


class CountingUv:
    def __init__(self, monkeypatch) -> None:
        self.pythons: list[str] = []
        real = py_mod.resolve_closure

        def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.pythons.append(args[3].python)
            return real(*args, **kwargs)

        monkeypatch.setattr("cogpin.lock.make.resolve_closure", counting)


def test_remembered_python_is_used_and_a_wrong_guess_is_rerun(tmp_path, offline, monkeypatch):
    config = _project(tmp_path)
    settings = local_settings(tmp_path / "s1")
    image = plan(config, Flags()).base_image
    uv = CountingUv(monkeypatch)

    cold = make_lock(config, Flags(), settings, images=TagImageSource())
    assert uv.pythons == ["3.11.10"]  # nothing to guess from: uv waited for the image
    memo = Memo(settings.cache_dir, "image-python")
    assert memo.get(_python_key(image, "linux/amd64"))[0] == "3.11.10"  # type: ignore[index]

    uv.pythons.clear()
    warm = make_lock(config, Flags(), settings, images=TagImageSource())
    assert uv.pythons == ["3.11.10"] and warm.dumps() == cold.dumps()

    memo.put(_python_key(image, "linux/amd64"), "3.11.1")  # the tag moved to another patch since
    uv.pythons.clear()
    rerun = make_lock(config, Flags(), settings, images=TagImageSource())
    assert uv.pythons == ["3.11.1", "3.11.10"]
    assert rerun.dumps() == cold.dumps()
    assert memo.get(_python_key(image, "linux/amd64"))[0] == "3.11.10"  # type: ignore[index]


class FailingImages:
    def inspect(self, image: str, platform: str, want_python: bool):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        raise ResolveError(f"cannot read {image} ({platform}) from its registry: not found")


def test_image_error_wins_and_stops_uv(tmp_path, offline, monkeypatch):
    config = _project(tmp_path)
    settings = local_settings(tmp_path / "s")
    Memo(settings.cache_dir, "image-python").put(
        _python_key(plan(config, Flags()).base_image, "linux/amd64"), "3.11.10"
    )
    cancelled = []
    real = py_mod._run

    def slow_uv(cmd, env, cancel):  # type: ignore[no-untyped-def]
        try:
            return real([sys.executable, "-c", "import time; time.sleep(60)"], env, cancel)
        except py_mod.Cancelled:
            cancelled.append(True)
            raise

    monkeypatch.setattr(py_mod, "_run", slow_uv)
    start = time.monotonic()
    with pytest.raises(ResolveError, match="from its registry"):
        make_lock(config, Flags(), settings, images=FailingImages())
    assert time.monotonic() - start < 30 and cancelled == [True]


def test_run_is_cancellable_and_returns_output():
    cancel = threading.Event()
    rc, err = py_mod._run(
        [sys.executable, "-c", "import sys; sys.stderr.write('x'); sys.exit(3)"], {}, cancel
    )
    assert (rc, err) == (3, "x")
    threading.Timer(0.2, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(py_mod.Cancelled):
        py_mod._run([sys.executable, "-c", "import time; time.sleep(60)"], {}, cancel)
    assert time.monotonic() - start < 10


def test_probe_answer_is_remembered_with_a_ttl(tmp_path, monkeypatch):
    settings = local_settings(tmp_path)
    calls: list[str] = []

    def probe(url, timeout=3.0):  # type: ignore[no-untyped-def]
        calls.append(url)
        return url.endswith("/yes")

    monkeypatch.setattr(py_mod, "reachable", probe)
    assert py_mod.remembered_reachable("https://mirror.example/yes", settings) is True
    assert py_mod.remembered_reachable("https://mirror.example/yes", settings) is True
    assert py_mod.remembered_reachable("https://mirror.example/no", settings) is False
    assert py_mod.remembered_reachable("https://mirror.example/no", settings) is False
    assert calls == ["https://mirror.example/yes", "https://mirror.example/no"]
    later = time.time() + py_mod.PROBE_TTL_UNREACHABLE + 1
    monkeypatch.setattr("cogpin.resolver.memo.time.time", lambda: later)
    assert py_mod.remembered_reachable("https://mirror.example/yes", settings) is True  # still fresh
    assert py_mod.remembered_reachable("https://mirror.example/no", settings) is False  # asked again
    assert calls[2:] == ["https://mirror.example/no"]
    text = (settings.cache_dir / "resolver" / "reachable.json").read_text()
    assert "mirror.example" not in text  # keys are hashed: no URL (or credentials) on disk


def test_a_remembered_unreachable_index_is_forgotten_when_torch_is_missing(tmp_path, offline):
    root = write_project(tmp_path / "p", {"gpu": "true", "python_version": '"3.12"'}, ["torch==2.4.1"])
    config = config_mod.load_config(root / "cog.yaml")
    settings = local_settings(tmp_path)
    with pytest.raises(ResolveError, match="was not reachable"):
        make_lock(config, Flags(), settings, images=TagImageSource())
    assert Memo(settings.cache_dir, "reachable").get("https://download.pytorch.org/whl/cu124") is None
