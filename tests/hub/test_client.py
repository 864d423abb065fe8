"""The official replicate==1.0.7 client, unmodified, against a real hub serving models pushed with
`cogpin push` to the dev registry, run on the real engine."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import docker
import httpx
import pytest

from tests.hub.conftest import HubProcess, run_client

pytestmark = pytest.mark.engine


def test_tutorial_line_verbatim(client: Any, hub_models: Any) -> None:
    v = hub_models["hello-world"]
    result = client(
        f"""
        import contextlib, io
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            output = replicate.run("{v.versioned}",
                                   input={{"text": "python"}})
            print(output)  # hello python
        by_model = replicate.run("{v.ref}", input={{"text": "python"}})
        no_wait = replicate.run("{v.versioned}", input={{"text": "python"}}, wait=False)
        wait_5 = replicate.run("{v.versioned}", input={{"text": "python"}}, wait=5)
        result = [buf.getvalue(), by_model, no_wait, wait_5]
        """
    )
    assert result == ["hello python\n", "hello python", "hello python", "hello python"]


def test_file_inputs_arrive_byte_for_byte(client: Any, hub_models: Any, tmp_path: Any) -> None:
    v = hub_models["files"]
    data = os.urandom(50_000) + b"\x00end"
    src = tmp_path / "mystery.bin"
    src.write_bytes(data)
    result = client(
        f"""
        import base64, hashlib, http.server, pathlib, threading
        src = pathlib.Path({str(src)!r})
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = src.read_bytes()
                self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                self.wfile.write(body)
            def log_message(self, *a): pass
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{{srv.server_address[1]}}/mystery.bin"
        def sha(out):
            assert isinstance(out, replicate.helpers.FileOutput), type(out)
            return hashlib.sha256(out.read()).hexdigest()
        with open(src, "rb") as f:
            a = sha(replicate.run("{v.versioned}", input={{"file": f}}))
        b = sha(replicate.run("{v.versioned}", input={{"file": src}}))
        c = sha(replicate.run("{v.versioned}", input={{"file": src}}, file_encoding_strategy="base64"))
        d = sha(replicate.run("{v.versioned}", input={{"file": url}}))
        result = [a, b, c, d]
        """
    )
    import hashlib

    assert result == [hashlib.sha256(data).hexdigest()] * 4


def test_path_and_list_of_paths_outputs(client: Any, hub_models: Any) -> None:
    files, plist = hub_models["files"], hub_models["pathlist"]
    result = client(
        f"""
        out = replicate.run("{files.versioned}", input={{}})
        outs = replicate.run("{plist.versioned}", input={{"n": 3}})
        raw = replicate.run("{plist.versioned}", input={{"n": 1}}, use_file_output=False)
        result = [out.read().decode(), outs[0].read().decode(), outs[2].read().decode(), len(outs),
                  raw[0][:5]]
        """
    )
    assert result == ["no file", "item 0", "item 2", 3, "data:"]


def test_iterator_run_and_stream(client: Any, hub_models: Any) -> None:
    s, files = hub_models["streaming"], hub_models["files"]
    prompt = "the quick brown fox jumps over the lazy dog"
    result = client(
        f"""
        import types
        gen = replicate.run("{s.versioned}", input={{"prompt": {prompt!r}, "delay": 0.05}})
        is_gen = isinstance(gen, types.GeneratorType)
        text = "".join(gen)
        events = list(replicate.stream("{s.versioned}", input={{"prompt": {prompt!r}, "delay": 0.05}}))
        streamed = "".join(str(e) for e in events)
        try:
            list(replicate.stream("{files.versioned}", input={{"mode": "raise"}}))
            failed_stream = None
        except RuntimeError as e:
            failed_stream = str(e)
        result = [is_gen, text, streamed, events[-1].event.value, sum(1 for e in events if e.event.value == "output"),
                  failed_stream]
        """
    )
    assert result[:4] == [True, prompt, prompt, "done"]
    assert result[4] == len(prompt.split(" "))  # one output event per token, as they were produced
    assert result[5] and "raised on purpose" in result[5]  # an error event raises in the client


def test_predictions_create_get_cancel_list(client: Any, hub_models: Any) -> None:
    v, files = hub_models["hello-world"], hub_models["files"]
    result = client(
        f"""
        import time
        p = replicate.predictions.create(version="{v.version}", input={{"text": "api"}})
        p.wait()
        got = replicate.predictions.get(p.id)
        long = replicate.predictions.create(version="{files.version}", input={{"mode": "sleep", "seconds": 120}})
        while replicate.predictions.get(long.id).status != "processing":
            time.sleep(0.1)
        t = time.monotonic()
        long.cancel()
        while replicate.predictions.get(long.id).status not in ("canceled", "failed", "succeeded"):
            time.sleep(0.1)
        took = time.monotonic() - t
        after = replicate.predictions.get(long.id)
        ids = [x.id for page in replicate.paginate(replicate.predictions.list) for x in page.results]
        # the container is free again: the next prediction on it runs at once
        again = replicate.run("{files.versioned}", input={{}}).read().decode()
        result = [p.status, p.output, got.output, after.status, took, p.id in ids, long.id in ids, again]
        """
    )
    assert result[:4] == ["succeeded", "hello api", "hello api", "canceled"]
    assert result[4] < 5, f"canceled after {result[4]:.1f} s"
    assert result[5:] == [True, True, "no file"]


def test_pagination_follows_next(hub_server: HubProcess, hub_models: Any) -> None:
    v = hub_models["hello-world"]
    ids = []
    for i in range(3):
        r = httpx.post(
            f"{hub_server.url}/v1/predictions",
            json={"version": v.version, "input": {"text": str(i)}},
            headers={**hub_server.headers, "Prefer": "wait"},
            timeout=70,
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    seen: list[str] = []
    url: str | None = f"{hub_server.url}/v1/predictions"
    pages = 0
    # the first page is 100 long by default: the hub honours the cursor it gives out
    while url and pages < 50:
        page = httpx.get(url, headers=hub_server.headers, timeout=60).json()
        seen += [p["id"] for p in page["results"]]
        url = page["next"]
        pages += 1
    assert seen.index(ids[2]) < seen.index(ids[1]) < seen.index(ids[0])  # newest first
    assert len(seen) == len(set(seen))


def test_webhooks_with_filter_and_signature(client: Any, hub_models: Any) -> None:
    v = hub_models["hello-world"]
    result = client(
        f"""
        import http.server, threading, time
        got = []
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((dict(self.headers), body.decode()))
                self.send_response(204); self.end_headers()
            def log_message(self, *a): pass
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{{srv.server_address[1]}}/hook"
        secret = replicate.webhooks.default.secret()
        p = replicate.predictions.create(version="{v.version}", input={{"text": "hook"}}, webhook=url,
                                         webhook_events_filter=["start", "completed"])
        p.wait()
        deadline = time.time() + 10
        while len(got) < 2 and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # anything more would arrive now
        valid = []
        for headers, body in got:
            replicate.webhooks.validate(headers=headers, body=body, secret=secret)  # raises when invalid
            valid.append(True)
        tampered = False
        try:
            replicate.webhooks.validate(headers=got[0][0], body=got[0][1] + " ", secret=secret)
        except replicate.webhook.InvalidSignatureError:
            tampered = True
        result = [[json.loads(b)["status"] for _, b in got], valid, tampered, json.loads(got[-1][1])["output"]]
        """
    )
    statuses, valid, tampered, output = result
    assert statuses == ["processing", "succeeded"]  # exactly one start, one completed
    assert valid == [True, True] and tampered
    assert output == "hello hook"


def test_errors(client: Any, hub_models: Any, hub_server: HubProcess) -> None:
    files, hello = hub_models["files"], hub_models["hello-world"]
    result = client(
        f"""
        out = {{}}
        try:
            replicate.run("{files.versioned}", input={{"mode": "raise"}})
        except replicate.exceptions.ModelError as e:
            out["model"] = [e.prediction.status, str(e), "mode=raise" in (e.prediction.logs or "")]
        try:
            replicate.run("{files.versioned}", input={{"mode": "bogus", "seconds": "x"}})
        except replicate.exceptions.ReplicateError as e:
            out["invalid"] = [e.status, e.detail]
        try:
            replicate.run("{hello.ref}:{"0" * 64}", input={{"text": "x"}})
        except replicate.exceptions.ReplicateError as e:
            out["version"] = [e.status, e.title]
        try:
            replicate.run("{hello.ref}-nope", input={{"text": "x"}})
        except replicate.exceptions.ReplicateError as e:
            out["model404"] = [e.status, e.title]
        result = out
        """
    )
    assert result["model"][0] == "failed" and "raised on purpose" in result["model"][1] and result["model"][2]
    status, detail = result["invalid"]
    assert status == 422 and "mode" in detail and "seconds" in detail
    assert result["version"] == [404, "Not found"]
    assert result["model404"] == [404, "Not found"]
    # no token, and a wrong one: 401 with Replicate's problem body
    for env in ({"REPLICATE_API_TOKEN": ""}, {"REPLICATE_API_TOKEN": "r8_wrong"}):
        r = client(
            f"""
            try:
                replicate.run("{hello.versioned}", input={{"text": "x"}})
                result = None
            except replicate.exceptions.ReplicateError as e:
                result = [e.status, e.title, e.detail]
            """,
            env=env,
        )
        assert r == [401, "Unauthenticated", "You did not pass a valid authentication token"]
    # `Token` works as well as `Bearer`, and nothing was started for the bad input
    r = httpx.get(
        f"{hub_server.url}/v1/account", headers={"Authorization": f"Token {hub_server.token}"}, timeout=60
    )
    assert r.status_code == 200
    r = httpx.post(
        f"{hub_server.url}/v1/predictions", content=b"{not json", headers=hub_server.headers, timeout=60
    )
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"


def test_models_versions_files(client: Any, hub_models: Any, registry: str) -> None:
    v = hub_models["hello-world"]
    img = docker.from_env().images.get(v.image)
    label_schema = json.loads(img.labels["run.cog.openapi_schema"])
    result = client(
        f"""
        import pathlib, tempfile
        m = replicate.models.get("{v.ref}")
        ver = m.versions.get("{v.version}")
        listed = m.versions.list().results[0].id
        p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
        p.write_text("hello file")
        f = replicate.files.create(p)
        g = replicate.files.get(f.id)
        names = [x.id for x in replicate.files.list()]
        deleted = replicate.files.delete(f.id)
        missing = None
        try:
            replicate.files.get(f.id)
        except replicate.exceptions.ReplicateError as e:
            missing = e.status
        result = [m.latest_version.id, ver.openapi_schema["components"]["schemas"]["Input"], listed,
                  g.size, g.name, f.id in names, deleted, missing, replicate.default_client.accounts.current().type,
                  [h.sku for h in replicate.hardware.list()]]
        """
    )
    assert result[0] == v.version
    assert result[1] == label_schema["components"]["schemas"]["Input"]
    assert result[2] == v.version
    assert result[3:9] == [10, "x.txt", True, True, 404, "user"]
    assert "cpu" in result[9]


def test_crash_mid_prediction_fails_it_and_the_next_runs(client: Any, hub_models: Any) -> None:
    v = hub_models["files"]
    result = client(
        f"""
        try:
            replicate.run("{v.versioned}", input={{"mode": "exit"}})
            crashed = None
        except replicate.exceptions.ModelError as e:
            crashed = [e.prediction.status, e.prediction.error]
        after = replicate.run("{v.versioned}", input={{}}).read().decode()
        result = [crashed, after]
        """
    )
    (status, error), after = result
    assert status == "failed" and "exited with code 3" in error, error
    assert after == "no file"


def test_setup_failure_fails_with_logs_and_does_not_loop(
    client: Any, hub_models: Any, hub_server: HubProcess
) -> None:
    v = hub_models["setupfail"]
    result = client(
        f"""
        out = []
        for _ in range(2):
            try:
                replicate.run("{v.versioned}", input={{}})
            except replicate.exceptions.ModelError as e:
                out.append([e.prediction.status, e.prediction.error, e.prediction.logs])
        result = out
        """
    )
    assert len(result) == 2
    for status, error, logs in result:
        assert status == "failed" and "setup failed" in error
        assert "setup failed on purpose" in logs and "loading weights" in logs
    # one container was tried, not one per prediction (and none is left running)
    import hashlib

    hub_id = hashlib.sha256(str(hub_server.data.resolve()).encode()).hexdigest()[:16]
    left = docker.from_env().containers.list(
        all=True, filters={"label": [f"dev.cogpin.hub={hub_id}", f"dev.cogpin.hub.version={v.version}"]}
    )
    assert left == []


def test_concurrent_clients_queue_without_409(client: Any, hub_models: Any) -> None:
    v = hub_models["asyncmodel"]
    result = client(
        f"""
        from concurrent.futures import ThreadPoolExecutor
        def one(i):
            return replicate.run("{v.versioned}", input={{"text": str(i), "delay": 0.3}})
        with ThreadPoolExecutor(12) as ex:
            outs = list(ex.map(one, range(24)))
        result = outs
        """
    )
    assert result == [f"hello {i}" for i in range(24)]


def test_kill_9_mid_prediction_loses_nothing(replicate_venv: Any, hub_models: Any, own_hub: Any) -> None:
    files, hello = hub_models["files"], hub_models["hello-world"]
    hub = own_hub().start()
    h = hub.headers
    done = httpx.post(
        f"{hub.url}/v1/predictions", json={"version": hello.version, "input": {"text": "before"}},
        headers={**h, "Prefer": "wait"}, timeout=120,
    ).json()  # fmt: skip
    assert done["status"] == "succeeded"
    import http.server
    import threading

    hooks: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            hooks.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    long = httpx.post(
        f"{hub.url}/v1/predictions",
        json={"version": files.version, "input": {"mode": "sleep", "seconds": 60}, "webhook": hook_url,
              "webhook_events_filter": ["completed"]},
        headers=h, timeout=60,
    ).json()  # fmt: skip
    deadline = time.monotonic() + 120
    while (
        httpx.get(f"{hub.url}/v1/predictions/{long['id']}", headers=h, timeout=60).json()["status"]
        != "processing"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    queued = httpx.post(
        f"{hub.url}/v1/predictions",
        json={"version": files.version, "input": {"mode": "echo"}},
        headers=h,
        timeout=60,
    ).json()
    hub.kill()
    hub.start()
    deadline = time.monotonic() + 120
    while True:
        states = {
            pid: httpx.get(f"{hub.url}/v1/predictions/{pid}", headers=h, timeout=60).json()
            for pid in (done["id"], long["id"], queued["id"])
        }
        if all(s["status"] in ("succeeded", "failed", "canceled") for s in states.values()):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.2)
    assert states[done["id"]]["output"] == "hello before"
    assert states[long["id"]]["status"] == "failed" and "hub restarted" in states[long["id"]]["error"]
    assert states[queued["id"]]["status"] == "succeeded"  # accepted before the crash: run after it
    # the restarted hub still sends the completed webhook of the prediction it failed
    deadline = time.monotonic() + 20
    while not hooks and time.monotonic() < deadline:
        time.sleep(0.1)
    srv.shutdown()
    assert [(x["id"], x["status"]) for x in hooks] == [(long["id"], "failed")]
    assert hooks[0]["urls"]["get"] == f"{hub.url}/v1/predictions/{long['id']}"
    # and the restarted hub still serves the client
    out = run_client(
        replicate_venv, hub, f'result = replicate.run("{hello.versioned}", input={{"text": "after"}})'
    )
    assert out == "hello after"


def test_coglet_image_runs_through_the_hub(client: Any, coglet_model: Any) -> None:
    """Replicate's own runtime has no GET /predictions/{id}: the hub still runs it, by both paths."""
    v = coglet_model
    result = client(
        f"""
        out = replicate.run("{v.versioned}", input={{"text": "python"}})
        p = replicate.predictions.create(version="{v.version}", input={{"text": "coglet"}})
        p.wait()
        events = [str(e) for e in replicate.stream("{v.versioned}", input={{"text": "stream"}})]
        try:
            replicate.run("{v.versioned}", input={{"text": 3}})
            bad = None
        except replicate.exceptions.ReplicateError as e:
            bad = e.status
        result = [out, p.status, p.output, p.logs, "".join(events), bad]
        """
    )
    assert result == ["hello python", "succeeded", "hello coglet", "predicting coglet\n", "hello stream", 422]


