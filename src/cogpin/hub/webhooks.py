"""Webhooks of predictions: the events a prediction's webhook asked for, coalesced (a burst of output or
logs is one delivery of the current state), signed (Standard Webhooks) and posted; the ``completed`` one
retried with backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from cogpin.hub import core
from cogpin.hub.store import Store

log = logging.getLogger("cogpin.hub")
RETRY_DELAYS = (0.1, 0.5, 1, 2, 4, 8, 16, 30)  # seconds between the attempts of a `completed` delivery


class Webhooks:
    def __init__(
        self,
        store: Store,
        http: httpx.AsyncClient,
        secret: str,
        render: Callable[[core.Prediction, str], dict[str, Any]],
    ) -> None:
        self.store = store
        self.http = http
        self.secret = secret
        self.render = render  # a prediction as the API shows it, for a base URL

    async def sender(self, pid: str, queue: asyncio.Queue[str], base: str) -> None:
        """Deliver the events put on ``queue`` until ``completed`` has been delivered."""
        last = 0.0
        while True:
            event = await queue.get()
            if event in ("output", "logs"):
                wait = 0.5 - (time.monotonic() - last)
                if wait > 0:
                    await asyncio.sleep(wait)
                # coalesce: a burst of output/logs events becomes one delivery of the current state
                while not queue.empty():
                    nxt = queue.get_nowait()
                    if nxt not in ("output", "logs"):
                        event = nxt
                        break
            p = self.store.get_prediction(pid)
            if not p or not p.webhook:
                return
            await self.deliver(p, base, retry=event == "completed")
            last = time.monotonic()
            if event == "completed":
                return

    async def deliver(self, p: core.Prediction, base: str, *, retry: bool) -> None:
        body = json.dumps(self.render(p, base)).encode()
        msg_id = f"msg_{core.new_id()}"
        delays = RETRY_DELAYS if retry else ()
        for attempt in range(len(delays) + 1):
            headers = core.sign_webhook(self.secret, msg_id, int(time.time()), body)
            headers["content-type"] = "application/json"
            try:
                r = await self.http.post(p.webhook or "", content=body, headers=headers)
                if r.status_code < 300:
                    return
            except httpx.HTTPError:
                pass
            if attempt < len(delays):
                await asyncio.sleep(delays[attempt])
        log.warning("webhook for %s to %s was not accepted", p.id, p.webhook)
