"""The pure core of resolution: torch ↔ CUDA ↔ cuDNN ↔ Python ↔ nvidia/cuda image rules over the checked-in
data in ``data/*.json``. ``plan(config, flags) -> Plan`` touches no network, no engine, no index.

Cog's rule (what users coming from Cog expect): with torch pinned and ``gpu: true`` take the highest CUDA
variant of that torch release (capped by ``build.cuda``), then the highest cuDNN of the nvidia/cuda images
for that CUDA, then the newest patch and newest Ubuntu. Without a framework Cog uses CUDA 11.8. cogpin's
GPU flags (``--driver``, ``--gpu-arch``) remove variants first; an impossible combination is an error that
names the constraint to relax.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from cogpin.resolver.data import (
    Data,
    ResolveError,
    arch_problem,
    data_version,
    load_data,
    min_driver,
    mm,
    pick_image,
    tag_for,
    ver,
)
from cogpin.resolver.data import variants as variants_of

if TYPE_CHECKING:
    from cogpin.config import Config

__all__ = ["Flags", "Plan", "ResolveError", "TorchPlan", "data_version", "load_data", "plan"]

TORCH_INDEX = "https://download.pytorch.org/whl/{variant}"
PYPI = "https://pypi.org/simple"
DEFAULT_PLATFORM = "linux/amd64"
PLATFORMS = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
DEBIAN = "bookworm"
TORCH_FAMILY = ("torch", "torchvision", "torchaudio")


# ---------------------------------------------------------------------------------------------- flags


@dataclass(frozen=True)
class Flags:
    """cogpin-only settings that change resolution (CLI flags), recorded in the lock's inputs."""

    gpu_archs: tuple[str, ...] = ()
    driver: str | None = None
    cuda_flavor: str = "runtime"
    platforms: tuple[str, ...] = (DEFAULT_PLATFORM,)

    @classmethod
    def from_options(
        cls,
        gpu_archs: tuple[str, ...] | list[str] | None = None,
        driver: str | None = None,
        cuda_flavor: str | None = None,
        platforms: tuple[str, ...] | list[str] | None = None,
        **_: Any,
    ) -> Flags:
        archs = tuple(sorted({normalise_arch(a) for a in (gpu_archs or ())}))
        plats = {DEFAULT_PLATFORM}
        for p in platforms or ():
            plats.add(normalise_platform(p))
        drv = driver.strip() if driver else None
        if drv:
            parse_driver(drv)
        return cls(archs, drv or None, cuda_flavor or "runtime", tuple(sorted(plats)))

    def settings(self) -> dict[str, Any]:
        """The form recorded in the lock's ``[inputs].settings``."""
        return {
            "cuda-flavor": self.cuda_flavor,
            "driver": self.driver or "",
            "gpu-arch": list(self.gpu_archs),
            "platforms": list(self.platforms),
        }


def normalise_platform(p: str) -> str:
    q = p.strip().lower()
    q = {"linux/x86_64": "linux/amd64", "linux/aarch64": "linux/arm64", "linux/arm64/v8": "linux/arm64"}.get(
        q, q
    )
    if q not in PLATFORMS:
        raise ResolveError(
            f"--platform {p}: unsupported platform",
            f"use one of {', '.join(sorted(PLATFORMS))}.",
        )
    return q


def normalise_arch(a: str) -> str:
    q = a.strip().lower().replace("compute_", "sm_")
    if re.fullmatch(r"\d+\.\d+", q):  # "9.0" compute capability
        major, minor = q.split(".")
        q = f"sm_{major}{minor}"
    if re.fullmatch(r"\d{2,3}", q):
        q = f"sm_{q}"
    known = {r["arch"] for r in load_data().cuda["architectures"]}
    if q not in known:
        raise ResolveError(
            f"--gpu-arch {a}: unknown GPU architecture",
            f"use one of {', '.join(sorted(known, key=lambda s: int(s[3:])))} (compute capability X.Y is sm_XY).",
        )
    return q


