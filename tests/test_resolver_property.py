"""Property: the plan is a pure function of (config, flags, data)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from cogpin.resolver.compat import Flags, ResolveError, load_data, plan

hypothesis = pytest.importorskip("hypothesis")
given, settings, st = hypothesis.given, hypothesis.settings, hypothesis.strategies


def cfg(reqs, gpu, python, cuda=None):
    return SimpleNamespace(
        python_version=python, gpu=gpu, cuda=cuda, cudnn=None, requirements=SimpleNamespace(lines=tuple(reqs))
    )


versions = sorted(load_data().releases)


@settings(max_examples=60, deadline=None)
@given(
    torch=st.sampled_from(versions),
    gpu=st.booleans(),
    py=st.sampled_from(["3.10", "3.11", "3.12", "3.13"]),
    driver=st.sampled_from([None, "470", "535.104", "580"]),
    arch=st.sampled_from([[], ["sm_80"], ["sm_90"], ["sm_70"]]),
    cuda=st.sampled_from([None, "11.8", "12.1", "12.8"]),
)
def test_plan_is_deterministic(torch, gpu, py, driver, arch, cuda):
    def run():
        try:
            return json.dumps(
                plan(
                    cfg([f"torch=={torch}"], gpu, py, cuda), Flags.from_options(driver=driver, gpu_archs=arch)
                ).to_json(),
                sort_keys=True,
            )
        except ResolveError as e:
            return "error: " + str(e)

    assert run() == run()
