"""cogpin.containers.spec without an engine: --gpus."""

from __future__ import annotations

import pytest

from cogpin.containers import spec


def test_device_requests():
    assert spec.device_requests(None) is None
    assert spec.device_requests("all") == [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]
    assert spec.device_requests("2")[0]["Count"] == 2
    assert spec.device_requests("device=0,2")[0]["DeviceIDs"] == ["0", "2"]
    assert spec.device_requests('"device=1"')[0]["DeviceIDs"] == ["1"]


def test_gpus_default_to_all_only_with_a_gpu(monkeypatch: pytest.MonkeyPatch):
    notes: list[str] = []
    monkeypatch.setattr(spec, "gpu_present", lambda client=None: False)
    assert spec.choose_gpus(None, True, None, notes.append) is None
    assert notes and "no NVIDIA GPU" in notes[0]
    assert spec.choose_gpus(None, False, None, notes.append) is None and len(notes) == 1
    assert spec.choose_gpus("1", False, None, notes.append) == "1"
    monkeypatch.setattr(spec, "gpu_present", lambda client=None: True)
    assert spec.choose_gpus(None, True, None, notes.append) == "all"
