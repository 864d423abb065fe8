"""Predictor forms, iterators, async concurrency, SSE, trainings, files."""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import time
from pathlib import Path

import pytest
from cogrt import CogServer, write


@pytest.mark.parametrize(
    ("filename", "ref", "source"),
    [
        ("predict.py", "predict.py:predict", "def predict(s: str) -> str:\n    return s.upper()\n"),
        (
            "predict.py",
            "predict.py:Predictor",
            "class Predictor:\n    def predict(self, s: str) -> str:\n        return s.upper()\n",
        ),
        (
            "predict.py",
            "predict.py:Runner",
            "from cog import BaseRunner\nclass Runner(BaseRunner):\n    def run(self, s: str) -> str:\n        return s.upper()\n",
        ),
        (
            "src/predict.py",
            "src/predict.py:Predictor",
            "from helper import up\nfrom cog import BasePredictor\nclass Predictor(BasePredictor):\n"
            "    def predict(self, s: str) -> str:\n        return up(s)\n",
        ),
        (
            "predict.py",
            "predict.py:Predictor",
            "from __future__ import annotations\nfrom typing import Optional\nfrom cog import BasePredictor, Input\n"
            "class Predictor(BasePredictor):\n    def predict(self, s: str, t: str | None = None) -> str:\n"
            "        return s.upper() + (t or '')\n",
        ),
    ],
    ids=["function", "plain-class", "base-runner", "subfolder", "future-annotations"],
)
def test_predictor_forms(serve, tmp_path, filename, ref, source) -> None:
    write(tmp_path, "src/helper.py", "def up(s):\n    return s.upper()\n")
    s = serve(source, ref=ref, filename=filename)
    code, body = s.predict({"s": "hi"})
    assert body["status"] == "succeeded", body
    assert body["output"] == "HI"


def test_weights_from_env(serve, tmp_path) -> None:
    s = serve(
        "from cog import BasePredictor\nclass Predictor(BasePredictor):\n"
        "    def setup(self, weights=None):\n        self.w = str(weights)\n"
        "    def predict(self) -> str:\n        return self.w\n",
        env={"COG_WEIGHTS": "https://example.invalid/w.tar"},
    )
    assert s.predict({})[1]["output"] == "https://example.invalid/w.tar"


ITER = """
from typing import Iterator
from cog import BasePredictor, ConcatenateIterator, Input

class Predictor(BasePredictor):
    def predict(self, n: int = 3, fail_at: int = -1) -> ConcatenateIterator[str]:
        for i in range(n):
            if i == fail_at:
                raise RuntimeError("broke at %d" % i)
            print("token", i)
            yield f"t{i} "
"""


def test_iterator_output_is_list(serve) -> None:
    s = serve(ITER)
    code, body = s.predict({"n": 3})
    assert body["status"] == "succeeded" and body["output"] == ["t0 ", "t1 ", "t2 "]
    assert "token 2" in body["logs"]


def test_iterator_that_raises_keeps_outputs(serve) -> None:
    s = serve(ITER)
    code, body = s.predict({"n": 5, "fail_at": 2})
    assert body["status"] == "failed" and body["error"] == "broke at 2"
    assert body["output"] == ["t0 ", "t1 "]


STREAM = """
import time
from cog import BasePredictor, current_scope, streaming
from typing import Iterator

class Predictor(BasePredictor):
    @streaming
    def predict(self, n: int = 3) -> Iterator[str]:
        for i in range(n):
            print("log", i)
            current_scope().record_metric("i", i)
            yield f"c{i}"
"""


