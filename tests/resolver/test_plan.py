"""The pure resolution plan: Cog's rule, GPU flags, errors (each message tested), determinism."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from cogpin.resolver.compat import Flags, ResolveError, load_data, plan


def cfg(reqs=(), gpu=True, python="3.12", cuda=None, cudnn=None):
    return SimpleNamespace(
        python_version=python,
        gpu=gpu,
        cuda=cuda,
        cudnn=cudnn,
        requirements=SimpleNamespace(lines=tuple(reqs)),
    )


def flags(**kw):
    return Flags.from_options(**kw)


# (requirements, gpu, python, cuda, cudnn, flags) -> (cuda, cudnn, base image, variant, from_default_index)
TABLE = [
    (
        ["torch==2.3.1"],
        True,
        "3.12",
        None,
        None,
        {},
        ("12.1", "8", "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04", "cu121", True),
    ),
    (
        ["torch==2.3.1"],
        True,
        "3.12",
        None,
        None,
        {"driver": "470"},
        ("11.8", "8", "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04", "cu118", False),
    ),
    (
        ["torch==2.3.1"],
        True,
        "3.11",
        "11.8",
        None,
        {},
        ("11.8", "8", "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04", "cu118", False),
    ),
    (
        ["torch==2.3.1"],
        True,
        "3.11",
        None,
        None,
        {"cuda_flavor": "devel"},
        ("12.1", "8", "nvidia/cuda:12.1.1-cudnn8-devel-ubuntu22.04", "cu121", True),
    ),
    (
        ["torch==2.3.1"],
        True,
        "3.11",
        None,
        None,
        {"cuda_flavor": "base"},
        ("12.1", None, "nvidia/cuda:12.1.1-base-ubuntu22.04", "cu121", True),
    ),
    (
        ["torch==2.0.1"],
        True,
        "3.11",
        None,
        None,
        {},
        ("11.8", "8", "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04", "cu118", False),
    ),
    (
        ["torch==2.1.2"],
        True,
        "3.11",
        None,
        None,
        {},
        ("12.1", "8", "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04", "cu121", True),
    ),
    (
        ["torch==2.4.1"],
        True,
        "3.12",
        None,
        None,
        {},
        ("12.4", "9", "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04", "cu124", False),
    ),
    (
        ["torch==2.5.1"],
        True,
        "3.12",
        None,
        None,
        {},
        ("12.4", "9", "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04", "cu124", True),
    ),
    (
        ["torch==2.6.0"],
        True,
        "3.12",
        None,
        None,
        {},
        ("12.6", "9", "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04", "cu126", False),
    ),
    (
        ["torch==2.7.1"],
        True,
        "3.12",
        None,
        None,
        {},
        ("12.8", "9", "nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04", "cu128", False),
    ),
    (
        ["torch==2.8.0"],
        True,
        "3.12",
        None,
        None,
        {},
        ("12.9", "9", "nvidia/cuda:12.9.1-cudnn-runtime-ubuntu24.04", "cu129", False),
    ),
    (
        ["torch==2.9.1"],
        True,
        "3.12",
        None,
        None,
        {},
        ("13.0", "9", "nvidia/cuda:13.0.3-cudnn-runtime-ubuntu24.04", "cu130", False),
    ),
    (
        ["torch==2.13.0"],
        True,
        "3.12",
        None,
        None,
        {},
        ("13.2", "9", "nvidia/cuda:13.2.1-cudnn-runtime-ubuntu24.04", "cu132", False),
    ),
    (
        ["torch==2.13.0"],
        True,
        "3.12",
        None,
        None,
        {"gpu_archs": ["sm_70"]},
        ("12.6", "9", "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04", "cu126", False),
    ),
    (
        ["torch==2.13.0"],
        True,
        "3.12",
        None,
        None,
        {"driver": "550.54"},
        ("12.6", "9", "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04", "cu126", False),
    ),
    (
        ["torch==2.7.1"],
        True,
        "3.12",
        None,
        None,
        {"gpu_archs": ["sm_120"]},
        ("12.8", "9", "nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04", "cu128", False),
    ),
    (
        ["torch==2.0.1"],
        True,
        "3.11",
        None,
        None,
        {"gpu_archs": ["sm_90"]},
        ("11.8", "8", "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04", "cu118", False),
    ),
    (
        [],
        True,
        "3.12",
        None,
        None,
        {},
        ("11.8", "8", "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04", None, None),
    ),
    (
        [],
        True,
        "3.12",
        "12.1",
        None,
        {},
        ("12.1", "8", "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04", None, None),
    ),
    (
        ["numpy"],
        True,
        "3.12",
        "12.3",
        "9",
        {},
        ("12.3", "9", "nvidia/cuda:12.3.2-cudnn9-runtime-ubuntu22.04", None, None),
    ),
]


@pytest.mark.parametrize("reqs,gpu,py,cuda,cudnn,fl,want", TABLE)
def test_plan_table(reqs, gpu, py, cuda, cudnn, fl, want):
    p = plan(cfg(reqs, gpu, py, cuda, cudnn), flags(**fl))
    got = (
        p.cuda,
        p.cudnn,
        p.base_image,
        p.torch.variant if p.torch else None,
        p.torch.from_default_index if p.torch else None,
    )
    assert got == want
    assert p.python_source == "standalone"


def test_seed_plan_json_keys():
    p = plan(cfg(["torch==2.3.1"]), flags()).to_json()
    assert p["python"] == "3.12" and p["gpu"] is True and p["cuda"] == "12.1" and p["cudnn"] == "8"
    assert p["base_image"] == "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"
    assert p["torch"]["version"] == "2.3.1" and p["torch"]["variant"] == "cu121"
    assert p["torch"]["index_url"] == "https://download.pytorch.org/whl/cu121"
    assert p["torch"]["cudnn"] == "8.9.2.26"  # the default wheel's nvidia-cudnn-cu12
    assert p["requirements"] == ["torch===2.3.1"]  # the default PyPI wheel is the cu121 build


def test_cpu_plan():
    p = plan(cfg(["torch==2.13.0", "torchvision"], gpu=False, python="3.11"), flags())
    assert p.base_image == "python:3.11-slim-bookworm" and p.python_source == "image"
    assert p.cuda is None and p.cudnn is None and p.torch.variant == "cpu"
    assert p.requirements == ("torch==2.13.0+cpu", "torchvision==0.28.0+cpu")
    assert p.python_platforms == {"linux/amd64": "x86_64-manylinux_2_36"}
    j = p.to_json()
    assert j["cuda"] is None and j["cudnn"] is None


def test_no_torch_cpu():
    p = plan(cfg(["numpy"], gpu=False, python="3.12.3"), flags())
    assert p.base_image == "python:3.12.3-slim-bookworm" and p.torch is None and p.python == "3.12"
    assert p.to_json()["torch"] is None


def test_arm64_adds_platform():
    p = plan(cfg(["numpy"], gpu=False, python="3.11"), flags(platforms=["linux/arm64"]))
    assert p.platforms == ("linux/amd64", "linux/arm64")
    assert p.python_platforms["linux/arm64"] == "aarch64-manylinux_2_36"


def test_lockstep_torchvision_pin_and_rewrite():
    p = plan(cfg(["torchvision==0.18.1"], gpu=False, python="3.11"), flags())
    assert p.torch.version == "2.3.1" and p.requirements == ("torchvision==0.18.1+cpu",)


def test_torch_range_picks_newest_known():
    p = plan(cfg(["torch>=2.3,<2.4"], gpu=True, python="3.11"), flags())
    assert p.torch.version == "2.3.1" and any("newest matching" in n for n in p.notes)


ERRORS = [
    (
        cfg(["torch==2.3.1"]),
        {"driver": "418"},
        "--driver 418 is too old for every CUDA variant of torch 2.3.1",
        "relax --driver",
    ),
    (cfg(["torch==9.9.9"]), {}, "torch==9.9.9 is not a torch release cogpin knows", "pin one of"),
    (
        cfg(["torch==2.0.1"], python="3.12"),
        {},
        "torch 2.0.1 has no wheels for Python 3.12",
        "set python_version",
    ),
    (
        cfg(["torch==2.3.1"], python="3.11"),
        {"gpu_archs": ["sm_120"]},
        "--gpu-arch sm_120: no CUDA variant of torch 2.3.1",
        "relax --gpu-arch sm_120",
    ),
    (
        cfg(["torch==2.13.0"]),
        {"gpu_archs": ["sm_120"], "driver": "530"},
        "--gpu-arch sm_120: no CUDA variant of torch 2.13.0 left that supports it (with --driver 530)",
        "relax --gpu-arch sm_120 or --driver",
    ),
    (
        cfg(["torch==2.3.1"], python="3.11", cuda="11.7"),
        {},
        "build.cuda 11.7 is older than every CUDA variant",
        "relax build.cuda",
    ),
    (
        cfg([], cuda="12.1", cudnn="9"),
        {},
        "build.cudnn '9' is not available with CUDA 12.1",
        "set build.cudnn",
    ),
    (cfg([]), {"driver": "418.1"}, "--driver 418.1 cannot run CUDA 11.8", "relax --driver"),
    (cfg([]), {"gpu_archs": ["sm_100"]}, "--gpu-arch sm_100: CUDA 11.8 does not support it", "build.cuda"),
    (
        cfg(["torch==2.3.1"]),
        {"gpu_archs": ["sm_999"]},
        "--gpu-arch sm_999: unknown GPU architecture",
        "use one of",
    ),
    (cfg(["torch==2.3.1"]), {"driver": "abc"}, "--driver abc: not a driver version", "nvidia-smi"),
    (
        cfg(["torch==2.3.1"]),
        {"platforms": ["windows/amd64"]},
        "--platform windows/amd64: unsupported platform",
        "linux/arm64",
    ),
    (
        cfg(["numpy"]),
        {"platforms": ["linux/arm64"]},
        "gpu: true with linux/arm64 is not supported",
        "drop --platform",
    ),
    (
        cfg(["torch==2.3.1", "torchvision==0.17.0"], python="3.11"),
        {},
        "torchvision==0.17.0 does not go with torch 2.3.1",
        "torchvision==0.18.1",
    ),
    (
        cfg(["torch==2.13.0", "torchaudio"]),
        {},
        "torchaudio has no release for torch 2.13.0",
        "remove torchaudio",
    ),
    (cfg(["torch>=99"]), {}, "no torch release cogpin knows matches", "pin torch"),
    (cfg([], python="2.7"), {}, "python_version '2.7' is not a Python 3 version", "quoted"),
]


@pytest.mark.parametrize("c,fl,message,hint", ERRORS)
def test_errors(c, fl, message, hint):
    with pytest.raises(ResolveError) as e:
        plan(c, flags(**fl))
    assert message in e.value.message
    assert hint in (e.value.hint or "")


def test_data_rows_have_sources_and_one_version():
    d = load_data()
    for rows in (
        d.torch["minors"],
        d.torch["releases"],
        d.cuda["images"],
        d.cuda["drivers"],
        d.cuda["architectures"],
    ):
        assert all(r.get("source") for r in rows)
    for r in d.torch["releases"]:
        minor = ".".join(r["torch"].split(".")[:2])
        if d.minors[minor].get("pypi-default-bundles-cuda"):  # torch 1.11/1.12: a CUDA 10.2 build, unused
            assert "pypi-default" not in r, r["torch"]
            continue
        assert r["pypi-default"]["variant"] in d.minors[minor]["variants"], r["torch"]
    assert d.version == d.cuda["data-version"] == d.python["data-version"]


def test_plan_is_deterministic_over_the_table():
    import itertools

    for torch, gpu, driver in itertools.product(
        sorted(load_data().releases), (True, False), (None, "470", "580")
    ):

        def run(torch=torch, gpu=gpu, driver=driver):
            try:
                return json.dumps(
                    plan(cfg([f"torch=={torch}"], gpu, "3.11"), flags(driver=driver)).to_json(),
                    sort_keys=True,
                )
            except ResolveError as e:
                return "error: " + str(e)

        assert run() == run()


def test_resolve_cli_json(tmp_path: Path):
    (tmp_path / "cog.yaml").write_text(
        'build:\n  gpu: true\n  python_version: "3.12"\n  python_packages:\n    - "torch==2.3.1"\npredict: "predict.py:Predictor"\n'
    )
    (tmp_path / "predict.py").write_text("class Predictor:\n    pass\n")
    exe = Path(sys.executable).with_name("cogpin")
    out = subprocess.run(
        [str(exe), "resolve", "--json"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    d = json.loads(out.stdout)
    assert (d["cuda"], d["cudnn"], d["torch"]["variant"]) == ("12.1", "8", "cu121")
    out = subprocess.run(
        [str(exe), "resolve", "--json", "--driver", "470"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["torch"]["variant"] == "cu118"
    out = subprocess.run(
        [str(exe), "resolve", "--driver", "418"], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 1 and "--driver 418 is too old" in out.stderr and "hint:" in out.stderr
