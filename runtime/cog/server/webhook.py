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
TIMEOUT = float(os.environ.get("COG_WEBHOOK_TIMEOUT", "10"))
TIMED_OUT = -1  # the request was sent and the receiver did not answer in time: it most likely has it
LIVE: set[WebhookSender] = set()  # senders with events still to send (shutdown waits for them)
_live_lock = threading.Lock()


def safe_url(url: str) -> str:
    """The URL without its query string and credentials (signed-URL tokens stay out of the logs)."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def post(url: str, payload: dict[str, Any], key: str | None = None) -> int:
    """POST the JSON; returns the status code (0 on connection errors, TIMED_OUT after a read timeout).
    `key` goes out as Idempotency-Key, the same on every retry of one event."""
    import socket
    import urllib.error
    import urllib.request

    body = dumps(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "cogpin-runtime"}
    if key:
        headers["Idempotency-Key"] = key
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
    except (TimeoutError, socket.timeout) as e:  # noqa: UP041 - socket.timeout is its own class on 3.9
        log.warning("webhook %s did not answer within %gs: %s", safe_url(url), TIMEOUT, e)
        return TIMED_OUT
    except Exception as e:  # noqa: BLE001 - connection errors are retried / logged
        log.warning("webhook %s failed: %s", safe_url(url), _no_url(e, url))
        return 0


def _no_url(e: Exception, url: str) -> str:
    return str(e).replace(url, safe_url(url))


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
        self.key = ""  # set by the prediction: its id, the base of each event's Idempotency-Key
        self.delivered = threading.Event()  # the terminal event was sent (or given up on)
        with _live_lock:
            LIVE.add(self)
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
            log.exception("webhook sender for %s failed", safe_url(self.url))
        finally:
            self.delivered.set()
            with _live_lock:
                LIVE.discard(self)

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
            code = post(self.url, payload, f"{self.key}-completed" if self.key else None)
            if 200 <= code < 300:
                return
            if code == TIMED_OUT:  # sent; a slow receiver must not get it again and again
                return
            if code and code != 429 and code < 500:
                log.warning("webhook %s refused the terminal event: HTTP %s", safe_url(self.url), code)
                return
            time.sleep(min(BACKOFF * (2**attempt), 30.0))
        log.error("webhook %s: terminal event not delivered after %d tries", safe_url(self.url), RETRIES)


def wait_for_webhooks(timeout: float) -> None:
    """At shutdown: give pending terminal webhooks up to `timeout`; log each one that is dropped."""
    deadline = time.monotonic() + timeout
    with _live_lock:
        pending = list(LIVE)
    for sender in pending:
        sender.delivered.wait(max(0.0, deadline - time.monotonic()))
    for sender in pending:
        if not sender.delivered.is_set():
            log.error(
                "shutting down: the terminal webhook of %s to %s was not delivered in time",
                sender.key or "a prediction",
                safe_url(sender.url),
            )
