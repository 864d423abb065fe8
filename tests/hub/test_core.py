"""The hub's pure core, without an engine: state machine, input checks, Prefer: wait, signing, SSE, cursors."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from cogpin.hub import core

SCHEMA = {
    "components": {
        "schemas": {
            "Input": {
                "type": "object",
                "required": ["text"],
                "properties": {
                    "text": {"type": "string", "maxLength": 10},
                    "n": {"type": "integer", "minimum": 1, "maximum": 5},
                    "scale": {"type": "number", "exclusiveMaximum": 2},
                    "flag": {"type": "boolean"},
                    "mode": {"allOf": [{"$ref": "#/components/schemas/mode"}], "default": "a"},
                    "image": {"type": "string", "format": "uri"},
                    "images": {"type": "array", "items": {"type": "string", "format": "uri"}},
                    "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
            },
            "mode": {"type": "string", "enum": ["a", "b"]},
            "Output": {"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator"},
        }
    }
}


def test_state_machine() -> None:
    assert core.advance("starting", "processing") == "processing"
    assert core.advance("starting", "canceled") == "canceled"
    assert core.advance("processing", "succeeded") == "succeeded"
    for terminal in core.TERMINAL:
        for new in core.STATUSES:
            with pytest.raises(core.IllegalTransition):
                core.advance(terminal, new)
    with pytest.raises(core.IllegalTransition):
        core.advance("processing", "starting")


def test_prediction_times_and_metrics() -> None:
    p = core.Prediction(id="x", model="o/n", version="v" * 64, input={})
    p.set_status("processing")
    assert p.started_at and not p.completed_at
    p.set_status("succeeded")
    assert (
        p.completed_at
        and p.metrics["predict_time"] >= 0
        and p.metrics["total_time"] >= p.metrics["predict_time"]
    )
    api = p.to_api("http://h:1")
    assert api["urls"] == {
        "get": "http://h:1/v1/predictions/x",
        "cancel": "http://h:1/v1/predictions/x/cancel",
        "stream": "http://h:1/v1/predictions/x/stream",
        "web": "http://h:1/p/x",
    }
    assert api["status"] == "succeeded" and api["data_removed"] is False and api["source"] == "api"
    assert "base" not in api and "webhook" not in api  # internal fields stay internal


def test_validate_input_names_each_field() -> None:
    cleaned, errors = core.validate_input(SCHEMA, {"text": "hi", "n": 3, "mode": "b", "unknown": 1})
    assert errors == [] and cleaned == {"text": "hi", "n": 3, "mode": "b"}  # unknown fields dropped
    _, errors = core.validate_input(
        SCHEMA,
        {
            "n": 9,
            "scale": 2,
            "flag": "yes",
            "mode": "c",
            "image": "/etc/passwd",
            "images": ["data:,x", 3],
            "maybe": "s",
        },
    )
    text = "\n".join(errors)
    for field in ("text:", "n:", "scale:", "flag:", "mode:", "image:", "images[1]:", "maybe:"):
        assert field in text, (field, text)
    _, errors = core.validate_input(SCHEMA, {"text": "x" * 11, "n": True, "maybe": None})
    assert [e.split(":")[0] for e in errors] == ["text", "n"]


def test_uri_fields_and_iterator() -> None:
    assert core.uri_fields(SCHEMA) == {"image", "images"}
    assert core.is_iterator(SCHEMA)
    assert not core.is_iterator({"components": {"schemas": {"Output": {"type": "array"}}}})


def test_prefer_wait() -> None:
    assert core.wait_seconds("wait") == 60
    assert core.wait_seconds("wait=5") == 5
    assert core.wait_seconds("wait=600") == 60
    assert core.wait_seconds("respond-async") is None
    assert core.wait_seconds(None) is None
    # the client treats anything but "starting" as done under Prefer: wait
    assert core.wait_reply_status("processing") == "starting"
    assert core.wait_reply_status("succeeded") == "succeeded"


def test_parse_create() -> None:
    assert core.parse_create({"version": "a" * 64, "input": {"x": 1}}, by_model=False)["input"] == {"x": 1}
    with pytest.raises(core.ApiError) as e:
        core.parse_create({"input": {}}, by_model=False)
    assert e.value.status == 422 and "version" in e.value.detail
    with pytest.raises(core.ApiError):
        core.parse_create({"version": "x", "webhook": "ftp://x"}, by_model=False)
    with pytest.raises(core.ApiError):
        core.parse_create({"version": "x", "webhook_events_filter": ["bogus"]}, by_model=False)
    with pytest.raises(core.ApiError) as e:
        core.parse_create([1], by_model=True)
    assert e.value.status == 400
    only_completed = core.parse_create({"version": "x", "webhook_completed": "http://h/"}, by_model=False)
    assert only_completed["webhook"] == "http://h/" and only_completed["webhook_events_filter"] == [
        "completed"
    ]


def test_version_refs() -> None:
    h = "ab" * 32
    assert core.parse_version_ref(h) == (None, h)
    assert core.parse_version_ref(f"o/n:{h}") == ("o/n", h)
    assert core.parse_version_ref("o/n") == ("o/n", "")
    with pytest.raises(core.ApiError):
        core.parse_version_ref("nope")


def test_webhook_signature_is_standard_webhooks() -> None:
    secret = core.new_webhook_secret()
    headers = core.sign_webhook(secret, "msg_1", 1700000000, b'{"a":1}')
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(hmac.new(key, b'msg_1.1700000000.{"a":1}', hashlib.sha256).digest()).decode()
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": f"v1,{expected}",
    }
    assert core.webhook_wanted("output", None) and core.webhook_wanted("start", None)
    assert not core.webhook_wanted("logs", ["start", "completed"])


def test_sse_frames_carry_an_id() -> None:
    assert core.sse("output", "a\nb", "3") == b"event: output\nid: 3\ndata: a\ndata: b\n\n"
    assert core.sse("done", "{}", "4") == b"event: done\nid: 4\ndata: {}\n\n"
    assert core.done_data("canceled") == '{"reason": "canceled"}'


def test_cursors_round_trip() -> None:
    assert core.decode_cursor(core.encode_cursor(12345)) == 12345
    with pytest.raises(core.ApiError):
        core.decode_cursor("garbage!")


def test_data_urls_and_tokens() -> None:
    url = core.data_url("image/png", b"\x89PNG")
    assert core.decode_data_url(url) == ("image/png", b"\x89PNG")
    assert core.decode_data_url("data:,hello%20x") == ("application/octet-stream", b"hello x")
    assert core.decode_data_url("https://x") is None
    t = core.new_token()
    assert t.startswith("r8_") and len(t) == 40 and core.hash_token(t) != t
    assert (
        core.bearer("Bearer abc") == "abc"
        and core.bearer("Token abc") == "abc"
        and core.bearer("Basic x") is None
    )
    assert core.flatten_cog_detail([{"loc": ["body", "input", "n"], "msg": "too big"}]) == "n: too big"