def parse_driver(d: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in d.strip().split("."))
    except ValueError:
        raise ResolveError(
            f"--driver {d}: not a driver version",
            "give the NVIDIA driver version as `nvidia-smi` shows it, e.g. --driver 535.104.05 or --driver 535.",
        ) from None


def driver_at_least(driver: str, minimum: str) -> bool:
    """Compare only as many components as the user gave: ``525`` satisfies ``525.60.13``."""
    d = parse_driver(driver)
    m = tuple(int(p) for p in minimum.split("."))[: len(d)]
    return d >= m


# ----------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class TorchPlan:
    version: str
    variant: str  # "cpu", "cu121", ...
    index_url: str  # logical variant index (https://download.pytorch.org/whl/<variant>)
    from_default_index: bool  # the variant is the default wheel on the package index
    torchvision: str | None
    torchaudio: str | None
    cuda: str | None  # "12.1" for cu121
    cudnn: str | None  # cuDNN the variant bundles (from data; exact for the default wheel)


@dataclass(frozen=True)
class Plan:
    python: str  # "3.12" (X.Y)
    python_requested: str  # as written: "3.12" or "3.12.3"
    gpu: bool
    cuda: str | None  # "12.1"
    cuda_version: str | None  # "12.1.1": the nvidia/cuda image's version
    cudnn: str | None  # "8" (major of the image's cuDNN)
    ubuntu: str | None
    base_image: str
    base_flavor: str | None
    python_source: str  # "image" or "standalone"
    glibc: str
    platforms: tuple[str, ...]
    python_platforms: dict[str, str]  # platform -> uv --python-platform
    torch: TorchPlan | None
    requirements: tuple[str, ...]  # requirement lines for uv (torch family rewritten)
    driver: str | None
    gpu_archs: tuple[str, ...]
    data_version: str
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["platforms"] = list(self.platforms)
        d["requirements"] = list(self.requirements)
        d["gpu_archs"] = list(self.gpu_archs)
        d["notes"] = list(self.notes)
        return d


def python_xy(version: str) -> str:
    if not re.fullmatch(r"3\.\d+(\.\d+)?", version):
        raise ResolveError(
            f'python_version {version!r} is not a Python 3 version like "3.12"',
            'write it quoted in cog.yaml, e.g. python_version: "3.12".',
        )
    return ".".join(version.split(".")[:2])


def _parse_reqs(lines: tuple[str, ...] | list[str]) -> list[tuple[str, Requirement | None]]:
    out: list[tuple[str, Requirement | None]] = []
    for line in lines:
        try:
            out.append((line, Requirement(line)))
        except InvalidRequirement:
            out.append((line, None))  # URLs / paths: passed to uv as written
    return out


