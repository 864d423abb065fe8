"""cog.lock: the model (``Lock``), canonical TOML, input hash, staleness and atomic writes; plus
``ensure_fresh(config, mode)`` for the commands that build from the lock."""

from cogpin.lock.api import StaleLock, effective_flags, ensure_fresh, existing_lock, lock_path, relock
from cogpin.lock.model import LOCK_NAME, LOCK_VERSION, Inputs, Lock, LockError, write_atomic

__all__ = [
    "LOCK_NAME",
    "LOCK_VERSION",
    "Inputs",
    "Lock",
    "LockError",
    "StaleLock",
    "effective_flags",
    "ensure_fresh",
    "existing_lock",
    "lock_path",
    "relock",
    "write_atomic",
]
