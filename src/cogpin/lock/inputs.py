"""The lock's inputs: everything that changes resolution, hashed (apko/poetry style) and kept readable
(Nix's ``original``). Pure apart from reading the referenced files."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from cogpin.lock.model import Inputs, canonical_json, sha256_text
from cogpin.resolver.compat import Flags, data_version
from cogpin.settings import Settings

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CRED = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")


def normalise_url(url: str) -> str:
    """Credentials removed, trailing slash removed; local paths (``file://`` or plain) become ``<local>``."""
    if not _URL.match(url) or url.startswith("file:"):
        return "<local>"
    return _CRED.sub(r"\1", url).rstrip("/")


def settings_inputs(flags: Flags, settings: Settings) -> dict[str, Any]:
    """The flags that change resolution (GPU flags, platforms, flavor).

    The machine's package-index settings (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``COGPIN_TORCH_INDEX_URL``,
    …) are mirrors: they serve the same artifacts, identified by the same hashes, so they are not inputs.
    Otherwise a lock committed on a machine with a mirror would be "stale" on every other machine.
    Indexes named in cog.yaml or its requirements file are inputs, through the config hash."""
    return flags.settings()


def original(config: Any) -> dict[str, Any]:
    from cogpin.config import canonical_inputs

    orig = dict(canonical_inputs(config))
    orig["requirements_file"] = config.requirements.file or ""
    return orig


def file_hashes(config: Any) -> dict[str, str]:
    files = tuple(getattr(config.requirements, "files", ()) or ())
    if not files and config.requirements.file:
        files = (config.requirements.file,)
    out = {}
    for rel in files:
        path = config.root / rel
        try:
            out[str(rel)] = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            out[str(rel)] = "missing"
    return out


def current_runtime(settings: Settings) -> dict[str, str] | None:
    """The runtime wheel this cogpin would pin (built deterministically, ~10 ms); None when no runtime
    is installed (then the lock's pin is used as it is)."""
    from cogpin.errors import CogpinError
    from cogpin.runtime_wheel import build_runtime_wheel

    try:
        w = build_runtime_wheel(settings.cache_dir)
    except CogpinError:
        return None
    return {"filename": w.filename, "sha256": w.sha256, "version": w.version}


def compute_inputs(config: Any, flags: Flags, settings: Settings) -> Inputs:
    from cogpin.config import canonical_inputs

    return Inputs(
        config=sha256_text(canonical_json(canonical_inputs(config))),
        files=file_hashes(config),
        settings=settings_inputs(flags, settings),
        data_version=data_version(),
        original=original(config),
        runtime=current_runtime(settings),
    )