def _torch_release(reqs: list[tuple[str, Requirement | None]], data: Data) -> tuple[str | None, list[str]]:
    """The torch release asked for (directly, or through a pinned torchvision/torchaudio)."""
    releases = data.releases
    notes: list[str] = []
    by_name: dict[str, Requirement] = {str(canonicalize_name(r.name)): r for _, r in reqs if r is not None}
    torch_req = by_name.get("torch")
    if torch_req is not None:
        spec = torch_req.specifier
        pinned = [s.version for s in spec if s.operator in ("==", "===") and "*" not in s.version]
        if pinned:
            base = pinned[0].split("+")[0]
            if base not in releases:
                known = sorted(releases, key=ver)
                raise ResolveError(
                    f"torch=={pinned[0]} is not a torch release cogpin knows (data {data.version})",
                    f"pin one of {known[0]} … {known[-1]} (e.g. torch=={known[-1]}), or update cogpin "
                    "(its data file lists torch releases and their CUDA variants; tools/refresh_compat.py).",
                )
            return base, notes
        candidates = [
            v for v in sorted(releases, key=ver, reverse=True) if spec.contains(v, prereleases=False)
        ]
        if not candidates:
            raise ResolveError(
                f"no torch release cogpin knows matches `{torch_req}`",
                "pin torch to a known release, e.g. torch==2.3.1.",
            )
        notes.append(f"torch `{torch_req}` → {candidates[0]} (newest matching release in cogpin's data)")
        return candidates[0], notes
    for lib in ("torchvision", "torchaudio"):
        r = by_name.get(lib)
        if r is None:
            continue
        pins = [s.version.split("+")[0] for s in r.specifier if s.operator == "=="]
        if not pins:
            continue
        match = [t for t, rel in releases.items() if rel.get(lib) == pins[0]]
        if not match:
            raise ResolveError(
                f"{lib}=={pins[0]} is not a release cogpin knows (data {data.version})",
                f"pin torch instead (e.g. torch=={sorted(releases, key=ver)[-1]}) and let cogpin pick {lib}.",
            )
        notes.append(f"{lib}=={pins[0]} → torch {match[0]} (lockstep)")
        return match[0], notes
    if any(canonicalize_name(r.name) in TORCH_FAMILY for _, r in reqs if r is not None):
        # torchvision/torchaudio without a pin and without torch: let them pull torch; pick newest known
        newest = sorted(releases, key=ver)[-1]
        notes.append(f"torchvision/torchaudio unpinned → torch {newest} (newest release in cogpin's data)")
        return newest, notes
    return None, notes


def plan(config: Config, flags: Flags | None = None) -> Plan:
    """The resolution plan for ``config`` (a ``cogpin.config.Config``) under ``flags``. Pure."""
    flags = flags or Flags()
    data = load_data()
    xy = python_xy(str(config.python_version))
    reqs = _parse_reqs(tuple(config.requirements.lines))
    torch, notes = _torch_release(reqs, data)
    gpu = bool(config.gpu)
    flavor = flags.cuda_flavor
    build_cuda = (config.cuda or "").strip() or None
    build_cudnn = (config.cudnn or "").strip() or None
    if build_cudnn:
        build_cudnn = build_cudnn.split(".")[0]

    if not gpu and (flags.driver or flags.gpu_archs):
        notes.append("--driver/--gpu-arch ignored: gpu is false")

    rel = data.releases[torch] if torch else None
    if torch:
        pythons = data.minors[".".join(torch.split(".")[:2])]["python"]
        if xy not in pythons:
            raise ResolveError(
                f"torch {torch} has no wheels for Python {xy} (it supports {pythons[0]}–{pythons[-1]})",
                f"set python_version to one of {', '.join(pythons)}, or pin a torch release that supports {xy}.",
            )

    torch_plan: TorchPlan | None = None
    cuda_mm: str | None = None
    if gpu:
        if "linux/arm64" in flags.platforms:
            raise ResolveError(
                "gpu: true with linux/arm64 is not supported by cogpin yet (nvidia/cuda arm64 images and "
                "aarch64 CUDA wheels are not in its data)",
                "lock for linux/amd64 only (drop --platform linux/arm64), or set gpu: false for arm64.",
            )
        if torch:
            assert rel is not None
            torch_plan = _gpu_torch(data, torch, rel, flags, build_cuda, notes)
            cuda_mm = torch_plan.cuda
        else:
            cuda_mm = _cuda_without_torch(data, flags, build_cuda)
        assert cuda_mm is not None
        image, cudnn_major, ubuntu = pick_image(data, cuda_mm, build_cudnn, flavor)
        base = tag_for(image, cudnn_major, flavor, ubuntu, data)
        glibc = data.cuda["glibc"][f"ubuntu{ubuntu}"]
        python_source = "standalone"
        cuda_version: str | None = image["cuda"]
    else:
        if torch:
            assert rel is not None
            torch_plan = _cpu_torch(torch, rel)
        base = f"python:{config.python_version}-slim-{DEBIAN}"
        glibc = data.cuda["glibc"][f"debian-{DEBIAN}"]
        python_source = "image"
        cudnn_major, ubuntu, cuda_version = None, None, None

    glibc_minor = glibc.split(".")[1]
    return Plan(
        python=xy,
        python_requested=str(config.python_version),
        gpu=gpu,
        cuda=cuda_mm,
        cuda_version=cuda_version,
        cudnn=cudnn_major,
        ubuntu=ubuntu,
        base_image=base,
        base_flavor=flavor if gpu else None,
        python_source=python_source,
        glibc=glibc,
        platforms=flags.platforms,
        python_platforms={
            p: f"{PLATFORMS[p]}-manylinux_2_{min(int(glibc_minor), 40)}" for p in flags.platforms
        },
        torch=torch_plan,
        requirements=rewrite_requirements(reqs, torch_plan),
        driver=flags.driver if gpu else None,
        gpu_archs=flags.gpu_archs if gpu else (),
        data_version=data.version,
        notes=tuple(notes),
    )


