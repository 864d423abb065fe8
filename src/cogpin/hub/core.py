"""The hub's pure core: API objects, the prediction state machine, input checks against a model's
OpenAPI schema, problem bodies, webhook signing (Standard Webhooks), SSE framing and cursors.

Nothing here touches the network, the engine or the disk, so all of it is tested without them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

STATUSES = ("starting", "processing", "succeeded", "failed", "canceled")
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
_NEXT: dict[str, frozenset[str]] = {
    "starting": frozenset({"processing", "succeeded", "failed", "canceled"}),
    "processing": frozenset({"succeeded", "failed", "canceled"}),
}
WEBHOOK_EVENTS = ("start", "output", "logs", "completed")
DEFAULT_WEBHOOK_EVENTS = ("start", "output", "logs", "completed")
MAX_WAIT = 60.0
REF_RE = re.compile(r"^(?P<owner>[^/]+)/(?P<name>[^/:]+)(:(?P<version>.+))?$")
VERSION_RE = re.compile(r"^[0-9a-f]{64}$")
FILE_REF = "cogpin-file:"  # how a stored output file is referenced inside a stored output


class ApiError(Exception):
    """An error answered as an RFC 7807 problem body."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return problem(self.status, self.title, self.detail)


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"title": title, "detail": detail, "status": status}


def unauthenticated() -> ApiError:
    return ApiError(401, "Unauthenticated", "You did not pass a valid authentication token")


def not_found(detail: str) -> ApiError:
    return ApiError(404, "Not found", detail)