def _containers_of(hub: HubProcess) -> list[Any]:
    import hashlib

    hub_id = hashlib.sha256(str(hub.data.resolve()).encode()).hexdigest()[:16]
    return docker.from_env().containers.list(all=True, filters={"label": f"dev.cogpin.hub={hub_id}"})


def test_idle_timeout_max_containers_and_ctrl_c(replicate_venv: Any, hub_models: Any, own_hub: Any) -> None:
    hello, files = hub_models["hello-world"], hub_models["files"]
    hub = own_hub("--idle-timeout", "3s", "--max-containers", "1").start()

    def run(code: str) -> Any:
        return run_client(replicate_venv, hub, code)

    assert run(f'result = replicate.run("{hello.versioned}", input={{"text": "a"}})') == "hello a"
    (c,) = _containers_of(hub)
    assert c.labels["dev.cogpin.hub.version"] == hello.version
    # a second version with --max-containers 1: the idle hello-world container makes room
    assert run(f'result = replicate.run("{files.versioned}", input={{}}).read().decode()') == "no file"
    (c,) = _containers_of(hub)
    assert c.labels["dev.cogpin.hub.version"] == files.version
    # idle for longer than --idle-timeout: stopped
    deadline = time.monotonic() + 30
    while _containers_of(hub):
        assert time.monotonic() < deadline, "the idle container was not stopped"
        time.sleep(0.2)
    # Ctrl-C stops the hub and the containers it started
    assert run(f'result = replicate.run("{hello.versioned}", input={{"text": "b"}})') == "hello b"
    assert len(_containers_of(hub)) == 1
    hub.stop()
    assert hub.proc is not None and hub.proc.returncode == 0
    assert _containers_of(hub) == []


