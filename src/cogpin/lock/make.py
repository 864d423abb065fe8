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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin import __version__
from cogpin.config import Config
from cogpin.lock.inputs import compute_inputs
from cogpin.lock.model import LOCK_VERSION, Inputs, Lock
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

if TYPE_CHECKING:
    from cogpin.artifacts.runtime_wheel import RuntimeWheel

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
    config: Config,
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
    run = _LockRun(
        p, config, settings, old, upgrade, upgrade_packages, images or EngineImageSource(), progress
    )
    try:
        return run.make(inputs)
    finally:
        run.close()


class _LockRun:
    """One ``make_lock``: the request and the threads its effects run in. ``make`` runs the steps; the
    others are its parts, in the order they start."""

    def __init__(
        self,
        p: Plan,
        config: Config,
        settings: Settings,
        old: Lock | None,
        upgrade: bool,
        upgrade_packages: tuple[str, ...],
        images: ImageSource,
        progress: Progress,
    ) -> None:
        self.p, self.config, self.settings, self.old = p, config, settings, old
        self.upgrade, self.upgrade_packages = upgrade, upgrade_packages
        self.images, self.progress = images, progress
        self.cancels: list[threading.Event] = []
        self._local: tuple[Path, ...] | None = None
        self._local_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=3 + 2 * len(p.platforms), thread_name_prefix="cogpin-lock")
        self.memo = Memo(settings.cache_dir, "image-python")
        self.want_python = p.python_source == "image"
        self.setup_f: Future[IndexSetup] | None = None

    def close(self) -> None:
        for c in self.cancels:  # a uv run still going is not wanted any more (only after an error)
            c.set()
        self.pool.shutdown(wait=True)

    def make(self, inputs: Inputs) -> Lock:
        p = self.p
        # started at once: the index setup (its torch-index probe, which uv needs), then uv when the target
        # Python is known or guessed (before the other threads, which would only compete with it for the GIL),
        # the base images, and the runtime wheel
        self.setup_f = self.pool.submit(index_setup, p, self.config.requirements, self.settings)
        # 1. base image per platform, by digest (kept from the old lock unless --upgrade)
        known, missing = self.kept_bases()
        # 2. the exact Python: known now (standalone; bases kept from the old lock), or guessed and checked later
        standalone: StandalonePython | None = None
        standalone_error: ResolveError | None = None
        guess: str | None = None
        if self.want_python:
            guess = _python_guess(p, known, missing, self.memo)
        else:
            try:
                standalone = standalone_python(p.python_requested, p.platforms[0])
                guess = standalone.version
            except ResolveError as e:
                standalone_error = e
        resolving = self.start(guess) if guess else None
        bases, runtime_f = self.read_bases(known, missing)
        if self.want_python:
            python = self.image_python(bases)
        else:
            if standalone_error is not None:
                raise standalone_error
            assert standalone is not None
            python = standalone.version
        # 3. the Python closure per platform (re-run when the guessed Python was not the image's)
        if resolving is None or guess != python:
            if self.cancels:
                self.cancels[-1].set()
            resolving = self.start(python)
        packages = self.merged(resolving)
        # 4. the runtime wheel
        rt = runtime_f.result()
        data = {
            "lock-version": LOCK_VERSION,
            "generated-by": f"cogpin {__version__}",
            "data-version": p.data_version,
            "inputs": inputs.table(),
            "original": inputs.original,
            "locked": _locked(p, bases, python, standalone, packages),
            "package": [_package(pkg) for pkg in packages],
            "runtime": {"filename": rt.filename, "name": rt.name, "sha256": rt.sha256, "version": rt.version},
        }
        return Lock(data)

    def kept_bases(self) -> tuple[dict[str, ImageInfo], list[str]]:
        """The base images the old lock pins for this plan (none with --upgrade), and the platforms
        whose base must be read from the registry."""
        known: dict[str, ImageInfo] = {}
        missing: list[str] = []
        for platform in self.p.platforms:
            info = None if self.upgrade else _base_from_old(self.old, self.p.base_image, platform)
            if info is None:
                missing.append(platform)
            else:
                known[platform] = info
        return known, missing

    def resolve(self, target: Target, prefs: dict[str, str] | None, cancel: threading.Event) -> list[Package]:
        assert self.setup_f is not None
        setup: IndexSetup = self.setup_f.result()
        return resolve_closure(
            self.p,
            self.config.requirements,
            self.settings,
            target,
            preferences=prefs,
            upgrade=self.upgrade,
            upgrade_packages=self.upgrade_packages,
            setup=setup,
            cancel=cancel,
            local_wheels=self.local_wheels(),
        )

    def local_wheels(self) -> tuple[Path, ...]:
        """The wheels of the project's local artifacts, built once per lock (cogpin.lock.local)."""
        if not self.config.requirements.local_artifacts:
            return ()
        with self._local_lock:
            if self._local is None:
                from cogpin.lock.local import local_wheels

                self._local = tuple(w.path for w in local_wheels(self.config, self.settings, self.progress))
        return self._local

    def start(self, python: str) -> dict[str, Future[list[Package]]]:
        """uv for every platform with the target ``python``, in the pool (cancelled by a later start)."""
        cancel = threading.Event()
        self.cancels.append(cancel)
        futures = {}
        for platform in self.p.platforms:
            target = Target(platform, python, self.p.glibc)
            self.progress(f"resolving Python packages for {platform} (Python {python}, {target.uv_platform})")
            prefs = None if self.old is None or self.upgrade else self.old.package_versions(platform)
            futures[platform] = self.pool.submit(self.resolve, target, prefs, cancel)
        return futures

    def read_bases(
        self, known: dict[str, ImageInfo], missing: list[str]
    ) -> tuple[dict[str, ImageInfo], Future[RuntimeWheel]]:
        """Every platform's base: the kept ones, and the ``missing`` read in one thread, while the runtime
        wheel builds in another (its future is returned); the CUDA the image has is checked against the plan."""
        from cogpin.artifacts.runtime_wheel import build_runtime_wheel

        p = self.p

        def read_images() -> dict[str, ImageInfo]:
            out = {}
            for platform in missing:
                out[platform] = self.images.inspect(p.base_image, platform, want_python=self.want_python)
            return out

        for platform in missing:
            self.progress(f"reading {p.base_image} ({platform}) from the registry")
        images_f: Future[dict[str, ImageInfo]] | None = self.pool.submit(read_images) if missing else None
        runtime_f = self.pool.submit(build_runtime_wheel, self.settings.cache_dir)
        read = images_f.result() if images_f is not None else {}
        bases = {pl: known[pl] if pl in known else read[pl] for pl in p.platforms}
        for pl in missing:
            if read[pl].python:
                self.memo.put(_python_key(p.base_image, pl), read[pl].python)
        _check_cuda(p, bases[p.platforms[0]])
        return bases, runtime_f

    def image_python(self, bases: dict[str, ImageInfo]) -> str:
        """The exact Python of the base images: the same on every platform, and the one asked for."""
        p = self.p
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
        return python

    def merged(self, resolving: dict[str, Future[list[Package]]]) -> list[Package]:
        """The closures of every platform, checked, as one list (a package on several platforms once,
        with all its wheels)."""
        merged: dict[tuple[str, str, str], Package] = {}
        for platform in self.p.platforms:
            pkgs = resolving[platform].result()
            _check_closure(self.p, pkgs, platform)
            for pkg in pkgs:
                key = (pkg.name, pkg.version, pkg.source)
                if key in merged:
                    merged[key].wheels.extend(pkg.wheels)
                else:
                    merged[key] = pkg
        return list(merged.values())


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
