"""Make a lock: plan (pure) → base images by digest → Python closure with uv per platform → runtime wheel.
Effects happen here and at the edges they call; the result is a :class:`Lock`.

The effects run concurrently, because a cold lock should cost little more than uv's own resolution: the
base images are read (digest, pull, config) in one thread, the torch-index probe and the runtime wheel in
others, and uv starts as soon as it knows the exact target Python. When that Python comes from the base
image, uv starts at once with the best guess (the old lock, a ``X.Y.Z`` python_version, or what this tag
had last time on this machine); a guess the image then contradicts is cancelled and uv re-run with the
right version. Errors are raised in the same order as a step-by-step run would raise them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cogpin import __version__
from cogpin.lock.inputs import compute_inputs
from cogpin.lock.model import LOCK_VERSION, Lock
from cogpin.resolver.compat import Flags, Plan, ResolveError, plan
from cogpin.resolver.images import (
    EngineImageSource,
    ImageInfo,
    ImageSource,
    StandalonePython,
    standalone_python,
)
from cogpin.resolver.memo import Memo
from cogpin.resolver.python import IndexSetup, Package, Target, index_setup, resolve_closure
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


def _python_key(image: str, platform: str) -> str:
    return f"{image} {platform}"


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
    cancels: list[threading.Event] = []
    pool = ThreadPoolExecutor(max_workers=3 + 2 * len(p.platforms), thread_name_prefix="cogpin-lock")
    try:
        return _make(
            p, config, settings, inputs, old, upgrade, upgrade_packages, images, progress, pool, cancels
        )
    finally:
        for c in cancels:  # a uv run still going is not wanted any more (only after an error)
            c.set()
        pool.shutdown(wait=True)


def _make(
    p: Plan,
    config: Any,
    settings: Settings,
    inputs: Any,
    old: Lock | None,
    upgrade: bool,
    upgrade_packages: tuple[str, ...],
    images: ImageSource,
    progress: Progress,
    pool: ThreadPoolExecutor,
    cancels: list[threading.Event],
) -> Lock:
    from cogpin.runtime_wheel import build_runtime_wheel

    want_python = p.python_source == "image"
    memo = Memo(settings.cache_dir, "image-python")

    # started at once: the index setup (its torch-index probe, which uv needs), then uv when the target
    # Python is known or guessed (before the other threads, which would only compete with it for the GIL),
    # the base images, and the runtime wheel
    setup_f = pool.submit(index_setup, p, config, settings)

    # 1. base image per platform, by digest (kept from the old lock unless --upgrade), read in one thread
    known: dict[str, ImageInfo] = {}
    missing: list[str] = []
    for platform in p.platforms:
        info = None if upgrade else _base_from_old(old, p.base_image, platform)
        if info is None:
            missing.append(platform)
        else:
            known[platform] = info

    def read_images() -> dict[str, ImageInfo]:
        out = {}
        for platform in missing:
            out[platform] = images.inspect(p.base_image, platform, want_python=want_python)
        return out

    # 2. the exact Python: known now (standalone; bases kept from the old lock), or guessed and checked later
    standalone: StandalonePython | None = None
    standalone_error: ResolveError | None = None
    guess: str | None = None
    if want_python:
        guess = _python_guess(p, known, missing, memo)
    else:
        try:
            standalone = standalone_python(p.python_requested, p.platforms[0])
            guess = standalone.version
        except ResolveError as e:
            standalone_error = e

    def resolve(target: Target, prefs: dict[str, str] | None, cancel: threading.Event) -> list[Package]:
        setup: IndexSetup = setup_f.result()
        return resolve_closure(
            p,
            config,
            settings,
            target,
            preferences=prefs,
            upgrade=upgrade,
            upgrade_packages=upgrade_packages,
            setup=setup,
            cancel=cancel,
        )

    def start(python: str) -> dict[str, Future[list[Package]]]:
        cancel = threading.Event()
        cancels.append(cancel)
        futures = {}
        for platform in p.platforms:
            target = Target(platform, python, p.glibc)
            progress(f"resolving Python packages for {platform} (Python {python}, {target.uv_platform})")
            prefs = None if old is None or upgrade else old.package_versions(platform)
            futures[platform] = pool.submit(resolve, target, prefs, cancel)
        return futures

    resolving = start(guess) if guess else None
    for platform in missing:
        progress(f"reading {p.base_image} ({platform}) from the registry")
    images_f: Future[dict[str, ImageInfo]] | None = pool.submit(read_images) if missing else None
    runtime_f = pool.submit(build_runtime_wheel, settings.cache_dir)

    read = images_f.result() if images_f is not None else {}
    bases = {pl: known[pl] if pl in known else read[pl] for pl in p.platforms}
    for pl in missing:
        if read[pl].python:
            memo.put(_python_key(p.base_image, pl), read[pl].python)
    first = bases[p.platforms[0]]
    _check_cuda(p, first)

    if want_python:
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
        if standalone_error is not None:
            raise standalone_error
        assert standalone is not None
        python = standalone.version

    # 3. the Python closure per platform (re-run when the guessed Python was not the image's)
    if resolving is None or guess != python:
        if cancels:
            cancels[-1].set()
        resolving = start(python)
    merged: dict[tuple[str, str, str], Package] = {}
    for platform in p.platforms:
        pkgs = resolving[platform].result()
        _check_closure(p, pkgs, platform)
        for pkg in pkgs:
            key = (pkg.name, pkg.version, pkg.source)
            if key in merged:
                merged[key].wheels.extend(pkg.wheels)
            else:
                merged[key] = pkg

    # 4. the runtime wheel
    rt = runtime_f.result()

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


def _python_guess(p: Plan, known: dict[str, ImageInfo], missing: list[str], memo: Memo) -> str | None:
    """The image's exact Python before the image is read: from bases kept from the old lock, an exact
    ``python_version: X.Y.Z`` (anything else is an error later anyway), or what this tag had last time."""
    for info in known.values():
        if info.python:
            return info.python
    if p.python_requested.count(".") == 2:
        return p.python_requested
    for platform in missing:
        hit = memo.get(_python_key(p.base_image, platform))
        if hit is not None and isinstance(hit[0], str) and hit[0].startswith(p.python + "."):
            return hit[0]
    return None


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
