"""`cogpin build` on the real engine: hello-world and the torch CPU upscaler built from their locks and
asked for a prediction over HTTP; labels, the digest-pinned FROM, no wheel or pip cache in the image,
identical layers across two cold builds, the no-op rebuild, a code change rebuilding only the last layer,
hash-mismatch / failing-step / invalid-predictor errors with no tag left behind, secrets kept out of every
layer and of the history, the environment image, and the GPU build's plain failure where the standalone
Python archive cannot be fetched.

Every image is tagged `cogpin-test-build-*` and removed at the end; every container carries the label
`dev.cogpin.test=build` and is removed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cogpin.builder import BuildOptions, BuiltImage, build_image
from cogpin.config import effective_json, load_config
from cogpin.engine import BuildFailed, client

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COGPIN = str(BIN / "cogpin") if (BIN / "cogpin").exists() else shutil.which("cogpin") or "cogpin"
RUN_ID = uuid.uuid4().hex[:8]
TEST_LABEL = {"dev.cogpin.test": "build"}


def tag(name: str) -> str:
    return f"cogpin-test-build-{name}-{RUN_ID}:latest"


@pytest.fixture(scope="module", autouse=True)
def cleanup() -> Iterator[None]:
    yield
    c = client()
    for container in c.containers.list(all=True, filters={"label": "dev.cogpin.test=build"}):
        container.remove(force=True)
    for image in c.images.list():
        for t in image.tags:
            if t.startswith("cogpin-test-build-") and RUN_ID in t:
                try:
                    c.images.remove(t, force=True)
                except Exception:  # noqa: BLE001
                    pass


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([COGPIN, *args], cwd=cwd, capture_output=True, text=True, timeout=900)
    if check and p.returncode != 0:
        raise AssertionError(f"cogpin {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def project(tmp: Path, example: str) -> Path:
    d = tmp / example
    shutil.copytree(
        REPO / "examples" / example,
        d,
        ignore=shutil.ignore_patterns("cog.lock", "weights.json", "__pycache__"),
    )
    if (d / "make_weights.py").exists():
        subprocess.run([sys.executable, "make_weights.py"], cwd=d, check=True, capture_output=True)
    cli("lock", cwd=d)
    return d


def build(d: Path, name: str, **kw) -> BuiltImage:  # type: ignore[no-untyped-def]
    options = BuildOptions(tag=tag(name), progress=kw.pop("progress", "quiet"), **kw)
    return build_image(load_config(d / "cog.yaml"), options, include_project=kw.pop("include_project", True))


def layers(image_id: str) -> list[str]:
    return list(client().images.get(image_id).attrs["RootFS"]["Layers"])


def shell(image_id: str, command: str, **kw) -> str:  # type: ignore[no-untyped-def]
    out = client().containers.run(
        image_id, ["sh", "-c", command], remove=True, labels=TEST_LABEL, network_disabled=True, **kw
    )
    return out.decode()


@contextmanager
def serving(image_id: str) -> Iterator[str]:
    c = client()
    container = c.containers.run(
        image_id, detach=True, labels=TEST_LABEL, ports={"5000/tcp": ("127.0.0.1", None)}
    )
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["5000/tcp"][0]["HostPort"]
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        status = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/health-check", timeout=5) as r:
                    status = json.load(r)["status"]
                if status == "READY":
                    break
                if status == "SETUP_FAILED":
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert status == "READY", f"not ready ({status}): {container.logs().decode()[-2000:]}"
        yield url
    finally:
        container.remove(force=True)


def predict(url: str, inputs: dict) -> dict:
    req = urllib.request.Request(
        f"{url}/predictions",
        data=json.dumps({"input": inputs}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.load(r)


def png(w: int, h: int) -> bytes:
    rows = b"".join(
        b"\0" + b"".join(bytes((x * 255 // (w - 1), y * 255 // (h - 1), 128)) for x in range(w))
        for y in range(h)
    )

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# --- hello-world ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuiltImage]:
    d = project(tmp_path_factory.mktemp("hello"), "hello-world")
    return d, build(d, "hello", no_cache=True)


def test_hello_world_predicts_over_http(hello: tuple[Path, BuiltImage]) -> None:
    _, built = hello
    assert not built.reused
    with serving(built.id) as url:
        result = predict(url, {"text": "world"})
    assert result["status"] == "succeeded" and result["output"] == "hello world"


def test_labels_and_digest_pinned_from(hello: tuple[Path, BuiltImage]) -> None:
    d, built = hello
    from cogpin.lock.view import view

    lock = view(d / "cog.lock")
    labels = client().images.get(built.id).labels
    assert labels["run.cog.version"] == lock.runtime.version
    assert json.loads(labels["run.cog.config"]) == effective_json(load_config(d / "cog.yaml"))
    schema = json.loads(labels["run.cog.openapi_schema"])
    assert "text" in schema["components"]["schemas"]["Input"]["properties"]
    assert schema == built.schema
    assert f"cogpin-runtime=={lock.runtime.version}" in labels["run.cog.pip_freeze"]
    assert labels["dev.cogpin.lock"] == "sha256:" + hashlib.sha256((d / "cog.lock").read_bytes()).hexdigest()
    assert labels["org.opencontainers.image.base.digest"] == lock.base_digest
    assert labels["dev.cogpin.identity"] == built.identity
    # The Dockerfile `cogpin debug` prints is the one the build used: FROM by digest.
    dockerfile = cli("debug", cwd=d).stdout
    assert f"FROM {lock.base_image}@{lock.base_digest}\n" in dockerfile
    history = " ".join(h.get("CreatedBy", "") for h in client().images.get(built.id).history())
    assert "cog.server.http" in history
    config = client().images.get(built.id).attrs["Config"]
    assert config["Cmd"] == ["python", "-m", "cog.server.http"]
    assert config["WorkingDir"] == "/src"
    assert "5000/tcp" in config["ExposedPorts"]
    assert "COG_PREDICT_TYPE_STUB=predict.py:Predictor" in config["Env"]
    assert built.identity_tag in client().images.get(built.id).tags


def test_no_wheel_no_pip_cache_no_requirements_left(hello: tuple[Path, BuiltImage]) -> None:
    d, built = hello
    from cogpin.lock.view import view

    probe = (
        "find / -xdev \\( -name '*.whl' -o -path '/root/.cache/pip' -o -name 'cogpin-requirements.txt'"
        " -o -name '.cogpin-stamp' \\) -print | sort; ls /root/.cache 2>/dev/null; true"
    )
    lock = view(d / "cog.lock")
    base = shell(f"{lock.base_image.split(':')[0]}@{lock.base_digest}", probe)  # e.g. Debian's own wheels
    assert shell(built.id, probe) == base


def test_installed_pyc_files_are_hash_based(hello: tuple[Path, BuiltImage]) -> None:
    """No timestamps in .pyc files: every one the install wrote is a checked-hash pyc (PEP 552 flags 3)."""
    _, built = hello
    probe = (
        "python -c \"import glob, struct; fs = glob.glob('/usr/local/lib/python3.11/site-packages/cog/**/*.pyc',"
        " recursive=True); print(len(fs), sorted({struct.unpack('<I', open(f, 'rb').read()[4:8])[0] for f in fs}))\""
    )
    count, flags = shell(built.id, probe).split(" ", 1)
    assert int(count) > 0 and flags.strip() == "[3]"


def test_init_is_pid_1_and_forwards_sigterm(hello: tuple[Path, BuiltImage]) -> None:
    _, built = hello
    c = client()
    container = c.containers.run(built.id, detach=True, labels=TEST_LABEL, network_disabled=True)
    try:
        time.sleep(1.0)
        cmdline = container.exec_run(["cat", "/proc/1/cmdline"]).output.replace(b"\0", b" ").decode()
        assert "init.py" in cmdline
        t0 = time.monotonic()
        container.stop(timeout=20)
        assert time.monotonic() - t0 < 10  # SIGTERM reached the server; not killed after the timeout
        assert container.wait(timeout=10)["StatusCode"] in (0, 143)
    finally:
        container.remove(force=True)


def test_noop_rebuild_does_nothing_and_says_so(hello: tuple[Path, BuiltImage]) -> None:
    d, built = hello
    t0 = time.monotonic()
    p = cli("build", "-t", tag("hello"), cwd=d)
    wall = time.monotonic() - t0
    assert "nothing to build" in p.stderr
    assert client().images.get(tag("hello")).id == built.id
    print(f"no-op `cogpin build`: {wall:.2f}s wall including the CLI start")


def test_code_change_rebuilds_only_the_last_layer(hello: tuple[Path, BuiltImage], tmp_path: Path) -> None:
    d, built = hello
    changed = tmp_path / "changed"
    shutil.copytree(d, changed)
    predict_py = changed / "predict.py"
    predict_py.write_text(predict_py.read_text().replace('"hello"', '"bonjour"'))
    again = build(changed, "hello-changed")
    assert not again.reused
    before, after = layers(built.id), layers(again.id)
    assert len(before) == len(after)
    assert before[:-1] == after[:-1]
    assert before[-1] != after[-1]
    with serving(again.id) as url:
        assert predict(url, {"text": "monde"})["output"] == "bonjour monde"


def test_environment_image_has_no_project(hello: tuple[Path, BuiltImage]) -> None:
    d, built = hello
    env = build_image(
        load_config(d / "cog.yaml"),
        BuildOptions(tag=tag("hello-env"), progress="quiet"),
        include_project=False,
    )
    assert env.schema == {}  # `run`/`predict`/`serve` from source read the mounted project's schema
    assert "run.cog.openapi_schema" not in client().images.get(env.id).labels
    assert shell(env.id, "ls -A /src").strip() == ""
    assert layers(env.id) == layers(built.id)[:-1]


def test_failing_step_shows_step_and_output_and_leaves_no_tag(tmp_path: Path) -> None:
    d = tmp_path / "fails"
    shutil.copytree(REPO / "examples" / "hello-world", d)
    (d / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\n  run:\n    - "echo preparing the thing; echo it broke >&2; exit 3"\n'
        'predict: "predict.py:Predictor"\n'
    )
    cli("lock", cwd=d)
    with pytest.raises(BuildFailed) as e:
        build(d, "fails")
    message = str(e.value)
    assert "RUN echo preparing the thing" in message
    assert "it broke" in message
    assert "returned a non-zero code: 3" in message
    assert not [i for i in client().images.list() if tag("fails") in i.tags]


def test_a_base_digest_the_registry_lacks_fails_with_the_fix_and_leaves_no_tag(tmp_path: Path) -> None:
    d = project(tmp_path, "hello-world")
    lock = d / "cog.lock"
    text = lock.read_text()
    pinned = text.split('digest = "', 1)[1].split('"', 1)[0]
    lock.write_text(text.replace(pinned, "sha256:" + "0" * 64))  # a digest no registry has
    p = cli("build", "-t", tag("gone"), cwd=d, check=False)
    assert p.returncode == 1
    assert (
        "the build failed at Step 1/" in p.stderr and "FROM python:3.11-slim-bookworm@sha256:000" in p.stderr
    )
    assert "cannot be pulled here" in p.stderr and "cogpin lock --upgrade" in p.stderr
    assert not [i for i in client().images.list() if tag("gone") in i.tags]


def test_a_new_commit_is_not_served_an_image_labelled_with_the_old_one(tmp_path: Path) -> None:
    d = project(tmp_path, "hello-world")
    git = ["git", "-C", str(d), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    head = lambda: subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()  # noqa: E731
    first = build(d, "revs")
    assert client().images.get(first.id).labels["org.opencontainers.image.revision"] == head()
    assert build(d, "revs").reused  # unchanged: a no-op
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "two"], check=True)
    second = build(d, "revs")
    assert not second.reused
    assert client().images.get(second.id).labels["org.opencontainers.image.revision"] == head()
    assert layers(second.id) == layers(first.id)  # only the metadata differs


def test_invalid_predictor_fails_the_build_with_the_reason(tmp_path: Path) -> None:
    d = tmp_path / "invalid"
    shutil.copytree(REPO / "examples" / "hello-world", d)
    cli("lock", cwd=d)
    (d / "predict.py").write_text(
        "from cog import BasePredictor\n\nclass Predictor(BasePredictor):\n    def predict(self, x: object) -> str:\n        return ''\n"
    )
    with pytest.raises(BuildFailed) as e:
        build(d, "invalid")
    assert "predictor is invalid" in str(e.value)
    assert not [i for i in client().images.list() if tag("invalid") in i.tags]


def test_hash_mismatch_aborts_with_file_expected_and_actual(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cogpin.artifacts.cache import HashMismatch

    d = tmp_path / "mismatch"
    shutil.copytree(REPO / "examples" / "hello-world", d)
    cli("lock", cwd=d)
    links = tmp_path / "links"
    links.mkdir()
    filename = "tinypkg-1.0-py3-none-any.whl"
    (links / filename).write_bytes(b"tampered")
    expected = hashlib.sha256(b"the bytes that were locked").hexdigest()
    lock = (d / "cog.lock").read_text()
    lock += (
        f'\n[[package]]\nname = "tinypkg"\nsource = "find-links"\nversion = "1.0"\n\n[[package.wheel]]\n'
        f'filename = "{filename}"\nplatform = "linux/amd64"\nsha256 = "{expected}"\n'
    )
    (d / "cog.lock").write_text(lock)
    monkeypatch.setenv("COGPIN_FIND_LINKS", str(links))
    monkeypatch.setenv("COGPIN_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(HashMismatch) as e:
        build(d, "mismatch", lock_mode="frozen")
    message = str(e.value)
    assert filename in message and f"expected sha256:{expected}" in message
    assert f"got sha256:{hashlib.sha256(b'tampered').hexdigest()}" in message
    assert not [i for i in client().images.list() if tag("mismatch") in i.tags]


def test_secret_mounts_never_reach_a_layer_or_the_history(tmp_path: Path) -> None:
    d = tmp_path / "secret"
    shutil.copytree(REPO / "examples" / "hello-world", d)
    # The step checks the secret's value without spelling it in one piece ("foo""barx").
    (d / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\n  run:\n'
        '    - command: \'test "$(cat /run/secrets/token)" = "foo""barx" && echo secret-seen > /secret-check\'\n'
        "      mounts:\n        - type: secret\n          id: token\n          target: /run/secrets/token\n"
        'predict: "predict.py:Predictor"\n'
    )
    secret_file = tmp_path / "token.txt"
    secret_file.write_text("foobarx")
    cli("lock", cwd=d)
    built = build(d, "secret", secrets=(f"id=token,src={secret_file}",))
    assert shell(built.id, "cat /secret-check").strip() == "secret-seen"
    image = client().images.get(built.id)
    history = json.dumps(image.history())
    assert "foobarx" not in history
    found = False
    tail = b""
    for chunk in image.save(named=False):
        if b"foobarx" in tail + chunk:
            found = True
            break
        tail = chunk[-16:]
    assert not found, "the secret's value is in a layer of the image"


def test_custom_ca_certificate_is_trusted_in_the_image(
    hello: tuple[Path, BuiltImage], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COG_CA_CERT (as Cog reads it) puts a CA into the image's trust store, for apt, pip and Python."""
    d, _ = hello
    key, cert = tmp_path / "ca.key", tmp_path / "ca.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=cogpin test CA",
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("COG_CA_CERT", str(cert))
    built = build(d, "ca")
    body = cert.read_text().strip().splitlines()[1]
    assert shell(built.id, f"grep -c '{body}' /etc/ssl/certs/ca-certificates.crt").strip() == "1"
    env = client().images.get(built.id).attrs["Config"]["Env"]
    assert "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" in env