def test_queued_predictions_run_in_order(hub_server: HubProcess, hub_models: Any) -> None:
    """A model with one slot: predictions sent at once run one after another, in the order they came."""
    files = hub_models["files"]
    ids = []
    for _ in range(5):
        r = httpx.post(
            f"{hub_server.url}/v1/predictions",
            json={"version": files.version, "input": {"mode": "sleep", "seconds": 0.2}},
            headers=hub_server.headers,
            timeout=60,
        )
        assert r.status_code == 201 and r.json()["status"] == "starting", r.text
        ids.append(r.json()["id"])
    deadline = time.monotonic() + 120
    while True:
        ps = [
            httpx.get(f"{hub_server.url}/v1/predictions/{i}", headers=hub_server.headers, timeout=60).json()
            for i in ids
        ]
        if all(p["status"] == "succeeded" for p in ps):
            break
        assert not any(p["status"] in ("failed", "canceled") for p in ps), ps
        assert time.monotonic() < deadline
        time.sleep(0.2)
    started = [p["started_at"] for p in ps]
    assert started == sorted(started)
    for a, b in zip(ps, ps[1:], strict=False):
        assert a["completed_at"] <= b["started_at"]  # one slot: never two at once


def test_large_file_outputs_come_back_as_file_urls(
    replicate_venv: Any, hub_models: Any, own_hub: Any, tmp_path: Any
) -> None:
    files = hub_models["files"]
    hub = own_hub("--max-inline", "0.01").start()  # 10 KiB
    data = os.urandom(40_000)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    result = run_client(
        replicate_venv,
        hub,
        f"""
        import pathlib, httpx, os
        out = replicate.run("{files.versioned}", input={{"file": pathlib.Path({str(src)!r})}})
        body = httpx.get(out, headers={{"Authorization": "Bearer " + os.environ["REPLICATE_API_TOKEN"]}}, timeout=60).content
        small = replicate.run("{files.versioned}", input={{}}).read().decode()
        result = [type(out).__name__, out.split("/v1/")[1][:6], body.hex(), small]
        """,
    )
    assert result[0] == "str" and result[1] == "files/"  # plain http: the client leaves it a string
    assert bytes.fromhex(result[2]) == data
    assert result[3] == "no file"  # small outputs are still data: URLs (FileOutput)


