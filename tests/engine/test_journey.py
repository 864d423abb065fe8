"""The user's journey through the real CLI, the real engine and a real registry with authentication:
predict (typed inputs, file/list/iterator outputs, validation before start, setup failure), run/exec,
serve, login, push (+ re-push, pull by digest) and the generated project's `just push`.

Every project here has the same cog.yaml and cog.lock (locked once per session), so they share one
environment image; each test writes its own predict.py (from-source predictions mount the project, so
a new predict.py needs no rebuild).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COG = str(BIN / "cog") if (BIN / "cog").exists() else shutil.which("cog") or "cog"
COGPIN = str(BIN / "cogpin") if (BIN / "cogpin").exists() else shutil.which("cogpin") or "cogpin"
LABEL = "run.cogpin.role"
USER, PASSWORD = "alice", "pa55-w0rd"
# `htpasswd -Bbn alice pa55-w0rd` (bcrypt, the only scheme the registry takes), fixed here so the tests
# need no apache2-utils on a fresh machine
HTPASSWD = "alice:$2y$05$iflL3LLxz5WD/VjEI3creeVOwvz1OasmLuECoFZhZIwzPlIGinZK.\n"

COG_YAML = 'build:\n  python_version: "3.11"\npredict: "predict.py:Predictor"\n'

TYPES = """
import json
from cog import BasePredictor, Input, Path

class Predictor(BasePredictor):
    def predict(
        self,
        s: str,
        n: int = Input(default=1, ge=0, le=10),
        x: float = 0.5,
        flag: bool = False,
        words: list[str] = Input(default=None),
        f: Path = Input(default=None),
    ) -> str:
        print("predicting", s)
        return json.dumps({"s": s, "n": n, "x": x, "flag": flag, "words": words,
                           "f": f.read_text() if f else None}, sort_keys=True)
"""

FILES = """
from cog import BasePredictor, Path

class Predictor(BasePredictor):
    def predict(self, image: Path, copies: int = 2) -> list[Path]:
        out = []
        for i in range(copies):
            p = Path(f"/tmp/copy{i}.png")
            p.write_bytes(image.read_bytes() + str(i).encode())
            out.append(p)
        return out
"""

ONE_FILE = """
from cog import BasePredictor, Path

class Predictor(BasePredictor):
    def predict(self, image: Path) -> Path:
        p = Path("/tmp/out.png")
        p.write_bytes(image.read_bytes()[::-1])
        return p
"""

SETUP_FAILS = """
from cog import BasePredictor

class Predictor(BasePredictor):
    def setup(self):
        print("loading weights from /nowhere")
        raise RuntimeError("weights are missing")

    def predict(self, s: str) -> str:
        return s
"""

PREDICT_FAILS = """
from cog import BasePredictor

class Predictor(BasePredictor):
    def predict(self, s: str) -> str:
        raise ValueError("bad luck: " + s)
"""

HELLO = """
from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def predict(self, text: str = Input(description="Text")) -> str:
        return "hello " + text
