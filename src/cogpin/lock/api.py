"""What other commands use: find the lock, check it, refresh it (``ensure_fresh``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin.errors import CogpinError
from cogpin.lock.inputs import compute_inputs
from cogpin.lock.model import LOCK_NAME, Inputs, Lock, LockError, write_atomic
from cogpin.resolver.compat import Flags
from cogpin.settings import Settings

if TYPE_CHECKING:
    from cogpin.config import Config
    from cogpin.resolver.images import ImageSource

MODES = ("locked", "frozen", "relock")


class StaleLock(CogpinError):
    pass


def lock_path(config: Config) -> Path:
    return Path(config.root) / LOCK_NAME


def existing_lock(config: Config) -> Lock | None:
    p = lock_path(config)
    if not p.is_file():
        return None
    try:
        return Lock.load(p)
    except LockError:
        return None


def _none(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in ("none", "")


def effective_flags(options: dict[str, Any], lock: Lock | None) -> Flags:
    """Flags from the command line; a flag not given keeps what the lock recorded (``--driver none`` /
    ``--gpu-arch none`` clear it; ``--platform linux/amd64`` alone locks amd64 only)."""
    recorded = lock.settings if lock is not None else {}
    archs = options.get("gpu_archs") or ()
    if archs:
        archs = () if any(_none(a) for a in archs) else tuple(archs)
    else:
        archs = tuple(recorded.get("gpu-arch", ()))
    driver = options.get("driver")
    if driver is None:
        driver = recorded.get("driver") or None
    elif _none(driver):
        driver = None
    flavor = options.get("cuda_flavor") or recorded.get("cuda-flavor") or "runtime"
    platforms = options.get("platforms") or tuple(recorded.get("platforms", ()))
    return Flags.from_options(gpu_archs=archs, driver=driver, cuda_flavor=flavor, platforms=platforms)


def current_inputs(config: Config, flags: Flags, settings: Settings | None = None) -> Inputs:
    return compute_inputs(config, flags, settings or Settings.from_env())


def relock(
    config: Config,
    flags: Flags,
    settings: Settings | None = None,
    *,
    old: Lock | None = None,
    upgrade: bool = False,
    upgrade_packages: tuple[str, ...] = (),
    images: ImageSource | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Lock, bool]:
    """Resolve and write cog.lock atomically; returns (lock, whether the file changed). A failure raises
    before anything is written, so the old lock stays as it was."""
    from cogpin.lock.make import make_lock

    settings = settings or Settings.from_env()
    lock = make_lock(
        config,
        flags,
        settings,
        old=old,
        upgrade=upgrade,
        upgrade_packages=upgrade_packages,
        images=images,
        progress=progress or (lambda _: None),
    )
    changed = write_atomic(lock_path(config), lock.dumps())
    return lock, changed


def ensure_fresh(
    config: Config,
    mode: str = "locked",
    *,
    settings: Settings | None = None,
    images: ImageSource | None = None,
    echo: Callable[[str], None] | None = None,
) -> Lock:
    """The lock for ``config``, as ``build``/``push`` need it.

    - ``locked`` (default): refuse a stale lock, naming what changed and the fix (`cogpin lock`);
    - ``frozen``: use the lock as it is, no check (still an error when there is none... it is created);
    - ``relock``: re-lock when stale (keeping existing pins where they still fit).
    With no lock at all, one is created (in every mode) and ``echo`` says so.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    say = echo or (lambda m: None)
    settings = settings or Settings.from_env()
    path = lock_path(config)
    if not path.is_file():
        say(f"no {LOCK_NAME} yet: creating it (`cogpin lock`)")
        lock, _ = relock(config, effective_flags({}, None), settings, images=images, progress=say)
        say(f"wrote {path}")
        return lock
    lock = Lock.load(path)
    if mode == "frozen":
        return lock
    flags = effective_flags({}, lock)
    current = current_inputs(config, flags, settings)
    if lock.is_fresh(current):
        return lock
    reasons = lock.stale_reasons(current)
    if mode == "locked":
        raise StaleLock(
            f"{path.name} is out of date with {Path(config.path).name}:\n"
            + "\n".join(f"  - {r}" for r in reasons),
            "run `cogpin lock` to update it (or pass --relock; --frozen uses it as it is).",
        )
    say(f"{LOCK_NAME} is out of date ({'; '.join(reasons)}): re-locking")
    lock, _ = relock(config, flags, settings, old=lock, images=images, progress=say)
    return lock
