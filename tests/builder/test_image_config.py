"""builder/image_config.py: the final image's config, written byte for byte."""

from __future__ import annotations

import pytest


def test_reproducible_config_fixes_times_and_clears_build_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from cogpin.builder.image_config import reproducible_config

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    attrs = {
        "Architecture": "amd64",
        "Os": "linux",
        "Config": {"Env": ["A=1"], "Image": "sha256:parent", "Hostname": "abc123", "Labels": {"x": "1"}},
        "RootFS": {"Layers": ["sha256:base", "sha256:run", "sha256:copy"]},
    }

    def history(now: int) -> list[dict]:
        return [
            {"Created": 1000, "CreatedBy": "", "Size": 5},
            {"Created": now, "CreatedBy": "/bin/sh -c #(nop)  ENV A=1", "Size": 0},
            {"Created": now, "CreatedBy": "/bin/sh -c pip install x", "Size": 0},
            {"Created": now, "CreatedBy": "/bin/sh -c #(nop) COPY dir:abc in / ", "Size": 0},
        ]

    a = reproducible_config(attrs, history(2000), 1, {"run.cog.openapi_schema": "{}"})
    b = reproducible_config(attrs, history(3000), 1, {"run.cog.openapi_schema": "{}"})
    assert a == b
    doc = json.loads(a)
    assert doc["config"]["Image"] == "" and doc["config"]["Hostname"] == ""
    assert doc["config"]["Labels"] == {"x": "1", "run.cog.openapi_schema": "{}"}
    assert doc["created"] == "1980-01-01T00:00:00Z"
    assert [bool(h.get("empty_layer")) for h in doc["history"]] == [False, True, False, False, True]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert json.loads(reproducible_config(attrs, history(2000), 1, {}))["created"] == "2023-11-14T22:13:20Z"
    with pytest.raises(ValueError, match="does not match"):
        reproducible_config(
            {**attrs, "RootFS": {"Layers": ["sha256:base", "sha256:x"]}}, history(2000), 1, {}
        )