"""


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    return subprocess.run(
        [COG, *args], cwd=cwd, env=full_env, input=input, capture_output=True, text=True, timeout=timeout
    )


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


@pytest.fixture(scope="session")
def docker_client():
    import docker

    c = docker.from_env(timeout=300)
    c.ping()
    return c


@pytest.fixture(scope="session")
def locked(tmp_path_factory: pytest.TempPathFactory, docker_client) -> Path:
    """A project locked once: cog.yaml + cog.lock that every test project copies."""
    root = tmp_path_factory.mktemp("locked")
    (root / "cog.yaml").write_text(COG_YAML)
    (root / "predict.py").write_text(HELLO)
    ok(cli("lock", cwd=root))
    assert (root / "cog.lock").is_file()
    yield root
    # the environment image all these projects shared, and the images built for pushing
    # (untagged one by one: an image that other tags still name, e.g. the same environment image under
    # another project's name, stays)
    for img in docker_client.images.list():
        for t in img.tags:
            if "journey" in t:
                try:
                    docker_client.images.remove(t)
                except Exception:
                    pass


@pytest.fixture
def project(tmp_path: Path, locked: Path):
    """Factory: a fresh project folder with the shared cog.yaml/cog.lock and the given predict.py."""

    def make(predict_py: str, name: str = "journey") -> Path:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        shutil.copy(locked / "cog.yaml", root / "cog.yaml")
        shutil.copy(locked / "cog.lock", root / "cog.lock")
        (root / "predict.py").write_text(predict_py)
        return root

    return make


def created_containers(client, since: float, role: str = "predict") -> int:
    events = client.events(
        since=int(since),
        until=int(time.time()) + 1,
        filters={"event": "create", "label": f"{LABEL}={role}"},
        decode=True,
    )
    return sum(1 for ev in events if ev.get("timeNano", 0) >= since * 1e9)


def leftover(client) -> list:
    return client.containers.list(all=True, filters={"label": LABEL})


# ---------------------------------------------------------------------------------------------- predict


def test_predict_typed_inputs_and_string_output(project, docker_client):
    root = project(TYPES)
    (root / "in.txt").write_text("file contents")
    r = ok(
        cli(
            "predict", "-i", "s=hi there", "-i", "n=3", "-i", "x=2.5", "-i", "flag=true",
            "-i", "words=a", "-i", "words=b", "-i", "f=@in.txt", cwd=root,
        )
    )  # fmt: skip
    got = json.loads(r.stdout)
    assert got == {"s": "hi there", "n": 3, "x": 2.5, "flag": True, "words": ["a", "b"], "f": "file contents"}
    assert "predicting hi there" in r.stderr
    assert leftover(docker_client) == []


def test_predict_json_input_and_whole_prediction_output(project):
    root = project(TYPES)
    r = ok(cli("predict", "--json", '{"s": "j", "n": 2}', cwd=root))
    pred = json.loads(r.stdout)
    assert pred["status"] == "succeeded"
    assert json.loads(pred["output"])["n"] == 2
    (root / "in.json").write_text('{"s": "from file"}')
    r = ok(cli("predict", "--json", "@-", "-o", "pred.json", cwd=root, input='{"s": "stdin"}'))
    assert json.loads(json.loads((root / "pred.json").read_text())["output"])["s"] == "stdin"


def test_predict_list_of_files_written_as_output_i(project, docker_client):
    root = project(FILES)
    (root / "input.png").write_bytes(b"\x89PNG\r\n\x1a\nDATA")
    r = ok(cli("predict", "-i", "image=@input.png", cwd=root))
    assert (root / "output.0.png").read_bytes() == b"\x89PNG\r\n\x1a\nDATA0"
    assert (root / "output.1.png").read_bytes() == b"\x89PNG\r\n\x1a\nDATA1"
    assert "Written output to: output.0.png" in r.stderr


def test_predict_file_output_never_overwrites_the_input(project):
    root = project(ONE_FILE)
    (root / "output.png").write_bytes(b"abc")
    ok(cli("predict", "-i", "image=@output.png", cwd=root))
    assert (root / "output.png").read_bytes() == b"abc"
    assert (root / "output-2.png").read_bytes() == b"cba"
    ok(cli("predict", "-i", "image=@output.png", "-o", "flipped.png", cwd=root))
    assert (root / "flipped.png").read_bytes() == b"cba"


def test_predict_on_the_init_starter_fails_naming_the_output_type(project):
    """`cog init`'s starter returns None for `-> Path`: `cog predict` says so and exits non-zero."""
    root = project((REPO / "src" / "cogpin" / "scaffold" / "predict.py").read_text())
    (root / "input.png").write_bytes(b"\x89PNG\r\n\x1a\nDATA")
    r = cli("predict", "-i", "image=@input.png", cwd=root)
    assert r.returncode == 1, r.stderr
    assert "does not match the declared output type Path: predict() returned None" in r.stderr
    assert r.stdout == ""
    r = cli("predict", "--json", '{"image": "data:image/png;base64,iVBORw0KGgo="}', cwd=root)
    assert r.returncode == 1
    pred = json.loads(r.stdout)
    assert pred["status"] == "failed" and "output type Path" in pred["error"]