def _cpu_torch(torch: str, rel: dict[str, Any]) -> TorchPlan:
    return TorchPlan(
        version=torch,
        variant="cpu",
        index_url=TORCH_INDEX.format(variant="cpu"),
        from_default_index=False,
        torchvision=rel.get("torchvision"),
        torchaudio=rel.get("torchaudio"),
        cuda=None,
        cudnn=None,
    )


def _gpu_torch(
    data: Data, torch: str, rel: dict[str, Any], flags: Flags, build_cuda: str | None, notes: list[str]
) -> TorchPlan:
    """The CUDA variant of ``torch``: the newest CUDA that build.cuda, --driver and every --gpu-arch allow."""
    variants = variants_of(data, torch)
    cands = _allowed_variants(data, torch, variants, flags, build_cuda)
    variant = cands[0]
    if len(cands) < len(variants):
        notes.append(
            f"torch {torch}: variants {', '.join(sorted(variants))}; allowed {', '.join(sorted(cands))}"
        )
    default = (rel.get("pypi-default") or {}).get("variant")
    cudnn_exact = (rel.get("pypi-default") or {}).get("cudnn") if default == variant else None
    return TorchPlan(
        version=torch,
        variant=variant,
        index_url=TORCH_INDEX.format(variant=variant),
        from_default_index=default == variant,
        torchvision=rel.get("torchvision"),
        torchaudio=rel.get("torchaudio"),
        cuda=variants[variant]["cuda"],
        cudnn=cudnn_exact or variants[variant].get("cudnn"),
    )


def _allowed_variants(
    data: Data, torch: str, variants: dict[str, dict[str, Any]], flags: Flags, build_cuda: str | None
) -> list[str]:
    """The variants of ``torch`` (newest CUDA first) within build.cuda that --driver and every --gpu-arch
    allow; none left is a ResolveError naming why each was dropped."""
    cands = sorted(variants, key=lambda v: mm(variants[v]["cuda"]), reverse=True)
    reasons: list[str] = []
    if build_cuda:
        capped = [v for v in cands if mm(variants[v]["cuda"]) <= mm(build_cuda)]
        if not capped:
            raise ResolveError(
                f"build.cuda {build_cuda} is older than every CUDA variant of torch {torch} "
                f"({', '.join(sorted(cands))})",
                f"relax build.cuda (remove it or set ≥ {variants[cands[-1]]['cuda']}), or pin an older torch.",
            )
        cands = capped
    if flags.driver:
        ok = []
        for v in cands:
            need = min_driver(data, variants[v]["cuda"])
            if driver_at_least(flags.driver, need):
                ok.append(v)
            else:
                reasons.append(f"{v} needs driver ≥ {need}")
        if not ok:
            raise ResolveError(
                f"--driver {flags.driver} is too old for every CUDA variant of torch {torch}: "
                + "; ".join(reasons),
                "relax --driver (the target machines need a newer NVIDIA driver), "
                "or pin a torch release with an older CUDA variant.",
            )
        cands = ok
    for arch in flags.gpu_archs:
        ok = []
        for v in cands:
            problem = arch_problem(data, arch, variants[v]["cuda"], torch)
            if problem:
                reasons.append(f"{v}: {problem}")
            else:
                ok.append(v)
        if not ok:
            raise ResolveError(
                f"--gpu-arch {arch}: no CUDA variant of torch {torch} left that supports it"
                + (f" (with --driver {flags.driver})" if flags.driver else "")
                + ": "
                + "; ".join(reasons),
                f"relax --gpu-arch {arch}"
                + (" or --driver" if flags.driver else "")
                + (" or build.cuda" if build_cuda else "")
                + ", or pin another torch release.",
            )
        cands = ok
    return cands


