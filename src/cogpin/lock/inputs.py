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
    """Flags + the index settings (normalised, never machine paths). The torch index template is a
    mirror of a logical index (same artifacts, same hashes), so it is not an input."""
    out = flags.settings()
    out["index-url"] = normalise_url(settings.index_url)
    out["extra-index-urls"] = [normalise_url(u) for u in settings.extra_index_urls]
    out["find-links"] = sorted({normalise_url(u) for u in settings.find_links})
    return out


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


def compute_inputs(config: Any, flags: Flags, settings: Settings) -> Inputs:
    from cogpin.config import canonical_inputs

    return Inputs(
        config=sha256_text(canonical_json(canonical_inputs(config))),
        files=file_hashes(config),
        settings=settings_inputs(flags, settings),
        data_version=data_version(),
        original=original(config),
    )