def test_system_packages_come_from_apt(tmp_path: Path) -> None:
    d = tmp_path / "apt"
    shutil.copytree(REPO / "examples" / "hello-world", d)
    (d / "cog.yaml").write_text(
        'build:\n  python_version: "3.11"\n  system_packages: [tree]\npredict: "predict.py:Predictor"\n'
    )
    cli("lock", cwd=d)
    built = build(d, "apt")
    assert shell(built.id, "tree --version").startswith("tree v")
    assert shell(built.id, "ls /var/lib/apt/lists | grep -v -e lock -e partial; true").strip() == ""


# --- the torch CPU upscaler ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upscaler(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuiltImage]:
    d = project(tmp_path_factory.mktemp("upscaler"), "upscaler")
    return d, build(d, "upscaler", no_cache=True)


def test_upscaler_predicts_over_http(upscaler: tuple[Path, BuiltImage]) -> None:
    _, built = upscaler
    image = "data:image/png;base64," + base64.b64encode(png(16, 12)).decode()
    with serving(built.id) as url:
        result = predict(url, {"image": image, "scale": 3})
    assert result["status"] == "succeeded", result
    out = base64.b64decode(result["output"].split(",", 1)[1])
    assert out[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", out[16:24]) == (48, 36)
    props = built.schema["components"]["schemas"]["Input"]["properties"]
    assert props["scale"].get("maximum") == 4.0 and "image" in props


def layer_entries(image_id: str) -> list[list[tuple]]:
    """Every layer of the image as its tar entries (name, type, mode, uid, gid, size, mtime, link, sha256),
    read from `docker save` as a stream."""
    import tarfile

    by_path: dict[str, list[tuple]] = {}
    manifest: list = []

    class Stream:
        def __init__(self) -> None:
            self.chunks = client().images.get(image_id).save(named=False)
            self.buf = b""

        def read(self, n: int = -1) -> bytes:
            while n < 0 or len(self.buf) < n:
                try:
                    self.buf += next(self.chunks)
                except StopIteration:
                    break
            out, self.buf = (self.buf, b"") if n < 0 else (self.buf[:n], self.buf[n:])
            return out

    with tarfile.open(fileobj=Stream(), mode="r|") as outer:  # type: ignore[call-overload]
        for member in outer:
            f = outer.extractfile(member)
            if f is None:
                continue
            if member.name.endswith("layer.tar"):
                entries = []
                with tarfile.open(fileobj=f, mode="r|") as inner:
                    for e in inner:
                        digest = ""
                        if e.isreg():
                            data = inner.extractfile(e)
                            digest = hashlib.sha256(data.read() if data else b"").hexdigest()
                        entries.append(
                            (e.name, e.type, e.mode, e.uid, e.gid, e.size, e.mtime, e.linkname, digest)
                        )
                by_path[member.name] = entries
            elif member.name == "manifest.json":
                manifest = json.loads(f.read())
    return [by_path[p] for p in manifest[0]["Layers"]]


def test_two_cold_builds_of_hello_world_are_identical_layers(hello: tuple[Path, BuiltImage]) -> None:
    d, first = hello
    second = build(d, "hello-again", no_cache=True)
    assert layers(first.id) == layers(second.id)
    ia, ib = client().images.get(first.id).attrs, client().images.get(second.id).attrs
    diff = {k: (ia[k], ib[k]) for k in ia if k not in ("Id", "RepoTags", "RepoDigests") and ia[k] != ib[k]}
    assert first.id == second.id, diff  # the config is written by cogpin: no build times, no container IDs
    print(f"\nhello-world, two cold builds: same layers, same image ID {first.id[:19]}")


def test_two_cold_builds_of_the_upscaler_install_identical_trees(upscaler: tuple[Path, BuiltImage]) -> None:
    """The same lock on an engine with no cache: identical installed trees, byte for byte, mtimes included.
    What may still differ: the whiteouts of files the lock removes from the base image (here the base's
    setuptools, replaced by the locked one) carry the time of their deletion, which no step can set; so
    that layer's digest, and with it the image ID, differ."""
    d, first = upscaler
    second = build(d, "upscaler-again", no_cache=True)
    a, b = layers(first.id), layers(second.id)
    same = [x == y for x, y in zip(a, b, strict=True)]
    print(
        f"\nupscaler, two cold builds: image IDs {first.id[:19]} vs {second.id[:19]}; layer digests equal: {same}"
    )
    ea, eb = layer_entries(first.id), layer_entries(second.id)
    for i, (la, lb) in enumerate(zip(ea, eb, strict=True)):
        if same[i]:
            continue
        strip = [
            [e if not Path(e[0]).name.startswith(".wh.") else e[:6] + e[7:] for e in layer]
            for layer in (la, lb)
        ]
        assert strip[0] == strip[1], f"layer {i} differs beyond whiteout times"
        whiteouts = [e[0] for e in la if Path(e[0]).name.startswith(".wh.")]
        print(
            f"layer {i}: identical but for the deletion times of {len(whiteouts)} whiteouts: {whiteouts[:4]}"
        )


def test_gpu_build_fails_plainly_without_the_standalone_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CUDA bases have no Python; the lock pins a standalone CPython archive that this machine cannot
    download. The build must say which artifact and how to add it to the cache, and not fake anything."""
    d = tmp_path / "gpu"
    shutil.copytree(REPO / "examples" / "hello-world", d)
    (d / "cog.yaml").write_text(
        'build:\n  gpu: true\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'
    )
    cli("lock", cwd=d)
    from cogpin.lock.view import view

    lock = view(d / "cog.lock")
    assert lock.standalone_python is not None
    from cogpin.artifacts.cache import ArtifactCache
    from cogpin.settings import Settings

    cache = ArtifactCache(Settings.from_env().cache_dir)
    if cache.get(lock.standalone_python.sha256, lock.standalone_python.filename):
        pytest.skip("the standalone Python archive is in the artifact cache on this machine")
    p = cli("build", "-t", tag("gpu"), cwd=d, check=False)
    assert p.returncode == 1
    assert lock.standalone_python.filename in p.stderr
    assert lock.standalone_python.sha256 in p.stderr
    assert "COGPIN_FIND_LINKS" in p.stderr
    assert not [i for i in client().images.list() if tag("gpu") in i.tags]