def test_webhook_output_events_are_throttled(client: Any, hub_models: Any) -> None:
    s = hub_models["streaming"]
    words = " ".join(f"w{i}" for i in range(30))
    result = client(
        f"""
        import http.server, threading, time
        got = []
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                got.append([time.monotonic(), body["status"], body["output"]])
                self.send_response(200); self.end_headers()
            def log_message(self, *a): pass
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        p = replicate.predictions.create(version="{s.version}", input={{"prompt": {words!r}, "delay": 0.1}},
                                         webhook=f"http://127.0.0.1:{{srv.server_address[1]}}/h",
                                         webhook_events_filter=["start", "output", "completed"])
        p.wait()
        deadline = time.time() + 10
        while (not got or got[-1][1] != "succeeded") and time.time() < deadline:
            time.sleep(0.1)
        result = got
        """
    )
    assert result[0][1] == "processing" and result[-1][1] == "succeeded"
    assert "".join(result[-1][2]) == words
    outputs = [r for r in result[1:-1] if r[1] == "processing"]
    assert outputs, "no output webhooks while it ran"
    gaps = [b[0] - a[0] for a, b in zip(outputs, outputs[1:], strict=False)]
    assert all(g >= 0.45 for g in gaps), gaps  # at most one output delivery per 500 ms
    assert len(outputs) < 30  # coalesced, not one per token
    lens = [len(r[2] or []) for r in outputs]
    assert lens == sorted(lens)  # each delivery carries the output so far