def invalid(detail: str) -> ApiError:
    return ApiError(422, "Input validation failed", detail)


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> float:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def new_id() -> str:
    """A Replicate-style id: 26 lowercase base32 characters."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


# ------------------------------------------------------------------------------------- predictions


class IllegalTransition(Exception):
    pass


def advance(current: str, new: str) -> str:
    """The prediction state machine: starting → processing → succeeded|failed|canceled (and starting
    straight to a terminal state). A terminal state never changes."""
    if new == current and current not in TERMINAL:
        return current
    if new not in _NEXT.get(current, frozenset()):
        raise IllegalTransition(f"{current} → {new}")
    return new


@dataclass
class Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    status: str = "starting"
    output: Any = None
    logs: str = ""
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=now)
    started_at: str | None = None
    completed_at: str | None = None
    webhook: str | None = None
    webhook_events_filter: list[str] | None = None
    stream: bool = False
    source: str = "api"
    data_removed: bool = False
    base: str = ""  # internal, not in the API: the hub's address as its creator saw it (webhook bodies)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def set_status(self, new: str) -> None:
        self.status = advance(self.status, new)
        if new == "processing" and not self.started_at:
            self.started_at = now()
        if new in TERMINAL:
            self.completed_at = self.completed_at or now()
            if self.started_at and "predict_time" not in self.metrics:
                self.metrics["predict_time"] = round(
                    parse_time(self.completed_at) - parse_time(self.started_at), 6
                )
            self.metrics.setdefault(
                "total_time", round(parse_time(self.completed_at) - parse_time(self.created_at), 6)
            )

    def to_api(self, base: str, render_output: Callable[[Any], Any] = lambda o: o) -> dict[str, Any]:
        urls = {
            "get": f"{base}/v1/predictions/{self.id}",
            "cancel": f"{base}/v1/predictions/{self.id}/cancel",
            "stream": f"{base}/v1/predictions/{self.id}/stream",
            "web": f"{base}/p/{self.id}",
        }
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "output": None if self.data_removed else render_output(self.output),
            "logs": self.logs,
            "error": self.error,
            "status": self.status,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "metrics": self.metrics,
            "source": self.source,
            "data_removed": self.data_removed,
            "urls": urls,
        }


def wait_seconds(prefer: str | None) -> float | None:
    """``Prefer: wait`` → 60, ``wait=n`` → n (1..60), anything else → None (do not wait)."""
    if not prefer:
        return None
    for part in prefer.split(","):
        part = part.strip()
        if part == "wait":
            return MAX_WAIT
        m = re.fullmatch(r"wait\s*=\s*(\d+)", part)
        if m:
            return float(min(max(int(m.group(1)), 1), int(MAX_WAIT)))
    return None


def wait_reply_status(status: str) -> str:
    """Under ``Prefer: wait`` the client treats any status but ``starting`` as done, so a prediction that
    is not terminal when the wait ends is reported as ``starting`` (the client then polls)."""
    return status if status in TERMINAL else "starting"


def parse_create(body: Any, *, by_model: bool) -> dict[str, Any]:
    """Check a create body: ``{version?, input, webhook?, webhook_completed?, webhook_events_filter?, stream?}``."""
    if not isinstance(body, dict):
        raise ApiError(400, "Bad request", "the request body must be a JSON object")
    inp = body.get("input", {})
    if inp is None:
        inp = {}
    if not isinstance(inp, dict):
        raise invalid("input: must be a JSON object")
    out: dict[str, Any] = {"input": inp}
    if not by_model:
        v = body.get("version")
        if not isinstance(v, str) or not v:
            raise invalid("version: required (a 64-hex version id, or owner/name[:id])")
        out["version"] = v
    webhook = body.get("webhook") or body.get("webhook_completed")
    if webhook is not None and not (isinstance(webhook, str) and webhook.startswith(("http://", "https://"))):
        raise invalid("webhook: must be an http:// or https:// URL")
    out["webhook"] = webhook
    events = body.get("webhook_events_filter")
    if body.get("webhook_completed") and not body.get("webhook") and events is None:
        events = ["completed"]
    if events is not None and not (isinstance(events, list) and all(e in WEBHOOK_EVENTS for e in events)):
        raise invalid(f"webhook_events_filter: must be a list of {', '.join(WEBHOOK_EVENTS)}")
    out["webhook_events_filter"] = events
    out["stream"] = bool(body.get("stream", False))
    return out


def parse_version_ref(ref: str) -> tuple[str | None, str]:
    """``<64hex>`` → (None, id); ``owner/name:<id>`` → ("owner/name", id); ``owner/name`` → ("owner/name", "")."""
    if VERSION_RE.fullmatch(ref):
        return None, ref
    m = REF_RE.match(ref)
    if not m:
        raise ApiError(
            422,
            "Invalid version or not permitted",
            f"{ref!r} is not a version id (64 hex digits) or owner/name[:version]",
        )
    return f"{m['owner']}/{m['name']}", m["version"] or ""


# ------------------------------------------------------------------------------------- schemas


def input_schema(openapi: Mapping[str, Any]) -> dict[str, Any]:
    return dict(openapi.get("components", {}).get("schemas", {}).get("Input") or {})


def is_iterator(openapi: Mapping[str, Any]) -> bool:
    out = openapi.get("components", {}).get("schemas", {}).get("Output") or {}
    return out.get("type") == "array" and out.get("x-cog-array-type") == "iterator"


def _resolve(openapi: Mapping[str, Any], prop: Mapping[str, Any]) -> dict[str, Any]:
    """Inline ``$ref`` / single-element ``allOf`` (how Cog writes enums)."""
    merged: dict[str, Any] = {k: v for k, v in prop.items() if k not in ("allOf", "$ref")}
    refs = []
    if "$ref" in prop:
        refs.append(prop["$ref"])
    for sub in prop.get("allOf") or []:
        if isinstance(sub, Mapping):
            if "$ref" in sub:
                refs.append(sub["$ref"])
            else:
                merged.update(sub)
    for ref in refs:
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            target = openapi.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1]) or {}
            merged = {**_resolve(openapi, target), **merged}
    return merged


_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _check(openapi: Mapping[str, Any], schema: Mapping[str, Any], value: Any, where: str) -> list[str]:
    s = _resolve(openapi, schema)
    if "anyOf" in s:
        options = [o for o in s["anyOf"] if isinstance(o, Mapping)]
        if any(not _check(openapi, o, value, where) for o in options):
            return []
        return [f"{where}: does not match any allowed type"]
    t = s.get("type")
    if t and t in _TYPES and not _TYPES[t](value):
        if not (value is None and s.get("nullable")):
            return [f"{where}: expected {'a' if t != 'integer' else 'an'} {t}, got {json.dumps(value)[:60]}"]
        return []
    if value is None:
        return []
    errs: list[str] = []
    if "enum" in s and value not in s["enum"]:
        errs.append(f"{where}: must be one of {', '.join(json.dumps(e) for e in s['enum'])}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in s and value < s["minimum"]:
            errs.append(f"{where}: must be greater than or equal to {s['minimum']}")
        if "maximum" in s and value > s["maximum"]:
            errs.append(f"{where}: must be less than or equal to {s['maximum']}")
        if "exclusiveMinimum" in s and value <= s["exclusiveMinimum"]:
            errs.append(f"{where}: must be greater than {s['exclusiveMinimum']}")
        if "exclusiveMaximum" in s and value >= s["exclusiveMaximum"]:
            errs.append(f"{where}: must be less than {s['exclusiveMaximum']}")
    if isinstance(value, str):
        if "minLength" in s and len(value) < s["minLength"]:
            errs.append(f"{where}: must have at least {s['minLength']} characters")
        if "maxLength" in s and len(value) > s["maxLength"]:
            errs.append(f"{where}: must have at most {s['maxLength']} characters")
        if "pattern" in s and not re.search(s["pattern"], value):
            errs.append(f"{where}: must match the pattern {s['pattern']}")
        if s.get("format") == "uri" and not re.match(r"^(https?|data):", value):
            errs.append(f"{where}: must be a URL (http://, https:// or data:)")
    if isinstance(value, list) and isinstance(s.get("items"), Mapping):
        for i, item in enumerate(value):
            errs += _check(openapi, s["items"], item, f"{where}[{i}]")
    return errs


def validate_input(openapi: Mapping[str, Any], inp: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check an input against the model's ``Input`` schema: (the input without unknown fields, errors).
    Each error names its field, e.g. ``text: expected a string, got 3``."""
    schema = input_schema(openapi)
    props: Mapping[str, Any] = schema.get("properties") or {}
    errors: list[str] = []
    for name in schema.get("required") or []:
        if name not in inp:
            errors.append(f"{name}: this field is required")
    cleaned: dict[str, Any] = {}
    for name, value in inp.items():
        if name not in props:
            continue  # Replicate drops unknown fields
        errors += _check(openapi, props[name], value, name)
        cleaned[name] = value
    return cleaned, errors


