"""The compatibility data (``data/*.json``: torch releases and their CUDA variants, nvidia/cuda images,
drivers, GPU architectures, standalone Pythons) and the lookups the rules in ``compat`` make in it. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from packaging.version import Version

from cogpin.errors import CogpinError


class ResolveError(CogpinError):
    """A request that cannot be resolved; the hint names what to relax or change."""


@dataclass(frozen=True)
class Data:
    version: str
    torch: dict[str, Any]
    cuda: dict[str, Any]
    python: dict[str, Any]

    @property
    def releases(self) -> dict[str, dict[str, Any]]:
        return {r["torch"]: r for r in self.torch["releases"]}

    @property
    def minors(self) -> dict[str, dict[str, Any]]:
        return {m["minor"]: m for m in self.torch["minors"]}


def _read(name: str) -> dict[str, Any]:
    text = resources.files("cogpin.resolver").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def load_data() -> Data:
    torch, cuda = _read("torch.json"), _read("cuda.json")
    try:
        python = _read("python.json")
    except FileNotFoundError:
        python = {"data-version": torch["data-version"], "builds": []}
    versions = {torch["data-version"], cuda["data-version"], python["data-version"]}
    if len(versions) != 1:
        raise CogpinError(
            f"cogpin's resolver data files disagree on data-version: {sorted(versions)}",
            "run tools/refresh_compat.py so all data files carry one version.",
        )
    return Data(version=torch["data-version"], torch=torch, cuda=cuda, python=python)


def data_version() -> str:
    return load_data().version


def images(data: Data) -> list[dict[str, Any]]:
    return list(data.cuda["images"])


def min_driver(data: Data, cuda: str) -> str:
    major = mm(cuda)[0]
    for row in data.cuda["drivers"]:
        if row["cuda-major"] == major:
            return str(row["min-driver"])
    raise ResolveError(f"no minimum driver known for CUDA {cuda} (data {data.version})", "update cogpin.")


def arch_rows(data: Data) -> dict[str, dict[str, Any]]:
    return {r["arch"]: r for r in data.cuda["architectures"]}


def arch_problem(data: Data, arch: str, cuda: str, torch: str | None) -> str | None:
    row = arch_rows(data)[arch]
    if "min-cuda" in row and mm(cuda) < mm(row["min-cuda"]):
        return f"{arch} ({row['name']}) needs CUDA ≥ {row['min-cuda']}"
    if "max-cuda-major" in row and mm(cuda)[0] > row["max-cuda-major"]:
        return f"{arch} ({row['name']}) has no kernels in CUDA {mm(cuda)[0]} wheels"
    if torch is not None and "min-torch" in row and mm(torch) < mm(row["min-torch"]):
        return f"{arch} ({row['name']}) needs torch ≥ {row['min-torch']}"
    return None


def tag_for(image: dict[str, Any], cudnn: str | None, flavor: str, ubuntu: str, data: Data) -> str:
    cuda = image["cuda"]
    part = ""
    if cudnn:
        plain_from = data.cuda["tag-rules"]["plain-cudnn-from"]
        part = "cudnn-" if ver(cuda) >= ver(plain_from) else f"cudnn{cudnn}-"
    return f"nvidia/cuda:{cuda}-{part}{flavor}-ubuntu{ubuntu}"


def pick_image(
    data: Data, cuda_mm: str, cudnn_req: str | None, flavor: str
) -> tuple[dict[str, Any], str | None, str]:
    """Newest patch, highest cuDNN and newest Ubuntu of nvidia/cuda for CUDA X.Y."""
    rows = [r for r in images(data) if mm(r["cuda"]) == mm(cuda_mm)]
    if not rows:
        raise ResolveError(
            f"no nvidia/cuda image is known for CUDA {cuda_mm} (data {data.version})",
            "choose another build.cuda, or update cogpin.",
        )
    best: tuple[Any, ...] | None = None
    for r in rows:
        cudnns = r["cudnn"] if flavor != "base" else []
        options: list[str | None] = (
            list(sorted(cudnns, key=lambda c: int(c), reverse=True)) if cudnns else [None]
        )
        if flavor != "base" and cudnn_req:
            options = [c for c in options if c == cudnn_req]
        for c in options:
            key = (int(c) if c else 0, ver(r["cuda"]), ver(sorted(r["ubuntu"], key=ver)[-1]))
            if best is None or key > best[0]:
                best = (key, r, c, sorted(r["ubuntu"], key=ver)[-1])
    if best is None:
        have = sorted({c for r in rows for c in r["cudnn"]})
        raise ResolveError(
            f"build.cudnn {cudnn_req!r} is not available with CUDA {cuda_mm} (nvidia/cuda has cuDNN {', '.join(have)})",
            f"set build.cudnn to one of {', '.join(have)} in cog.yaml, or remove it.",
        )
    return best[1], best[2], best[3]


def variants(data: Data, torch: str) -> dict[str, dict[str, Any]]:
    minor = ".".join(torch.split(".")[:2])
    return dict(data.minors[minor]["variants"])


def ver(v: str) -> Version:
    return Version(v)


def mm(v: str) -> tuple[int, int]:
    p = v.split(".")
    return int(p[0]), int(p[1]) if len(p) > 1 else 0
