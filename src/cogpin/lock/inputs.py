"""The lock's inputs: everything that changes resolution, hashed (apko/poetry style) and kept readable
(Nix's ``original``). Pure apart from reading the referenced files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cogpin.config import Config
from cogpin.config.model import run_step_json
from cogpin.config.requirements import canonical_requirement
from cogpin.fsutil import relative_posix
from cogpin.lock.model import Inputs, canonical_json, sha256_text
from cogpin.resolver.compat import Flags, data_version
from cogpin.settings import Settings
from cogpin.urls import is_url, strip_credentials


def canonical_inputs(config: Config) -> dict[str, Any]:
    """The build-relevant request, canonicalised: the lock's input hash and its ``[original]`` table.

    Included, because each changes what gets resolved or built:
      - ``python_version`` (as written, "3.12" or "3.12.4"), ``gpu``, ``cuda``/``cudnn`` ("" when not set):
        they choose the base image, the CUDA variant and the wheels;
      - ``requirements``: the requirement lines from python_packages or the requirements file (with its
        ``-r`` includes), each in packaging's canonical form (normalised name/extras, sorted specifiers,
        normalised markers, whitespace-insensitive), sorted and de-duplicated — order and spelling do not
        change the resolution;
      - ``index_url`` ("" when not set), ``extra_index_urls`` (kept in the order written: index priority can
        depend on it), ``find_links`` (URLs as written, local folders project-relative, never machine
        paths), ``options`` (--pre, --no-index, --only-binary=… and the like, sorted): they change where
        and what the resolver may pick. Credentials (``user:token@``) are removed from every URL: they
        differ between machines and must never reach the lock;
      - ``system_packages`` (sorted, de-duplicated: apt installs them in one step);
      - ``run``: the build.run steps in order (pre_install first), with their secret mounts: they are
        image layers;
      - ``environment``: ``NAME=value`` in the order written (set at build time, so they can affect builds);
      - ``predict``/``train`` references ("" when not set): they go into the image's config.
      - ``local_artifacts`` (only when there are any): each local wheel/sdist/folder named as a
        requirement, project-relative, with its source hash (``cogpin.lock.local``): a changed artifact
        makes the lock stale;
    Excluded: ``image`` (where to push, not what is built), ``concurrency`` (a runtime setting),
    ``python_requirements``' file name (the lock hashes the referenced files separately via
    ``Requirements.files``), comments, key order, quoting and any other formatting of cog.yaml.
    """
    req = config.requirements
    requirements = sorted({canonical_requirement(line) for line in req.lines})
    find_links = []
    for link in req.find_links:
        if is_url(link):
            find_links.append(strip_credentials(link))
        else:
            find_links.append(relative_posix(config.root, Path(link)))
    out = {
        "python_version": config.python_version,
        "gpu": config.gpu,
        "cuda": config.cuda or "",
        "cudnn": config.cudnn or "",
        "requirements": requirements,
        "index_url": strip_credentials(req.index_url) if req.index_url else "",
        "extra_index_urls": [strip_credentials(url) for url in req.extra_index_urls],
        "find_links": find_links,
        "options": sorted(req.options),
        "system_packages": sorted(set(config.system_packages)),
        "run": [run_step_json(step) for step in config.run],
        "environment": [f"{name}={value}" for name, value in config.environment],
        "predict": config.predict or "",
        "train": config.train or "",
    }
    if getattr(req, "local_artifacts", ()):
        from cogpin.lock.local import source_hashes

        out["local_artifacts"] = source_hashes(config)
    return out


def settings_inputs(flags: Flags, settings: Settings) -> dict[str, Any]:
    """The flags that change resolution (GPU flags, platforms, flavor).

    The machine's package-index settings (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``COGPIN_TORCH_INDEX_URL``,
    …) are mirrors: they serve the same artifacts, identified by the same hashes, so they are not inputs.
    Otherwise a lock committed on a machine with a mirror would be "stale" on every other machine.
    Indexes named in cog.yaml or its requirements file are inputs, through the config hash."""
    return flags.settings()


def original(config: Config) -> dict[str, Any]:
    orig = dict(canonical_inputs(config))
    orig["requirements_file"] = config.requirements.file or ""
    return orig


def file_hashes(config: Config) -> dict[str, str]:
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
    from cogpin.artifacts.runtime_wheel import build_runtime_wheel
    from cogpin.errors import CogpinError

    try:
        w = build_runtime_wheel(settings.cache_dir)
    except CogpinError:
        return None
    return {"filename": w.filename, "sha256": w.sha256, "version": w.version}


def compute_inputs(config: Config, flags: Flags, settings: Settings) -> Inputs:
    return Inputs(
        config=sha256_text(canonical_json(canonical_inputs(config))),
        files=file_hashes(config),
        settings=settings_inputs(flags, settings),
        data_version=data_version(),
        original=original(config),
        runtime=current_runtime(settings),
    )