def test_predict_iterator_output_streaming_example(project):
    root = project((REPO / "examples" / "streaming" / "predict.py").read_text())
    r = ok(cli("predict", "-i", "prompt=the quick brown fox", cwd=root))
    assert r.stdout == "the quick brown fox\n"
    r = ok(cli("predict", "--json", '{"prompt": "a b"}', cwd=root))
    assert json.loads(r.stdout)["output"] == ["a", " b"]
    # slow enough that the tokens are printed as they come: the same text, one newline at the end
    r = ok(cli("predict", "-i", "prompt=x y z", "-i", "delay=0.2", cwd=root))
    assert r.stdout == "x y z\n"


def test_validation_errors_before_any_container_starts(project, docker_client):
    root = project(TYPES)
    ok(cli("predict", "-i", "s=warm", cwd=root))  # the schema is cached from here on
    since = time.time()
    r = cli("predict", "-i", "wrong=1", "-i", "n=abc", "-i", "x=1e999", "-i", "flag=maybe", cwd=root)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert 'error: unknown input "wrong"' in lines
    assert 'error: missing required input "s"' in lines
    assert 'error: input "n" must be an integer, got "abc"' in lines
    assert 'error: input "flag" must be true or false, got "maybe"' in lines
    r = cli("predict", "-i", "s=a", "-i", "n=11", cwd=root)
    assert r.returncode == 1 and 'error: input "n" must be <= 10, got 11' in r.stderr.splitlines()
    r = cli("predict", "-i", "s=a", "-i", "f=@missing.txt", cwd=root)
    assert r.returncode == 1 and 'input "f": file missing.txt not found' in r.stderr
    assert created_containers(docker_client, since) == 0
    assert r.stdout == ""
    ok(cli("predict", "-i", "s=valid", cwd=root))  # and the count does see a prediction container
    assert created_containers(docker_client, since) == 1


def test_editing_predict_py_needs_no_rebuild(project):
    root = project(HELLO)
    assert ok(cli("predict", "-i", "text=world", cwd=root)).stdout == "hello world\n"
    (root / "predict.py").write_text(HELLO.replace('"hello "', '"goodbye "'))
    r = ok(cli("predict", "-i", "text=world", cwd=root))
    assert r.stdout == "goodbye world\n"
    assert "building" not in r.stderr.lower() or "up to date" in r.stderr


def test_setup_failure_prints_the_setup_logs(project, docker_client):
    root = project(SETUP_FAILS)
    r = cli("predict", "-i", "s=x", "--setup-timeout", "60", cwd=root)
    assert r.returncode == 1
    assert "loading weights from /nowhere" in r.stderr
    assert "weights are missing" in r.stderr
    assert "setup() failed" in r.stderr
    assert leftover(docker_client) == []


def test_failed_prediction_exits_1(project):
    root = project(PREDICT_FAILS)
    r = cli("predict", "-i", "s=x", cwd=root)
    assert r.returncode == 1 and "bad luck: x" in r.stderr
    r = cli("predict", "--json", '{"s": "y"}', cwd=root)
    assert r.returncode == 1 and json.loads(r.stdout)["status"] == "failed"