def sse_events(port: int, body: dict) -> list[tuple[str, dict]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(
        "POST",
        "/predictions",
        body=json.dumps(body),
        headers={"Accept": "text/event-stream", "Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream"
    events = []
    for block in resp.read().decode().split("\n\n"):
        if block.strip():
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_sse_streaming(serve) -> None:
    s = serve(STREAM)
    events = sse_events(s.port, {"input": {"n": 3}})
    names = [e for e, _ in events]
    assert names[0] == "start" and names[-1] == "completed"
    outputs = [d for e, d in events if e == "output"]
    assert outputs == [{"chunk": "c0", "index": 0}, {"chunk": "c1", "index": 1}, {"chunk": "c2", "index": 2}]
    assert "log" in names and "metric" in names
    assert events[-1][1]["status"] == "succeeded" and events[-1][1]["output"] == ["c0", "c1", "c2"]


def test_sse_without_decorator_is_406(serve) -> None:
    s = serve(ITER)
    code, body = s.predict({}, headers={"Accept": "text/event-stream"})
    assert code == 406


ASYNC = """
import asyncio
from cog import BasePredictor, AsyncConcatenateIterator

class Predictor(BasePredictor):
    async def setup(self):
        await asyncio.sleep(0)

    async def predict(self, delay: float = 0.0, tag: str = "") -> str:
        print("start", tag)
        await asyncio.sleep(delay)
        print("end", tag)
        return tag
"""


def test_async_concurrency_slots(serve) -> None:
    s = serve(ASYNC, env={"COG_MAX_CONCURRENCY": "3"})
    ids = []
    for i in range(3):
        code, body = s.predict({"delay": 1.0, "tag": f"t{i}"}, headers={"Prefer": "respond-async"})
        assert code == 202
        ids.append(body["id"])
    assert s.health()["status"] == "BUSY"
    assert s.predict({"tag": "extra"})[0] == 409
    results = [s.wait_prediction(i) for i in ids]
    assert [r["output"] for r in results] == ["t0", "t1", "t2"]
    for i, r in enumerate(results):  # logs are attributed to their own prediction
        assert f"start t{i}" in r["logs"] and f"end t{i}" in r["logs"]
        assert all(f"t{j}" not in r["logs"] for j in range(3) if j != i)


def test_async_concurrent_sync_clients(serve) -> None:
    s = serve(ASYNC, env={"COG_MAX_CONCURRENCY": "4"})
    results: list = []

    def client(i: int) -> None:
        results.append(s.predict({"delay": 0.5, "tag": str(i)}))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(b["output"] for _, b in results) == ["0", "1", "2", "3"]
    assert time.monotonic() - t0 < 1.9  # ran side by side, not one after another


def test_async_cancel(serve) -> None:
    s = serve(ASYNC, env={"COG_MAX_CONCURRENCY": "2"})
    code, body = s.predict({"delay": 10, "tag": "x"}, headers={"Prefer": "respond-async"})
    time.sleep(0.2)
    assert s.post(f"/predictions/{body['id']}/cancel")[0] == 200
    assert s.wait_prediction(body["id"], timeout=5)["status"] == "canceled"


def test_async_generator(serve) -> None:
    s = serve(
        "from typing import AsyncIterator\nfrom cog import BasePredictor\nclass Predictor(BasePredictor):\n"
        "    async def predict(self, n: int = 2) -> AsyncIterator[int]:\n        for i in range(n):\n            yield i\n"
    )
    assert s.predict({"n": 3})[1]["output"] == [0, 1, 2]


def test_trainings(serve, tmp_path) -> None:
    write(
        tmp_path,
        "train.py",
        "from cog import Input, Path\ndef train(steps: int = Input(default=1, le=5)) -> str:\n    print('training')\n    return 'trained %d' % steps\n",
    )
    s = serve(
        "def predict(s: str) -> str:\n    return s\n",
        ref="predict.py:predict",
        env={"COG_TRAIN_TYPE_STUB": "train.py:train"},
    )
    assert "trainings_url" in s.get("/")[1]
    code, body = s.post("/trainings", {"input": {"steps": 3}})
    assert code == 200 and body["output"] == "trained 3" and "training" in body["logs"]
    assert s.post("/trainings", {"input": {"steps": 9}})[0] == 422
    code, body = s.request("PUT", "/trainings/tr-1", {"input": {}}, headers={"Prefer": "respond-async"})
    assert code == 202
    assert s.wait_prediction("tr-1", kind="trainings")["output"] == "trained 1"
    assert s.post("/trainings/tr-unknown/cancel")[0] == 404
    assert s.predict({"s": "p"})[1]["output"] == "p"


FILES = """
import os
from typing import List, Optional
from cog import BaseModel, BasePredictor, File, Input, Path

class Out(BaseModel):
    path: Path
    size: int

class Predictor(BasePredictor):
    def predict(self, f: Optional[Path] = None, fs: List[Path] = Input(default=[]), raw: Optional[File] = None,
                url: str = "", make: int = 0, img: Optional[Path] = Input(default=None, accept="image/*")) -> Out:
        if make:
            p = Path("/tmp/out-%d.bin" % os.getpid())
            p.write_bytes(b"z" * make)
            return Out(path=p, size=make)
        if raw is not None:
            data = raw.read()
            return Out(path=Path(__file__), size=len(data))
        total = sum(x.stat().st_size for x in fs)
        if f is not None:
            with open("/tmp/last-input-path", "w") as out:
                out.write(str(f))
            total += f.stat().st_size
        return Out(path=Path(__file__), size=total)
"""


def data_url(data: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_data_url_input_and_temp_file_removed(serve) -> None:
    s = serve(FILES)
    code, body = s.predict({"f": data_url(b"hello"), "fs": [data_url(b"ab"), data_url(b"c")]})
    assert body["status"] == "succeeded", body
    assert body["output"]["size"] == 8
    with open("/tmp/last-input-path") as f:
        assert not os.path.exists(f.read())


def test_file_object_input(serve) -> None:
    s = serve(FILES)
    assert s.predict({"raw": data_url(b"12345")})[1]["output"]["size"] == 5


def test_http_url_input(serve, receiver) -> None:
    receiver.files["/in/data.bin"] = b"x" * 1000
    s = serve(FILES)
    code, body = s.predict({"f": receiver.url + "/in/data.bin"})
    assert body["status"] == "succeeded" and body["output"]["size"] == 1000


def test_input_url_404_fails_prediction(serve, receiver) -> None:
    s = serve(FILES)
    code, body = s.predict({"f": receiver.url + "/missing.png"})
    assert code == 200 and body["status"] == "failed"
    assert "404" in body["error"] and "'f'" in body["error"]


def test_input_url_bad_scheme_is_422(serve) -> None:
    s = serve(FILES)
    for bad in ("file:///etc/passwd", "ftp://x/y", "/etc/passwd"):
        code, body = s.predict({"f": bad})
        assert code == 422 and body["detail"][0]["loc"] == ["body", "input", "f"]


def test_string_that_looks_like_url_stays_string(serve) -> None:
    s = serve("def predict(u: str) -> str:\n    return u\n", ref="predict.py:predict")
    assert s.predict({"u": "http://127.0.0.1:1/x"})[1]["output"] == "http://127.0.0.1:1/x"


def test_file_output_as_data_url(serve) -> None:
    s = serve(FILES)
    code, body = s.predict({"make": 1 << 20})
    url = body["output"]["path"]
    assert url.startswith("data:application/octet-stream;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == b"z" * (1 << 20)
    assert body["output"]["size"] == 1 << 20


def test_file_output_uploaded(serve, receiver) -> None:
    s = serve(FILES, args=["--upload-url", receiver.url + "/upload/"])
    code, body = s.predict({"make": 10})
    assert body["status"] == "succeeded", body
    url = body["output"]["path"]
    assert url.startswith(receiver.url + "/upload/out-") and url.endswith(".bin")
    path = url[len(receiver.url) :]
    assert receiver.files[path] == b"z" * 10
    put = [r for r in receiver.requests if r.get("method") == "PUT"][0]
    assert put["headers"]["Content-Type"] == "application/octet-stream"


def test_large_data_url_input(serve) -> None:
    s = serve(FILES)
    code, body = s.predict({"f": data_url(b"q" * (20 << 20))}, timeout=60)
    assert body["status"] == "succeeded" and body["output"]["size"] == 20 << 20


def test_accept_rejects_other_files(serve) -> None:
    s = serve(FILES)
    code, body = s.predict({"img": data_url(b"x", "text/plain")})
    assert code == 422 and body["detail"][0]["type"] == "value_error.file_type"
    assert s.predict({"img": "http://127.0.0.1:1/a.txt"})[0] == 422
    code, body = s.predict({"img": data_url(b"x", "image/png")})
    assert code == 200 and body["status"] == "succeeded"


OTHER_PYTHONS = [Path(f"/root/.pyenv/versions/{v}/bin/python") for v in ("3.9.18", "3.12.1", "3.13.0")]


@pytest.mark.parametrize(
    "python",
    [p for p in OTHER_PYTHONS if p.exists()] or [None],
    ids=lambda p: p.parent.parent.name if p else "none",
)
def test_server_on_other_pythons(tmp_path, python) -> None:
    if python is None:
        pytest.skip("no other Python versions on this machine")
    write(
        tmp_path,
        "predict.py",
        ITER.replace(
            "from typing import Iterator", "from __future__ import annotations\nfrom typing import Iterator"
        )
        + "\n\nclass P2(Predictor):\n    def predict(self, s: str | None = None, xs: list[int] = [1]) -> str:\n        print('py', s)\n        return str(s) + str(xs)\n",
    )
    server = CogServer(tmp_path, "predict.py:P2", python=str(python))
    try:
        server.wait_status("READY")
        code, body = server.predict({"s": "a", "xs": [2]})
        assert body["output"] == "a[2]" and "py a" in body["logs"]
        assert server.predict({"s": 1})[0] == 422
    finally:
        server.stop()