def test_prefer_wait_answers_starting_before_the_deadline(
    client: Any, hub_server: HubProcess, hub_models: Any
) -> None:
    files = hub_models["files"]
    body = {"version": files.version, "input": {"mode": "sleep", "seconds": 4}}
    t = time.monotonic()
    r = httpx.post(
        f"{hub_server.url}/v1/predictions",
        json=body,
        headers={**hub_server.headers, "Prefer": "wait=2"},
        timeout=10,
    )
    took = time.monotonic() - t
    assert r.status_code == 201 and r.headers["preference-applied"] == "wait"
    # not finished within the wait: "starting" (the client then polls), answered before the client's n + 0.5 s
    assert r.json()["status"] == "starting" and took < 2.5, (r.json()["status"], took)
    # and the official client gets the result through that path
    out = client(
        f'result = replicate.run("{files.versioned}", input={{"mode": "sleep", "seconds": 3}}, wait=1).read().decode()'
    )
    assert out == "no file"


def test_tokens_created_and_revoked_while_the_hub_runs(hub_server: HubProcess) -> None:
    from tests.hub.conftest import cogpin

    r = cogpin("hub", "token", "create", "--data", str(hub_server.data), "--name", "live")
    token = r.stdout.strip()
    assert (
        httpx.get(
            f"{hub_server.url}/v1/account", headers={"Authorization": f"Bearer {token}"}, timeout=60
        ).status_code
        == 200
    )
    assert cogpin("hub", "token", "revoke", "--data", str(hub_server.data), "live").returncode == 0
    r2 = httpx.get(f"{hub_server.url}/v1/account", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r2.status_code == 401 and r2.json()["title"] == "Unauthenticated"