def _cuda_without_torch(data: Data, flags: Flags, build_cuda: str | None) -> str:
    """CUDA X.Y for a GPU model without torch: build.cuda, else the data's default; checked against
    --driver and every --gpu-arch."""
    cuda_mm = build_cuda or str(data.cuda["default-cuda-without-torch"]["cuda"])
    cuda_mm = ".".join(cuda_mm.split(".")[:2])
    if flags.driver:
        need = min_driver(data, cuda_mm)
        if not driver_at_least(flags.driver, need):
            raise ResolveError(
                f"--driver {flags.driver} cannot run CUDA {cuda_mm} (needs ≥ {need})",
                "relax --driver (the target machines need a newer NVIDIA driver)"
                + (", or set an older build.cuda." if build_cuda else "."),
            )
    for arch in flags.gpu_archs:
        problem = arch_problem(data, arch, cuda_mm, None)
        if problem:
            raise ResolveError(
                f"--gpu-arch {arch}: CUDA {cuda_mm} does not support it: {problem}",
                f"relax --gpu-arch {arch}, or set build.cuda in cog.yaml to a CUDA that supports it.",
            )
    return cuda_mm


def rewrite_requirements(
    reqs: list[tuple[str, Requirement | None]], torch: TorchPlan | None
) -> tuple[str, ...]:
    """Requirement lines for uv: torch family pinned in lockstep, with the ``+cpu``/``+cuXYZ`` label when
    the wheel must come from a variant index (not for the default wheel on the package index)."""
    if torch is None:
        return tuple(line for line, _ in reqs)
    label = "" if torch.from_default_index else f"+{torch.variant}"
    pins = {"torch": torch.version, "torchvision": torch.torchvision, "torchaudio": torch.torchaudio}
    out: list[str] = []
    for line, r in reqs:
        name = canonicalize_name(r.name) if r is not None else None
        if r is None or name not in pins:
            out.append(line)
            continue
        want = pins[name]
        if want is None:
            raise ResolveError(
                f"{name} has no release for torch {torch.version} (torchaudio's releases stopped after 2.11)",
                f"remove {name} from the requirements, or pin an older torch.",
            )
        for s in r.specifier:
            if s.operator == "==" and s.version.split("+")[0] != want:
                raise ResolveError(
                    f"{name}=={s.version} does not go with torch {torch.version} (it needs {name}=={want})",
                    f"change the requirement to {name}=={want}, or remove the pin and let cogpin choose it.",
                )
        if not SpecifierSet(str(r.specifier)).contains(want, prereleases=True):
            raise ResolveError(
                f"`{line}` excludes {name} {want}, the release that goes with torch {torch.version}",
                f"relax it to {name}=={want}.",
            )
        extras = f"[{','.join(sorted(r.extras))}]" if r.extras else ""
        marker = f" ; {r.marker}" if r.marker else ""
        # `===` for the default wheel: `==2.3.1` would also accept a local `2.3.1+cpu` from a find-links
        # folder or a variant index (PEP 440), silently swapping the CUDA build.
        op = "==" if label else "==="
        out.append(f"{r.name}{extras}{op}{want}{label}{marker}")
    return tuple(out)
