"""Webhooks: the events filter, throttling of output/logs events, retries of the terminal event."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .protocol import dumps

log = logging.getLogger("cog.server.webhook")

EVENTS = ("start", "output", "logs", "completed")
THROTTLE = float(os.environ.get("COG_WEBHOOK_THROTTLE", "0.5"))
RETRIES = int(os.environ.get("COG_WEBHOOK_RETRIES", "12"))
BACKOFF = float(os.environ.get("COG_WEBHOOK_BACKOFF", "0.1"))
TIMEOUT = 10.0


def post(url: str, payload: dict[str, Any]) -> int:
    """POST the JSON; returns the status code (0 on connection errors)."""
    import urllib.error
    import urllib.request

    body = dumps(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "cogpin-runtime"}
    token = os.environ.get("WEBHOOK_AUTH_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except Exception as e:  # noqa: BLE001 - connection errors are retried / logged
        log.warning("webhook %s failed: %s", url, e)
        return 0


class WebhookSender:
    """One per prediction: a thread that sends snapshots of the prediction as its events happen."""

    def __init__(self, url: str, events: list[str] | None, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.url = url
        self.events = set(events) if events else set(EVENTS)
        self.snapshot = snapshot
        self._cond = threading.Condition()
        self._start: dict[str, Any] | None = None  # the start event's payload, as it was at the time
        self._dirty = False
        self._terminal = False
        self._last = 0.0
        self._thread = threading.Thread(target=self._guarded, daemon=True, name="webhook")
        self._thread.start()

    def notify(self, event: str) -> None:
        if event != "completed" and event not in self.events:
            return
        start = self.snapshot() if event == "start" else None
        with self._cond:
            if start is not None:
                self._start = start
            elif event == "completed":
                self._terminal = True
            else:
                self._dirty = True
            self._cond.notify()

    def _guarded(self) -> None:
        try:
            self._run()
        except Exception:  # noqa: BLE001 - a webhook bug must not be silent, nor fatal
            log.exception("webhook sender for %s failed", self.url)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._start is not None or self._dirty or self._terminal):
                    self._cond.wait()
                payload = self._start
                if payload is not None:
                    self._start = None
                elif self._terminal:
                    break
                else:
                    wait = self._last + THROTTLE - time.monotonic()
                    if wait > 0:
                        self._cond.wait(wait)
                        continue
                    self._dirty = False
            self._last = time.monotonic()
            post(self.url, payload if payload is not None else self.snapshot())
        if "completed" in self.events:
            self._send_terminal()

    def _send_terminal(self) -> None:
        payload = self.snapshot()
        for attempt in range(RETRIES):
            code = post(self.url, payload)
            if 200 <= code < 300:
                return
            if code and code != 429 and code < 500:
                log.warning("webhook %s refused the terminal event: HTTP %s", self.url, code)
                return
            time.sleep(min(BACKOFF * (2**attempt), 30.0))
        log.error("webhook %s: terminal event not delivered after %d tries", self.url, RETRIES)
