"""Properties of the plan: the rules hold for every request the data allows (the chosen CUDA is within
build.cuda, the driver can run it, every --gpu-arch has kernels in it), and the plan depends on nothing
but (config, flags, data): the same plans come out of two interpreters with different hash seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from cogpin.resolver.compat import Flags, ResolveError, driver_at_least, load_data, plan
from cogpin.resolver.data import arch_problem, min_driver, mm

hypothesis = pytest.importorskip("hypothesis")
given, settings, st = hypothesis.given, hypothesis.settings, hypothesis.strategies


def cfg(reqs, gpu, python, cuda=None):
    return SimpleNamespace(
        python_version=python, gpu=gpu, cuda=cuda, cudnn=None, requirements=SimpleNamespace(lines=tuple(reqs))
    )


versions = sorted(load_data().releases)
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DRIVERS = [None, "470", "535.104", "580"]
ARCHS = [[], ["sm_80"], ["sm_90"], ["sm_70"]]
CUDAS = [None, "11.8", "12.1", "12.8"]


@settings(max_examples=120, deadline=None)
@given(
    torch=st.sampled_from(versions),
    py=st.sampled_from(PYTHONS),
    driver=st.sampled_from(DRIVERS),
    arch=st.sampled_from(ARCHS),
    cuda=st.sampled_from(CUDAS),
)
def test_a_gpu_plan_keeps_every_constraint(torch, py, driver, arch, cuda):
    try:
        p = plan(cfg([f"torch=={torch}"], True, py, cuda), Flags.from_options(driver=driver, gpu_archs=arch))
    except ResolveError:
        return  # an impossible request is refused (what the refusal says is tested in test_resolver_plan)
    data = load_data()
    assert p.torch is not None and p.cuda is not None and p.torch.version == torch
    assert p.torch.cuda == p.cuda and p.base_image.startswith(f"nvidia/cuda:{p.cuda_version}")
    assert mm(p.cuda_version or "") == mm(p.cuda)
    if cuda is not None:
        assert mm(p.cuda) <= mm(cuda), f"CUDA {p.cuda} above build.cuda {cuda}"
    if driver is not None:
        need = min_driver(data, p.cuda)
        assert driver_at_least(driver, need), f"driver {driver} cannot run CUDA {p.cuda} (needs {need})"
        assert p.driver == driver
    for a in arch:
        assert arch_problem(data, a, p.cuda, torch) is None, f"{a} unsupported by CUDA {p.cuda}"
    assert list(p.gpu_archs) == sorted(set(arch))
    # the newest CUDA that the constraints allow: no allowed variant has a higher CUDA
    minor = ".".join(torch.split(".")[:2])
    for name, v in data.minors[minor]["variants"].items():
        allowed = (
            (cuda is None or mm(v["cuda"]) <= mm(cuda))
            and (driver is None or driver_at_least(driver, min_driver(data, v["cuda"])))
            and all(arch_problem(data, a, v["cuda"], torch) is None for a in arch)
        )
        if allowed:
            assert mm(v["cuda"]) <= mm(p.cuda), f"{name} (CUDA {v['cuda']}) was allowed and is newer"


@settings(max_examples=40, deadline=None)
@given(torch=st.sampled_from(versions), py=st.sampled_from(PYTHONS), driver=st.sampled_from(DRIVERS))
def test_a_cpu_plan_has_no_cuda_and_ignores_gpu_flags(torch, py, driver):
    try:
        p = plan(cfg([f"torch=={torch}"], False, py), Flags.from_options(driver=driver, gpu_archs=["sm_80"]))
    except ResolveError:
        return
    assert p.cuda is None and p.cudnn is None and p.driver is None and p.gpu_archs == ()
    assert p.torch is not None and p.torch.variant == "cpu" and p.base_image.startswith(f"python:{py}")
    assert "--driver/--gpu-arch ignored: gpu is false" in p.notes


_PLANS = """
import json, sys
from types import SimpleNamespace
from cogpin.resolver.compat import Flags, ResolveError, plan
out = []
for torch, gpu, py, driver, arch, cuda in json.loads(sys.argv[1]):
    config = SimpleNamespace(python_version=py, gpu=gpu, cuda=cuda, cudnn=None,
                             requirements=SimpleNamespace(lines=(f"torch=={torch}", "pillow>=10")))
    try:
        out.append(plan(config, Flags.from_options(driver=driver, gpu_archs=arch)).to_json())
    except ResolveError as e:
        out.append("error: " + str(e))
print(json.dumps(out, sort_keys=True))
"""


def test_the_same_plans_under_two_hash_seeds() -> None:
    """Set and dict order must not leak into a plan: two interpreters with different PYTHONHASHSEEDs
    (and a fresh data load each) give the same plans, byte for byte."""
    cases = [
        [torch, gpu, py, driver, arch, cuda]
        for i, torch in enumerate(versions)
        for gpu, py, driver, arch, cuda in [
            (True, PYTHONS[i % 4], DRIVERS[i % 4], ARCHS[i % 4], CUDAS[(i + 1) % 4]),
            (True, PYTHONS[(i + 1) % 4], None, ["sm_80", "sm_90"], None),
            (False, PYTHONS[(i + 2) % 4], None, [], None),
        ]
    ]
    outputs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", _PLANS, json.dumps(cases)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert len(json.loads(outputs[0])) == len(cases)
    assert outputs[0] == outputs[1]
