"""Small answers remembered between runs in the cogpin cache (``<cache>/resolver/<kind>.json``): whether an
index answered, which Python a base image tag had. Never inputs of a lock: only hints that save time
(a hint that turned out wrong costs a retry, not a wrong lock). Keys are hashed, so URLs with credentials
are never written to disk. Unreadable or concurrent files are simply a miss; writes are atomic."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from cogpin.fsutil import atomic_write


class Memo:
    def __init__(self, cache_dir: Path | str, kind: str) -> None:
        self.path = Path(cache_dir) / "resolver" / f"{kind}.json"

    @staticmethod
    def _key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> tuple[Any, float] | None:
        """(value, age in seconds), or None when not remembered."""
        entry = self._read().get(self._key(key))
        if not isinstance(entry, dict) or "value" not in entry:
            return None
        try:
            age = time.time() - float(entry.get("at", 0))
        except (TypeError, ValueError):
            return None
        return entry["value"], max(age, 0.0)

    def put(self, key: str, value: Any) -> None:
        data = self._read()
        data[self._key(key)] = {"at": time.time(), "value": value}
        self._write(data)

    def forget(self, key: str) -> None:
        data = self._read()
        if data.pop(self._key(key), None) is not None:
            self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(data, sort_keys=True))
        except OSError:
            pass  # a read-only cache only costs time
