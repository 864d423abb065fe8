"""The ``Hub``: predictions from create to a terminal state, on model instances from a ``Runner``.

- Versions come from the :class:`~cogpin.hub.catalog.Catalog`, instances from the version's
  :class:`~cogpin.hub.pools.Pool` (one instance, ``concurrency.max`` slots, FIFO).
- A prediction is dispatched with the idempotent ``PUT /predictions/{id}`` (held until done); its output
  and logs are followed meanwhile with ``GET /predictions/{id}`` where the model server has it.
- Every change is saved to the store; events feed SSE streams and webhooks (``webhooks.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from cogpin.hub import core
from cogpin.hub.catalog import Catalog
from cogpin.hub.live import Live, replay
from cogpin.hub.pools import Pool, Pools
from cogpin.hub.prediction_files import container_input, render_output, store_outputs
from cogpin.hub.registry_index import RegistryIndex, VersionInfo
from cogpin.hub.runner import Instance, Runner, SetupFailed
from cogpin.hub.store import Store
from cogpin.hub.webhooks import Webhooks

log = logging.getLogger("cogpin.hub")


class Hub:
    def __init__(
        self,
        store: Store,
        index: RegistryIndex,
        runner: Runner,
        *,
        no_auth: bool = False,
        idle_timeout: float = 300.0,
        max_containers: int = 4,
        retention: float = 7 * 86400.0,
        max_inline: int = 16 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.index = index
        self.runner = runner
        self.no_auth = no_auth
        self.retention = retention
        self.max_inline = max_inline
        self.session_check: Callable[[str], bool] | None = None  # the web pages' cookie sessions
        self.catalog = Catalog(store, index)
        self.pools = Pools(runner, idle_timeout=idle_timeout, max_containers=max_containers)
        self.live: dict[str, Live] = {}
        self.webhook_secret = store.setting("webhook_secret", core.new_webhook_secret)
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(10, connect=5), follow_redirects=False)
        self.webhooks = Webhooks(store, self.http, self.webhook_secret, self.api)
        self._bg: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self._recover()
        self._bg.append(asyncio.create_task(self.pools.reaper()))
        self._bg.append(asyncio.create_task(self._retention_loop()))

    async def close(self) -> None:
        for t in self._bg:
            t.cancel()
        for live in list(self.live.values()):
            if live.task:
                live.task.cancel()
        await self.pools.stop_all()
        for p in self.store.unfinished_predictions(take_over=False):  # its own, not a gone hub's
            if p.started_at:  # running: its container is gone; queued ones run at the next start
                self._fail(p, "hub stopped while the prediction was running")
        await self.http.aclose()
        await self.index.close()
        await self.runner.close()

    async def _recover(self) -> None:
        """After a crash: each prediction left running is finished from its instance if that instance has
        the result, else failed with "hub restarted"; queued ones are run again. Leftover instances stop."""
        leftovers = {i.version: i for i in await self.runner.list()}
        for p in self.store.unfinished_predictions():
            if p.status == "processing" or (p.status == "starting" and p.started_at):
                await self._recover_running(p, leftovers.get(p.version))
            else:
                self._launch(p)
        await asyncio.gather(*(self.runner.stop(i) for i in leftovers.values()), return_exceptions=True)

    async def _recover_running(self, p: core.Prediction, inst: Instance | None) -> None:
        if inst and inst.url:
            try:
                r = await self.runner.call(inst, "GET", f"/predictions/{p.id}", timeout=5)
                body = r.json() if r.status_code == 200 else {}
            except (httpx.HTTPError, ValueError):
                body = {}
            # "canceled" here is the model server noticing the hub went away, not a user's cancel
            if body.get("status") in ("succeeded", "failed"):
                self._apply_result(p, body)
                self.store.save_prediction(p)
                self._deliver_completed(p)
                return
            try:
                await self.runner.call(inst, "POST", f"/predictions/{p.id}/cancel", timeout=5)
            except httpx.HTTPError:
                pass
        self._fail(p, "hub restarted while the prediction was running")
        self._deliver_completed(p)

    def _deliver_completed(self, p: core.Prediction) -> None:
        if p.webhook and core.webhook_wanted("completed", p.webhook_events_filter):
            self._bg.append(asyncio.create_task(self.webhooks.deliver(p, p.base, retry=True)))

    def _launch(self, p: core.Prediction, info: VersionInfo | None = None) -> Live:
        """Run a saved prediction in the background, its webhook sender beside it."""
        live = self.live[p.id] = Live(base=p.base)
        if p.webhook:
            live.hook_queue = asyncio.Queue()
            self._bg.append(asyncio.create_task(self.webhooks.sender(p.id, live.hook_queue, live.base)))
        live.task = asyncio.create_task(self._run(p, info))
        return live

    async def _retention_loop(self) -> None:
        while True:
            try:
                self.store.remove_expired(self.retention)
            except Exception:  # noqa: BLE001
                log.exception("retention sweep failed")
            await asyncio.sleep(min(3600.0, max(self.retention / 10, 1.0)))

    # ------------------------------------------------------------------------------------ auth
    def authenticate(self, authorization: str | None, cookies: dict[str, str] | None = None) -> bool:
        if self.no_auth:
            return True
        token = core.bearer(authorization)
        if token and self.store.check_token(token):
            return True
        session = (cookies or {}).get("cogpin_session")
        return bool(session and self.session_check and self.session_check(session))

    # ------------------------------------------------------------------------------------ predictions
    def api(self, p: core.Prediction, base: str) -> dict[str, Any]:
        return p.to_api(base, render_output(self.store, self.max_inline, base))

    async def create_prediction(
        self, body: Any, base: str, *, model: str | None = None, prefer: str | None = None
    ) -> dict[str, Any]:
        t0 = time.monotonic()
        req = core.parse_create(body, by_model=model is not None)
        if model is not None:
            info = (await self.catalog.existing(model))[0]
        else:
            info = await self.catalog.for_prediction(req["version"])
        cleaned, errors = core.validate_input(info.openapi_schema, req["input"])
        if errors:
            raise core.invalid("; ".join(errors))
        p = core.Prediction(
            id=core.new_id(),
            model=info.model,
            version=info.id,
            input=cleaned,
            webhook=req["webhook"],
            webhook_events_filter=req["webhook_events_filter"],
            stream=req["stream"],
            base=base,
        )
        self.store.save_prediction(p)
        live = self._launch(p, info)
        wait = core.wait_seconds(prefer)
        if wait:
            try:
                # answer before the client's own deadline (n + 0.5 s), counted from the request's arrival
                left = wait - 0.5 - (time.monotonic() - t0)
                await asyncio.wait_for(live.done_event.wait(), timeout=max(left, 0.05))
            except asyncio.TimeoutError:
                pass
            cur = self.store.get_prediction(p.id) or p
            out = self.api(cur, base)
            out["status"] = core.wait_reply_status(cur.status)
            return out
        return self.api(p, base)

    def get_prediction(self, pid: str, base: str = "") -> dict[str, Any]:
        p = self.store.get_prediction(pid)
        if not p:
            raise core.not_found(f"prediction {pid} does not exist")
        return self.api(p, base)

    def list_predictions(self, base: str = "", cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
        before = core.decode_cursor(cursor) if cursor else None
        page, nxt = self.store.list_predictions(before, limit)
        return {
            "next": f"{base}/v1/predictions?cursor={core.encode_cursor(nxt)}" if nxt is not None else None,
            "previous": None,
            "results": [self.api(p, base) for p in page],
        }

    async def cancel_prediction(self, pid: str, base: str = "") -> dict[str, Any]:
        p = self.store.get_prediction(pid)
        if not p:
            raise core.not_found(f"prediction {pid} does not exist")
        live = self.live.get(pid)
        if p.done or not live:
            return self.api(p, base)
        live.cancel_requested = True
        if live.dispatched and live.inst:
            try:
                await self.runner.call(live.inst, "POST", f"/predictions/{pid}/cancel", timeout=5)
            except httpx.HTTPError:
                pass
            try:
                await asyncio.wait_for(live.done_event.wait(), timeout=3)
            except asyncio.TimeoutError:
                pass
        p = self.store.get_prediction(pid) or p
        if not p.done:
            # not dispatched yet (queued or starting), or the model did not stop in time: canceled here
            self._finish(p, "canceled")
        return self.api(p, base)

    # ------------------------------------------------------------------------------------ events
    async def _emit(self, pid: str, event: str, data: str) -> None:
        live = self.live.get(pid)
        if live:
            await live.emit(event, data)

    async def events(self, pid: str) -> AsyncIterator[tuple[str, str, str]]:
        """SSE events (event, data, id) of a prediction: replayed from the start, then followed."""
        p = self.store.get_prediction(pid)
        if not p:
            raise core.not_found(f"prediction {pid} does not exist")
        live = self.live.get(pid)
        if live is None or (p.done and not live.events):
            base = live.base if live else ""
            for event in replay(p, self.api(p, base)["output"], self._iterates(p)):
                yield event
            return
        async for event in live.follow():
            yield event

    def _iterates(self, p: core.Prediction) -> bool:
        """Whether the prediction's output is an iterator (streamed item by item)."""
        return core.is_iterator(self.catalog.schema_of(p.model, p.version))

    # ------------------------------------------------------------------------------------ running
    async def _run(self, p: core.Prediction, info: VersionInfo | None = None) -> None:
        live = self.live[p.id]
        try:
            if info is None:
                info = await self.catalog.version(p.model, p.version)
            pool = self.pools.pool(info)
            async with self.pools.slot(pool):
                await self._execute(p, info, pool, live)
        except SetupFailed as e:
            self._fail(p, f"{e.reason}", e.logs)
        except asyncio.CancelledError:
            cur = self.store.get_prediction(p.id)
            if cur and not cur.done and cur.started_at:
                self._fail(cur, "hub stopped while the prediction was running")
            raise
        except Exception as e:  # noqa: BLE001 - the hub stays up; the prediction says why
            log.exception("prediction %s", p.id)
            cur = self.store.get_prediction(p.id) or p
            if not cur.done:
                self._fail(cur, f"internal error in the hub: {type(e).__name__}: {e}")
        finally:
            if getattr(self.runner, "scales", False):
                self.runner.release(p.id)  # type: ignore[attr-defined]
            cur = self.store.get_prediction(p.id)
            if cur and cur.done:
                await self._terminal_events(cur)

    async def _execute(self, p: core.Prediction, info: VersionInfo, pool: Pool, live: Live) -> None:
        sent = await self._dispatch(p, info, pool, live)
        if sent is not None:
            await self._settle(p, *sent, live)

    async def _dispatch(
        self, p: core.Prediction, info: VersionInfo, pool: Pool, live: Live
    ) -> tuple[httpx.Response, Instance] | None:
        """Send the prediction to an instance and wait for its answer (None: canceled, done or failed
        meanwhile); a busy or not yet ready model server is asked again."""
        waited = False
        while True:
            inst = await self.pools.instance(pool)
            if live.cancel_requested:
                return None
            p = self.store.get_prediction(p.id) or p
            if p.done:
                return None
            if not waited:
                inp = await container_input(self.store, self.http, info, p.input)
            body = {"id": p.id, "input": inp}
            if getattr(self.runner, "scales", False):  # one READY replica with a free slot (runner.release)
                inst = await self.runner.route(inst, p.id, pool.slots)  # type: ignore[attr-defined]
                if live.cancel_requested:
                    return None
            live.inst = inst
            live.dispatched = True
            if not p.started_at:
                p.set_status("processing")
                self.store.save_prediction(p)
                self._hook(p.id, "start")
            follower = asyncio.create_task(self._follow(p.id, inst, live))
            r: httpx.Response | None
            try:
                r = await self.runner.call(inst, "PUT", f"/predictions/{p.id}", json=body, timeout=None)
            except httpx.HTTPError as e:
                r = await self._after_broken_call(p, inst, pool, e)
                if r is None:
                    return None
            finally:
                if not follower.done():
                    follower.cancel()
            if r.status_code == 409:  # the model is busy (another client?): wait our turn, never a 409 here
                await asyncio.sleep(0.05)
                waited = True
                continue
            if r.status_code == 503:
                await asyncio.sleep(0.2)
                waited = True
                continue
            return r, inst

    async def _settle(self, p: core.Prediction, r: httpx.Response, inst: Instance, live: Live) -> None:
        """The model server's answer made the prediction's result (polled for when it answered early)."""
        p = self.store.get_prediction(p.id) or p
        if p.done:
            return
        try:
            result = r.json()
        except ValueError:
            result = {}
        if r.status_code == 422:
            self._fail(p, core.flatten_cog_detail(result.get("detail")))
            return
        if r.status_code >= 400 or not isinstance(result, dict):
            self._fail(p, f"the model server answered HTTP {r.status_code}: {r.text[:500]}")
            return
        if result.get("status") not in core.TERMINAL:
            # an async-only server (202): wait for the result by polling
            result = await self._poll_until_done(p.id, inst)
        await self._apply_progress(p.id, result, live)
        p = self.store.get_prediction(p.id) or p
        if not p.done:
            self._apply_result(p, result)
            self.store.save_prediction(p)

    async def _after_broken_call(
        self, p: core.Prediction, inst: Instance, pool: Pool, e: Exception
    ) -> httpx.Response | None:
        """The call to the model broke: its result if the container lives and has one, else the
        prediction fails with the container's fate and logs, and the instance is replaced."""
        st = await self.runner.state(inst)
        if st.running:
            try:
                r = await self.runner.call(inst, "GET", f"/predictions/{p.id}", timeout=5)
                if r.status_code == 200 and r.json().get("status") in core.TERMINAL:
                    return r
            except (httpx.HTTPError, ValueError):
                pass
        pool.inst = None
        await self.runner.stop(inst)
        reason = st.describe() if not st.running else f"lost the connection to the model: {e}"
        cur = self.store.get_prediction(p.id) or p
        if not cur.done:
            self._fail(cur, f"{reason} during the prediction", st.logs)
        return None

    async def _poll_until_done(self, pid: str, inst: Instance) -> dict[str, Any]:
        while True:
            await asyncio.sleep(0.2)
            r = await self.runner.call(inst, "GET", f"/predictions/{pid}", timeout=10)
            if r.status_code == 200 and r.json().get("status") in core.TERMINAL:
                return dict(r.json())
            if r.status_code == 404:
                return {"status": "failed", "error": "the model server lost the prediction"}

    async def _follow(self, pid: str, inst: Instance, live: Live) -> None:
        """Follow output and logs while the prediction runs (servers without GET /predictions/{id}
        give them at the end only)."""
        delay = 0.05
        try:
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
                try:
                    r = await self.runner.call(inst, "GET", f"/predictions/{pid}", timeout=10)
                except httpx.HTTPError:
                    continue
                if r.status_code in (404, 405):
                    return
                if r.status_code == 200:
                    await self._apply_progress(pid, r.json(), live)
        except asyncio.CancelledError:
            return

    async def _apply_progress(self, pid: str, body: dict[str, Any], live: Live) -> None:
        p = self.store.get_prediction(pid)
        if not p or p.done:
            return
        changed = False
        out = body.get("output")
        if self._iterates(p) and isinstance(out, list):
            have = p.output if isinstance(p.output, list) else []
            if len(out) > len(have):
                for item in out[len(have) :]:
                    await self._emit(pid, "output", core.output_event_data(item))
                p.output = out
                changed = True
                self._hook(pid, "output")
        logs = body.get("logs") or ""
        if isinstance(logs, str) and len(logs) > len(p.logs) and logs.startswith(p.logs):
            await self._emit(pid, "logs", logs[len(p.logs) :])
            p.logs = logs
            changed = True
            self._hook(pid, "logs")
        if changed:
            self.store.save_prediction(p)

    def _apply_result(self, p: core.Prediction, result: dict[str, Any]) -> None:
        status = result.get("status")
        if status not in core.TERMINAL:
            status = "failed"
        p.output = store_outputs(self.store, p.id, result.get("output"))
        p.logs = result.get("logs") or p.logs or ""
        p.error = result.get("error") if status == "failed" else None
        if status == "failed" and not p.error:
            p.error = "the prediction failed"
        metrics = result.get("metrics") or {}
        if isinstance(metrics, dict):
            p.metrics.update(metrics)
        if not p.started_at:
            p.started_at = core.now()
        p.set_status(status)

    def _finish(self, p: core.Prediction, status: str, error: str | None = None, logs: str = "") -> None:
        if p.done:
            return
        p.error = error
        if logs and not p.logs:
            p.logs = logs
        p.set_status(status)
        self.store.save_prediction(p)
        live = self.live.get(p.id)
        if live and not live.done_event.is_set():
            asyncio.get_event_loop().create_task(self._terminal_events(p))

    def _fail(self, p: core.Prediction, error: str, logs: str = "") -> None:
        self._finish(p, "failed", error, logs)

    async def _terminal_events(self, p: core.Prediction) -> None:
        live = self.live.get(p.id)
        if not live or live.done_event.is_set():
            return
        live.done_event.set()
        p = self.store.get_prediction(p.id) or p
        if p.status == "succeeded" and not self._iterates(p):
            await self._emit(p.id, "output", core.output_event_data(self.api(p, live.base)["output"]))
        elif p.status == "succeeded" and isinstance(p.output, list):
            sent = sum(1 for e, _ in live.events if e == "output")
            rendered = self.api(p, live.base)["output"]
            for item in rendered[sent:]:
                await self._emit(p.id, "output", core.output_event_data(item))
        if p.status == "failed":
            await self._emit(p.id, "error", json.dumps({"detail": p.error or "failed"}))
        await self._emit(p.id, "done", core.done_data(p.status))
        self._hook(p.id, "completed")
        asyncio.get_event_loop().call_later(60, self._forget, p.id)

    def _forget(self, pid: str) -> None:
        live = self.live.get(pid)
        if live and (live.hook_queue is None or live.hook_queue.empty()):
            self.live.pop(pid, None)

    # ------------------------------------------------------------------------------------ webhooks
    def _hook(self, pid: str, event: str) -> None:
        live = self.live.get(pid)
        if not live or live.hook_queue is None:
            return
        p = self.store.get_prediction(pid)
        if p and core.webhook_wanted(event, p.webhook_events_filter):
            live.hook_queue.put_nowait(event)