def test_ctrl_c_removes_the_container(project, docker_client):
    root = project(
        TYPES.replace(
            'print("predicting", s)', 'print("predicting", s, flush=True); import time; time.sleep(60)'
        )
    )
    proc = subprocess.Popen(
        [COG, "predict", "-i", "s=slow"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and not leftover(docker_client):
        time.sleep(0.1)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "predicting slow" in err  # the prediction's logs are shown while it runs
    assert leftover(docker_client) == []


# ---------------------------------------------------------------------------------------------- run


def test_run_exit_code_stdin_and_project_at_src(project, docker_client):
    root = project(HELLO)
    assert cli("run", "python", "-c", "import sys; sys.exit(3)", cwd=root).returncode == 3
    r = ok(cli("run", "python", "-c", "import sys; print(sys.stdin.read().upper())", cwd=root, input="hi\n"))
    assert r.stdout == "HI\n\n"
    r = ok(cli("exec", "-e", "GREETING=hey", "sh", "-c", 'pwd; ls; echo "$GREETING" >&2', cwd=root))
    assert r.stdout.splitlines()[0] == "/src" and "predict.py" in r.stdout and "hey" in r.stderr
    r = ok(cli("run", "python", "-c", "open('/src/made.txt', 'w').write('x')", cwd=root))
    assert (root / "made.txt").read_text() == "x"
    assert leftover(docker_client) == []


# ---------------------------------------------------------------------------------------------- serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


HELLO_LOUD = """
from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def setup(self) -> None:
        print("loading the model")

    def predict(self, text: str = Input(description="Text")) -> str:
        print("predicting for", text)
        return "hello " + text
"""


def test_serve_is_reachable_shows_model_output_once_and_stops_cleanly(project, docker_client):
    root = project(HELLO_LOUD)
    port = _free_port()
    proc = subprocess.Popen(
        [COG, "serve", "-p", str(port)], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.time() + 180
        status = None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health-check", timeout=2) as resp:
                    status = json.load(resp).get("status")
                if status == "READY":
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert status == "READY", proc.stderr.read() if proc.poll() is not None else "not ready"
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/predictions",
            data=json.dumps({"input": {"text": "serve"}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert json.load(resp)["output"] == "hello serve"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Ready: http://127.0.0.1:" in err
    assert err.count("loading the model") == 1 and "predicting for serve" in err
    assert leftover(docker_client) == []


def test_serve_upload_url_on_this_machine(project, docker_client):
    """--upload-url on 127.0.0.1: the container shares the host's network so it can PUT there."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: dict[str, bytes] = {}

    class Put(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_PUT(self) -> None:  # noqa: N802
            received[self.path] = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(201)
            self.end_headers()

    upload = ThreadingHTTPServer(("127.0.0.1", 0), Put)
    threading.Thread(target=upload.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    root = project(ONE_FILE)
    port = _free_port()
    url = f"http://127.0.0.1:{upload.server_address[1]}/up/"
    proc = subprocess.Popen(
        [COG, "serve", "-p", str(port), "--upload-url", url],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health-check", timeout=2) as resp:
                    if json.load(resp).get("status") == "READY":
                        break
            except OSError:
                pass
            time.sleep(0.2)
        data = "data:image/png;base64," + base64.b64encode(b"abc").decode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/predictions",
            data=json.dumps({"input": {"image": data}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            pred = json.load(resp)
        assert pred["status"] == "succeeded", pred
        assert pred["output"].startswith(url)
        assert list(received.values()) == [b"cba"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        upload.shutdown()
    assert leftover(docker_client) == []


# ---------------------------------------------------------------------------------------------- registry


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real registry (Distribution) with htpasswd authentication on a free 127.0.0.1 port."""
    exe = shutil.which("docker-registry")
    assert exe, "docker-registry is not installed (scripts/dev-env up installs it)"
    d = tmp_path_factory.mktemp("registry")
    (d / "htpasswd").write_text(HTPASSWD)
    port = _free_port()
    (d / "config.yml").write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {d / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
        f"auth: {{htpasswd: {{realm: cogpin-tests, path: {d / 'htpasswd'}}}}}\n"
    )
    with open(d / "registry.log", "w") as log:
        proc = subprocess.Popen([exe, "serve", str(d / "config.yml")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    break
            except OSError:
                pass
            assert time.time() < deadline and proc.poll() is None, (d / "registry.log").read_text()
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_login_push_repush_pull_by_digest(project, auth_registry, docker_client, tmp_path):
    root = project(HELLO)
    docker_config = tmp_path / "docker-config"
    env = {"DOCKER_CONFIG": str(docker_config)}
    target = f"{auth_registry}/{USER}/journey"

    # no target anywhere: says how to set one
    r = cli("push", cwd=root, env=env)
    assert r.returncode == 1 and "image:" in r.stderr and "cog push" in r.stderr

    # not logged in: one line with what to do
    r = cli("push", target, cwd=root, env=env)
    assert r.returncode == 1, r.stdout
    assert "not logged in" in r.stderr and f"cog login {auth_registry}" in r.stderr

    # wrong password: refused, nothing stored
    r = cli("login", auth_registry, "-u", USER, "--password-stdin", cwd=root, env=env, input="wrong\n")
    assert r.returncode == 1 and "wrong username or password" in r.stderr
    assert not (docker_config / "config.json").exists()

    r = ok(
        cli("login", auth_registry, "-u", USER, "--password-stdin", cwd=root, env=env, input=PASSWORD + "\n")
    )
    assert "Login Succeeded" in r.stdout
    cfg = json.loads((docker_config / "config.json").read_text())
    assert cfg["auths"][auth_registry]["auth"] == base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    # first push: prints the reference with its digest
    r = ok(cli("push", target, cwd=root, env=env))
    pinned = r.stdout.strip().splitlines()[-1]
    assert pinned.startswith(f"{target}@sha256:"), r.stdout
    digest = pinned.split("@", 1)[1]
    assert "layers uploaded" in r.stderr

    # unchanged: nothing uploaded, same digest
    r = ok(cli("push", target, cwd=root, env=env))
    assert "0 layers uploaded" in r.stderr, r.stderr
    assert r.stdout.strip().endswith(digest)

    # only predict.py changed: only the small top layer goes up
    (root / "predict.py").write_text(HELLO.replace('"hello "', '"hi "'))
    r = ok(cli("push", target, cwd=root, env=env))
    assert "1 layer uploaded" in r.stderr, r.stderr
    new_pinned = r.stdout.strip().splitlines()[-1]
    assert new_pinned != pinned

    # a clean engine state pulls the pushed digest and gets the same image
    image_id = docker_client.images.get(f"{target}:latest").id
    docker_client.images.remove(image_id, force=True)
    from cogpin import registry as reg

    os.environ["DOCKER_CONFIG"] = str(docker_config)
    try:
        creds = reg.stored_credentials(auth_registry)
    finally:
        del os.environ["DOCKER_CONFIG"]
    assert creds == (USER, PASSWORD)
    pulled = docker_client.images.pull(new_pinned, auth_config={"username": USER, "password": PASSWORD})
    assert pulled.id == image_id

    # and `cog predict IMAGE` runs it, validated against its schema label
    r = ok(cli("predict", new_pinned, "-i", "text=registry", cwd=tmp_path, env=env))
    assert r.stdout == "hi registry\n"
    r = cli("predict", new_pinned, "-i", "nope=1", cwd=tmp_path, env=env)
    assert r.returncode == 1 and 'unknown input "nope"' in r.stderr
    docker_client.images.remove(pulled.id, force=True)


def test_just_push_refuses_stale_or_uncommitted_lock(project, auth_registry, tmp_path):
    just = shutil.which("just", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert just, "just is not installed (it comes with the dev extras)"
    root = project(HELLO)
    shutil.copy(REPO / "src" / "cogpin" / "scaffold" / "justfile", root / "justfile")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DOCKER_CONFIG": str(tmp_path / "no-login"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)

    def just_push() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [just, "push", f"{auth_registry}/{USER}/journey-just"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )

    git("init", "-q")
    git("add", "cog.yaml", "predict.py", "justfile")
    git("commit", "-q", "-m", "model")
    r = just_push()
    assert r.returncode != 0 and "cog.lock is not committed" in r.stderr, r.stderr

    git("add", "cog.lock")
    git("commit", "-q", "-m", "lock")
    (root / "cog.lock").write_text((root / "cog.lock").read_text() + "\n# edited\n")
    r = just_push()
    assert r.returncode != 0 and "uncommitted changes" in r.stderr, r.stderr
    git("checkout", "cog.lock")

    (root / "cog.yaml").write_text(COG_YAML.replace('"3.11"', '"3.12"'))
    r = just_push()
    assert r.returncode != 0 and "stale" in r.stderr, r.stderr
    git("checkout", "cog.yaml")

    # fresh and committed: it gets as far as the registry (not logged in here)
    r = just_push()
    assert "not logged in" in r.stderr, r.stderr


def test_streaming_example_lock_is_committed_fresh_and_predicts(tmp_path: Path):
    root = tmp_path / "streaming"
    shutil.copytree(REPO / "examples" / "streaming", root)
    r = cli("lock", "--check", cwd=root)
    assert r.returncode == 0, (
        f"examples/streaming/cog.lock is stale: run `cogpin lock` there\n{r.stdout}{r.stderr}"
    )
    r = ok(cli("predict", "-i", "prompt=the quick brown fox", cwd=root))
    assert r.stdout == "the quick brown fox\n"
    assert len((REPO / "examples" / "streaming" / "README.md").read_text().strip().splitlines()) == 3