def uri_fields(openapi: Mapping[str, Any]) -> set[str]:
    """Input fields that are files (``format: uri``, or arrays of them)."""
    names = set()
    for name, prop in (input_schema(openapi).get("properties") or {}).items():
        s = _resolve(openapi, prop)
        items = s.get("items") if isinstance(s.get("items"), Mapping) else {}
        if s.get("format") == "uri" or (items or {}).get("format") == "uri":
            names.add(name)
        for o in s.get("anyOf") or []:
            if isinstance(o, Mapping) and o.get("format") == "uri":
                names.add(name)
    return names


def concurrency(config: Mapping[str, Any]) -> int:
    c = (config.get("concurrency") or {}).get("max") if isinstance(config.get("concurrency"), dict) else None
    return int(c) if isinstance(c, int) and c > 0 else 1


def needs_gpu(config: Mapping[str, Any]) -> bool:
    return bool((config.get("build") or {}).get("gpu"))


# ------------------------------------------------------------------------------------- outputs


def map_strings(obj: Any, fn: Callable[[str], Any]) -> Any:
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, list):
        return [map_strings(x, fn) for x in obj]
    if isinstance(obj, dict):
        return {k: map_strings(v, fn) for k, v in obj.items()}
    return obj


_DATA_RE = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(;[^;,]*)*?)(?P<b64>;base64)?,", re.S)


def decode_data_url(url: str) -> tuple[str, bytes] | None:
    m = _DATA_RE.match(url)
    if not m:
        return None
    payload = url[m.end() :]
    try:
        if m["b64"]:
            data = base64.b64decode(payload, validate=False)
        else:
            from urllib.parse import unquote_to_bytes

            data = unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        return None
    return (m["mime"] or "application/octet-stream"), data


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime or 'application/octet-stream'};base64,{base64.b64encode(data).decode()}"


# ------------------------------------------------------------------------------------- tokens, cursors


def new_token() -> str:
    return "r8_" + secrets.token_urlsafe(30).replace("-", "a").replace("_", "b")[:37]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(f"s<{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("s<"):
            return int(raw[2:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise ApiError(400, "Invalid cursor", "the cursor is not one this hub gave out")


# ------------------------------------------------------------------------------------- webhooks, SSE


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers: HMAC-SHA256 over ``{id}.{timestamp}.{body}`` with the key after ``whsec_``."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{msg_id}.{timestamp}.".encode() + body
    sig = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{sig}"}


def webhook_wanted(event: str, events_filter: Iterable[str] | None) -> bool:
    return event in (DEFAULT_WEBHOOK_EVENTS if events_filter is None else tuple(events_filter))


def sse(event: str, data: str, event_id: str) -> bytes:
    lines = data.split("\n") if data else [""]
    text = f"event: {event}\nid: {event_id}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"
    return text.encode()


SSE_KEEPALIVE = b": keep-alive\n\n"


def output_event_data(item: Any) -> str:
    return item if isinstance(item, str) else json.dumps(item)


def done_data(status: str) -> str:
    return (
        "{}"
        if status == "succeeded"
        else json.dumps({"reason": "canceled" if status == "canceled" else "error"})
    )


def flatten_cog_detail(detail: Any) -> str:
    """Cog's 422 ``{"detail":[{"loc":[...,"field"],"msg":...}]}`` → ``field: msg; …``."""
    if isinstance(detail, list):
        parts = []
        for d in detail:
            if isinstance(d, dict):
                loc = [str(x) for x in d.get("loc") or [] if x not in ("body", "input")]
                parts.append(f"{'.'.join(loc) or 'input'}: {d.get('msg', '')}")
        return "; ".join(parts) or "invalid input"
    return str(detail)
