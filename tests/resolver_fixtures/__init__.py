"""Fixtures for resolver/lock tests: tiny wheels with real metadata in a find-links folder, an empty local
index, and a fake image source that answers like a registry would for every base image tag."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from pathlib import Path

from cogpin.resolver.images import ImageInfo
from cogpin.settings import Settings

FIXED = (1980, 1, 1, 0, 0, 0)

# (name, version, tag, requires)
WHEELS: list[tuple[str, str, str, list[str]]] = [
    (
        "torch",
        "2.3.1",
        "py3-none-any",
        ["nvidia-cuda-runtime-cu12==12.1.105", "nvidia-cudnn-cu12==8.9.2.26", "tinydep"],
    ),
    ("torch", "2.3.1+cpu", "py3-none-any", ["tinydep"]),
    ("torch", "2.3.1+cu118", "py3-none-any", ["nvidia-cuda-runtime-cu11==11.8.89", "tinydep"]),
    ("torch", "2.0.1+cu118", "py3-none-any", ["tinydep"]),
    ("torch", "2.7.1+cu128", "py3-none-any", ["tinydep"]),
    ("torch", "2.13.0+cu132", "py3-none-any", ["tinydep"]),
    ("torch", "2.13.0+cu126", "py3-none-any", ["tinydep"]),
    ("torchvision", "0.18.1", "py3-none-any", ["torch==2.3.1"]),
    ("torchvision", "0.18.1+cpu", "py3-none-any", ["torch==2.3.1+cpu"]),
    ("nvidia-cuda-runtime-cu12", "12.1.105", "py3-none-manylinux1_x86_64", []),
    ("nvidia-cudnn-cu12", "8.9.2.26", "py3-none-manylinux1_x86_64", []),
    ("nvidia-cuda-runtime-cu11", "11.8.89", "py3-none-manylinux1_x86_64", []),
    ("tinydep", "1.0", "py3-none-any", []),
    ("tinydep", "1.1", "py3-none-any", []),
    ("pillowish", "10.0.0", "cp311-cp311-manylinux_2_28_x86_64", []),
    ("pillowish", "10.0.0", "cp311-cp311-manylinux_2_28_aarch64", []),
    ("pillowish", "10.0.0", "cp312-cp312-manylinux_2_28_x86_64", []),
    ("pillowish", "10.0.0", "cp311-cp311-musllinux_1_2_x86_64", []),
    ("sdistonly", "1.0", "", []),
]


def wheel_bytes(name: str, version: str, tag: str, requires: list[str]) -> bytes:
    dist = re.sub(r"[-_.]+", "_", name)
    di = f"{dist}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    files = [
        (f"{dist}/__init__.py", b""),
        (f"{di}/METADATA", meta.encode()),
        (f"{di}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()),
    ]
    record = [
        f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}"
        for n, d in files
    ] + [f"{di}/RECORD,,"]
    files.append((f"{di}/RECORD", ("\n".join(record) + "\n").encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, d in files:
            zf.writestr(zipfile.ZipInfo(n, FIXED), d)
    return buf.getvalue()


def sdist_bytes(name: str, version: str) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"from setuptools import setup\nraise SystemExit('cannot build in tests')\n"
        info = tarfile.TarInfo(f"{name}-{version}/setup.py")
        info.size = len(data)
        info.mtime = 0
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_wheelhouse(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, version, tag, requires in WHEELS:
        dist = re.sub(r"[-_.]+", "_", name)
        if not tag:
            (folder / f"{name}-{version}.tar.gz").write_bytes(sdist_bytes(name, version))
            continue
        (folder / f"{dist}-{version}-{tag}.whl").write_bytes(wheel_bytes(name, version, tag, requires))
    return folder


def local_settings(tmp: Path) -> Settings:
    """Only the test wheelhouse (and an empty local index): no network."""
    wheels = make_wheelhouse(tmp / "wheels")
    index = tmp / "index"
    index.mkdir(exist_ok=True)
    return Settings(
        index_url=index.as_uri(),
        extra_index_urls=(),
        find_links=(str(wheels),),
        torch_index_template="https://download.pytorch.org/whl/{variant}",
        cache_dir=tmp / "cache",
        ca_bundle=None,
    )


CUDNN = {"8": "8.9.0.131", "9": "9.1.0.70"}


class TagImageSource:
    """Answers for any base tag like a registry would: a digest derived from the tag, the env of the
    real images (CUDA_VERSION from the tag, cuDNN by major, NVIDIA_REQUIRE_CUDA; PYTHON_VERSION)."""

    PYTHONS = {"3.10": "3.10.15", "3.11": "3.11.10", "3.12": "3.12.7", "3.13": "3.13.0"}

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def inspect(self, image: str, platform: str, want_python: bool) -> ImageInfo:
        self.calls.append((image, platform))
        digest = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
        env: dict[str, str] = {}
        python = None
        m = re.match(r"python:(\d+\.\d+)(\.\d+)?-", image)
        if m:
            python = (m.group(1) + m.group(2)) if m.group(2) else self.PYTHONS[m.group(1)]
            env["PYTHON_VERSION"] = python
        m = re.match(r"nvidia/cuda:(\d+\.\d+\.\d+)-(cudnn(\d*)-)?", image)
        if m:
            cuda = m.group(1)
            env["CUDA_VERSION"] = cuda
            if m.group(2):
                env["NV_CUDNN_VERSION"] = CUDNN[m.group(3) or "9"]
            mm = ".".join(cuda.split(".")[:2])
            env["NVIDIA_REQUIRE_CUDA"] = f"cuda>={mm} brand=tesla,driver>=470,driver<471"
        return ImageInfo(image, platform, digest, env, python)


def write_project(root: Path, build: dict[str, str], reqs: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = (
        ["build:"] + [f"  {k}: {v}" for k, v in build.items()] + ["  python_requirements: requirements.txt"]
    )
    lines.append('predict: "predict.py:Predictor"')
    (root / "cog.yaml").write_text("\n".join(lines) + "\n")
    (root / "requirements.txt").write_text("".join(r + "\n" for r in reqs))
    (root / "predict.py").write_text("class Predictor:\n    pass\n")
    return root
