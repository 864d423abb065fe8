"""Make a lock: plan (pure) → base images by digest → Python closure with uv per platform → runtime wheel.
Effects happen here and at the edges they call; the result is a :class:`Lock`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cogpin import __version__
from cogpin.lock.inputs import compute_inputs
from cogpin.lock.model import LOCK_VERSION, Lock
from cogpin.resolver.compat import Flags, Plan, ResolveError, plan
from cogpin.resolver.images import EngineImageSource, ImageInfo, ImageSource, standalone_python
from cogpin.resolver.python import Package, Target, index_setup, resolve_closure
from cogpin.settings import Settings

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _base_from_old(old: Lock | None, image: str, platform: str) -> ImageInfo | None:
    if old is None:
        return None
    b = old.base(platform)
    if not b or b.get("image") != image or not b.get("digest"):
        return None
    env = {k: v for k, v in (b.get("env") or {}).items()}
    return ImageInfo(image, platform, b["digest"], env, env.get("PYTHON_VERSION") or b.get("python") or None)


def make_lock(
    config: Any,
    flags: Flags,
    settings: Settings,
    *,
    old: Lock | None = None,
    upgrade: bool = False,
    upgrade_packages: tuple[str, ...] = (),
    images: ImageSource | None = None,
    progress: Progress = _quiet,
) -> Lock:
    p = plan(config, flags)
    inputs = compute_inputs(config, flags, settings)
    images = images or EngineImageSource()

    # 1. base image per platform, by digest (kept from the old lock unless --upgrade)
    bases: dict[str, ImageInfo] = {}
    for platform in p.platforms:
        info = None if upgrade else _base_from_old(old, p.base_image, platform)
        if info is None:
            progress(f"reading {p.base_image} ({platform}) from the registry")
            info = images.inspect(p.base_image, platform, want_python=p.python_source == "image")
        bases[platform] = info
    first = bases[p.platforms[0]]
    _check_cuda(p, first)

    # 2. the exact Python
    standalone = None
    if p.python_source == "image":
        pythons = {pl: b.python for pl, b in bases.items()}
        for pl, v in pythons.items():
            if not v:
                raise ResolveError(
                    f"{p.base_image} ({pl}) has no PYTHON_VERSION and no python3 that answered",
                    "use an official python:<X.Y>-slim image (or a mirror of it).",
                )
        python = str(pythons[p.platforms[0]])
        if len(set(pythons.values())) != 1:
            raise ResolveError(
                f"{p.base_image} has different Python versions per platform: {pythons}",
                "lock one platform at a time, or pin python_version to X.Y.Z.",
            )
        if p.python_requested.count(".") == 2 and python != p.python_requested:
            raise ResolveError(
                f"python_version {p.python_requested} asked, but {p.base_image} has Python {python}",
                f'set python_version: "{p.python}" (or "{python}") in cog.yaml.',
            )
    else:
        standalone = standalone_python(p.python_requested, p.platforms[0])
        python = standalone.version

    # 3. the Python closure per platform
    setup = index_setup(p, config, settings)
    merged: dict[tuple[str, str, str], Package] = {}
    for platform in p.platforms:
        glibc = p.glibc
        target = Target(platform, python, glibc)
        progress(f"resolving Python packages for {platform} (Python {python}, {target.uv_platform})")
        prefs = None if old is None or upgrade else old.package_versions(platform)
        pkgs = resolve_closure(
            p,
            config,
            settings,
            target,
            preferences=prefs,
            upgrade=upgrade,
            upgrade_packages=upgrade_packages,
            setup=setup,
        )
        _check_closure(p, pkgs, platform)
        for pkg in pkgs:
            key = (pkg.name, pkg.version, pkg.source)
            if key in merged:
                merged[key].wheels.extend(pkg.wheels)
            else:
                merged[key] = pkg

    # 4. the runtime wheel
    from cogpin.runtime_wheel import build_runtime_wheel

    rt = build_runtime_wheel(settings.cache_dir)

    data = {
        "lock-version": LOCK_VERSION,
        "generated-by": f"cogpin {__version__}",
        "data-version": p.data_version,
        "inputs": inputs.table(),
        "original": inputs.original,
        "locked": _locked(p, bases, python, standalone, list(merged.values())),
        "package": [_package(pkg) for pkg in merged.values()],
        "runtime": {"filename": rt.filename, "name": rt.name, "sha256": rt.sha256, "version": rt.version},
    }
    return Lock(data)


def _check_cuda(p: Plan, info: ImageInfo) -> None:
    if not p.gpu:
        return
    got = info.env.get("CUDA_VERSION", "")
    if not got:
        raise ResolveError(
            f"{p.base_image} has no CUDA_VERSION in its config; it is not an nvidia/cuda image",
            "check the registry or mirror that serves nvidia/cuda.",
        )
    if got.split(".")[:2] != str(p.cuda).split(".")[:2]:
        raise ResolveError(
            f"{p.base_image} says CUDA_VERSION={got}, but CUDA {p.cuda} was planned",
            "the registry or mirror serves a different image under this tag; fix the mirror.",
        )


def _check_closure(p: Plan, pkgs: list[Package], platform: str) -> None:
    if p.gpu:
        return
    cuda = sorted(x.name for x in pkgs if x.name.startswith("nvidia-"))
    if cuda:
        raise ResolveError(
            f"gpu is false but the closure for {platform} pulls CUDA libraries: {', '.join(cuda)}",
            "a CPU torch comes from the `cpu` variant index: make it reachable (COGPIN_TORCH_INDEX_URL for a "
            "mirror) or put torch-X+cpu wheels in a --find-links folder.",
        )


def _locked(
    p: Plan, bases: dict[str, ImageInfo], python: str, standalone: Any, pkgs: list[Package]
) -> dict[str, Any]:
    first = bases[p.platforms[0]]
    locked: dict[str, Any] = {
        "cuda": first.env.get("CUDA_VERSION", "") if p.gpu else "",
        "cudnn": first.env.get("NV_CUDNN_VERSION", "") if p.gpu else "",
        "nvidia-require-cuda": first.env.get("NVIDIA_REQUIRE_CUDA", "") if p.gpu else "",
        "python": python,
        "python-source": p.python_source,
        "glibc": p.glibc,
        "base": [
            {
                "digest": b.digest,
                "env": {k: v for k, v in sorted(b.env.items())},
                "image": b.image,
                "platform": pl,
                "python": b.python or "",
            }
            for pl, b in bases.items()
        ],
    }
    if p.torch:
        t = p.torch
        torch_pkg = next((x for x in pkgs if x.name == "torch"), None)
        cudnn_pkg = next((x for x in pkgs if x.name.startswith("nvidia-cudnn")), None)
        locked["torch"] = {
            "index-url": t.index_url,
            "variant": t.variant,
            "version": t.version,
            "wheel-source": torch_pkg.source if torch_pkg else "",
            "cudnn": cudnn_pkg.version if cudnn_pkg else (t.cudnn or ""),
        }
    if standalone is not None:
        locked["standalone-python"] = {
            "filename": standalone.filename,
            "platform": standalone.platform,
            "sha256": standalone.sha256,
            "url": standalone.url,
            "version": standalone.version,
        }
    return locked


def _package(pkg: Package) -> dict[str, Any]:
    d: dict[str, Any] = {"name": pkg.name, "source": pkg.source, "version": pkg.version}
    if pkg.requested:
        d["requested"] = pkg.requested
    wheels = []
    for w in pkg.wheels:
        wd = {"filename": w.filename, "platform": w.platform, "sha256": w.sha256}
        if w.url:
            wd["url"] = w.url
        wheels.append(wd)
    d["wheel"] = wheels
    return d
