"""The engine-side wheelhouse at unit level: where the wheel server runs (COGPIN_WHEELHOUSE, DOCKER_HOST,
Docker Desktop), which artifacts the engine's volume lacks, the streamed tar, and ``serve`` against a fake
engine (only what is missing is uploaded; the containers are removed, also on failure)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from cogpin.builder import wheels_engine as ew
from cogpin.errors import CogpinError
from cogpin.lock.view import Artifact


def _os(name: str):  # type: ignore[no-untyped-def]
    calls: list[int] = []

    def ask() -> str:
        calls.append(1)
        return name

    ask.calls = calls  # type: ignore[attr-defined]
    return ask


@pytest.mark.parametrize(
    ("setting", "docker_host", "os_name", "expected"),
    [
        ("auto", "", "Debian GNU/Linux 12 (bookworm)", "host"),
        ("", "", "Ubuntu 22.04", "host"),
        ("auto", "unix:///var/run/docker.sock", "Ubuntu 22.04", "host"),
        ("auto", "", "Docker Desktop", "engine"),
        ("auto", "unix:///Users/me/.docker/run/docker.sock", "Docker Desktop", "engine"),
        ("auto", "tcp://10.0.0.5:2376", "Ubuntu 22.04", "engine"),
        ("auto", "ssh://me@gpu-box", "Ubuntu 22.04", "engine"),
        ("host", "ssh://me@gpu-box", "Docker Desktop", "host"),
        ("engine", "", "Ubuntu 22.04", "engine"),
        ("ENGINE", "", "", "engine"),
    ],
)
def test_choose_mode(setting: str, docker_host: str, os_name: str, expected: str) -> None:
    assert ew.choose_mode(setting, docker_host, _os(os_name)) == expected


def test_choose_mode_asks_the_engine_only_when_it_matters() -> None:
    ask = _os("Docker Desktop")
    assert ew.choose_mode("engine", "", ask) == "engine"
    assert ew.choose_mode("auto", "ssh://x", ask) == "engine"
    assert ask.calls == []  # type: ignore[attr-defined]


def test_choose_mode_assumes_local_when_the_engine_does_not_say() -> None:
    def broken() -> str:
        raise RuntimeError("no info")

    assert ew.choose_mode("auto", "", broken) == "host"


def test_choose_mode_rejects_unknown_settings() -> None:
    with pytest.raises(CogpinError, match="COGPIN_WHEELHOUSE=remote"):
        ew.choose_mode("remote", "", _os(""))


def test_mode_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGPIN_WHEELHOUSE", "auto")
    monkeypatch.setenv("DOCKER_HOST", "tcp://remote:2375")
    assert ew.mode(client=object()) == "engine"


A = Artifact("a-1.0-py3-none-any.whl", "a" * 64)
B = Artifact("b-2.0-py3-none-any.whl", "b" * 64)
C = Artifact("python.tar.gz", "c" * 64)


def test_missing_is_what_the_volume_lacks() -> None:
    present = [f"sha256/{'a' * 64}/{A.filename}", f"sha256/{'f' * 64}/other.whl"]
    assert ew.missing([A, B, C], present) == [B, C]
    assert ew.missing([A, B, C], []) == [A, B, C]
    assert ew.missing([A], present) == []
    assert ew.missing([B, B], []) == [B]


def test_the_same_filename_with_another_hash_is_missing() -> None:
    present = [f"sha256/{'a' * 64}/{A.filename}"]
    assert ew.missing([Artifact(A.filename, "d" * 64)], present) == [Artifact(A.filename, "d" * 64)]


def test_tar_stream_puts_each_file_then_its_marker(tmp_path: Path) -> None:
    pa, pb = tmp_path / "a", tmp_path / "b"
    pa.write_bytes(b"x" * 1500)
    pb.write_bytes(b"")
    data = b"".join(ew.tar_stream([(A, pa), (B, pb)], chunk=100))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert tar.extractfile(f"sha256/{'a' * 64}/{A.filename}").read() == b"x" * 1500  # type: ignore[union-attr]
    assert names == [
        "sha256",
        f"sha256/{'a' * 64}",
        f"sha256/{'a' * 64}/{A.filename}",
        f"sha256/{'a' * 64}/.complete",
        f"sha256/{'b' * 64}",
        f"sha256/{'b' * 64}/{B.filename}",
        f"sha256/{'b' * 64}/.complete",
    ]


# --- serve against a fake engine ---------------------------------------------------------------------------


class FakeContainer:
    def __init__(self, engine: FakeEngine, image: str, command: list[str], **kw: Any) -> None:
        self.engine, self.image, self.command, self.kw = engine, image, command, kw
        self.status = "created"
        self.removed = False

    def start(self) -> None:
        if self.image in self.engine.broken_images:
            self.status = "exited"
            return
        self.status = "running"

    def reload(self) -> None:
        pass

    def logs(self, stdout: bool = True, stderr: bool = True, tail: Any = None) -> bytes:
        if self.status != "running":
            return b"python3: not found\n"
        cfg = json.loads(self.command[-1])
        present = sorted(r for r in cfg["files"].values() if r in self.engine.volume)
        return ("COGPIN-READY " + json.dumps({"port": cfg["port"], "present": present}) + "\n").encode()

    def put_archive(self, path: str, data: Any) -> bool:
        body = b"".join(data)
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            for m in tar.getmembers():
                if m.isfile() and not m.name.endswith(".complete"):
                    self.engine.volume.add(m.name)
                    self.engine.uploads.append(m.name)
        return True

    def remove(self, force: bool = False) -> None:
        self.removed = True


class FakeEngine:
    def __init__(self) -> None:
        self.volume: set[str] = set()
        self.uploads: list[str] = []
        self.created: list[FakeContainer] = []
        self.broken_images: set[str] = set()
        engine = self

        class Containers:
            def create(self, image: str, command: list[str], **kw: Any) -> FakeContainer:
                c = FakeContainer(engine, image, command, **kw)
                engine.created.append(c)
                return c

        class Images:
            def get(self, ref: str) -> object:
                return object()

        class Volumes:
            def create(self, name: str, **kw: Any) -> object:
                return object()

        self.containers, self.images, self.volumes = Containers(), Images(), Volumes()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for art in (A, B, C):
        p = tmp_path / art.filename
        p.write_bytes(art.filename.encode())
        out[art.sha256] = p
    return out


def test_serve_uploads_only_what_the_volume_lacks(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGPIN_ENGINE_VOLUME", "cogpin-unit")
    engine = FakeEngine()
    engine.volume.add(ew.volume_path(A))
    lines: list[str] = []
    with ew.serve([A, B], files, 47813, base_ref="base@sha256:1", client=engine, info=lines.append) as s:
        assert s.port == 47813 and s.volume == "cogpin-unit" and s.image == "base@sha256:1"
        assert s.uploaded == [B.filename]
    assert engine.uploads == [ew.volume_path(B)]
    assert any("uploaded 1 artifact to the engine" in line for line in lines)
    server, helper = engine.created
    assert server.kw["network_mode"] == "host"
    assert server.kw["volumes"]["cogpin-unit"]["mode"] == "ro"
    assert helper.kw["volumes"]["cogpin-unit"]["mode"] == "rw"
    assert json.loads(server.command[-1])["files"] == {
        A.filename: ew.volume_path(A),
        B.filename: ew.volume_path(B),
    }
    assert server.removed and helper.removed

    engine.uploads.clear()
    lines.clear()
    with ew.serve([A, B, C], files, 47813, client=engine, info=lines.append) as s:
        assert s.uploaded == [C.filename]
        assert s.image == ew.DEFAULT_SERVER_IMAGE
    with ew.serve([A, B, C], files, 47813, client=engine, info=lines.append) as s:
        assert s.uploaded == []
    assert engine.uploads == [ew.volume_path(C)]
    assert any("uploaded 0 artifacts to the engine" in line for line in lines)
    assert all(c.removed for c in engine.created)


def test_serve_removes_the_server_when_the_build_fails(files: dict[str, Path]) -> None:
    engine = FakeEngine()
    with pytest.raises(KeyboardInterrupt), ew.serve([A], files, 47813, client=engine):
        raise KeyboardInterrupt
    assert engine.created and all(c.removed for c in engine.created)


def test_serve_falls_back_to_the_server_image_and_says_what_to_set(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGPIN_SERVER_IMAGE", "my/python:1")
    engine = FakeEngine()
    engine.broken_images.add("nvidia/cuda@sha256:1")
    with ew.serve([A], files, 47813, base_ref="nvidia/cuda@sha256:1", client=engine) as s:
        assert s.image == "my/python:1"
    engine.broken_images.add("my/python:1")
    with (
        pytest.raises(CogpinError) as e,
        ew.serve([A], files, 47813, base_ref="nvidia/cuda@sha256:1", client=engine),
    ):
        pass
    assert "COGPIN_SERVER_IMAGE" in str(e.value) and "python3" in str(e.value)
    assert all(c.removed for c in engine.created)


def test_the_server_script_serves_only_complete_lock_artifacts(tmp_path: Path) -> None:
    """The script the server container runs, run here with a folder laid out like the volume."""
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from cogpin.builder.wheels_host import index_html

    for art, complete in ((A, True), (B, False)):
        d = tmp_path / "sha256" / art.sha256
        d.mkdir(parents=True)
        (d / art.filename).write_bytes(art.filename.encode())
        if complete:
            (d / ".complete").write_bytes(b"")
    (tmp_path / "secret.txt").write_text("no")
    cfg = {
        "port": 0,
        "root": str(tmp_path),
        "files": {a.filename: ew.volume_path(a) for a in (A, B)},
        "index": index_html([A, B]).decode(),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", ew.SERVER_SCRIPT, json.dumps(cfg)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline().removeprefix("COGPIN-READY "))
        assert ready["present"] == [ew.volume_path(A)]
        url = f"http://127.0.0.1:{ready['port']}/"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.read() == index_html([A, B])
        with urllib.request.urlopen(url + A.filename, timeout=5) as r:
            assert r.read() == A.filename.encode()
        for name in (B.filename, "secret.txt", "../secret.txt", f"sha256/{A.sha256}/{A.filename}"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url + name, timeout=5)
            assert e.value.code == 404
    finally:
        proc.kill()
        proc.wait()
