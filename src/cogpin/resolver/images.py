"""Base images pinned by digest, read from the registry through the Docker Engine (so the user's
credentials and registry mirrors apply), plus the exact CUDA/cuDNN/Python from the image config, and the
standalone CPython pin for bases without Python (nvidia/cuda)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from cogpin.errors import CogpinError
from cogpin.resolver.compat import PLATFORMS, ResolveError, load_data

if TYPE_CHECKING:
    from docker import DockerClient

ENV_KEYS = ("PYTHON_VERSION", "CUDA_VERSION", "NV_CUDNN_VERSION", "NVIDIA_REQUIRE_CUDA")


@dataclass(frozen=True)
class ImageInfo:
    image: str  # the tag asked for, e.g. python:3.11-slim-bookworm
    platform: str
    digest: str  # sha256:… (manifest digest from the registry)
    env: dict[str, str] = field(default_factory=dict)
    python: str | None = None  # exact Python version in the image, if any


class ImageSource(Protocol):
    def inspect(self, image: str, platform: str, want_python: bool) -> ImageInfo: ...


class EngineImageSource:
    """The real source: ``get_registry_data`` for the digest, then pull ``image@digest`` and read its config."""

    def __init__(self, client: DockerClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> DockerClient:
        if self._client is None:
            from cogpin.engine import client

            self._client = client()
        return self._client

    def inspect(self, image: str, platform: str, want_python: bool) -> ImageInfo:
        from docker.errors import APIError, NotFound

        try:
            rd = self.client.images.get_registry_data(image)
        except (NotFound, APIError) as e:
            have = self._mirror_tags(image)
            raise ResolveError(
                f"cannot read {image} from its registry: {_short(e)}",
                (
                    f"the engine's registry mirror has {', '.join(have)}: choose a python_version among them; "
                    if have
                    else ""
                )
                + "check the name and your access (`docker login`), or a registry mirror; "
                "for a local development environment run `scripts/dev-env up` (its stand-in base images: "
                "docs/dev-env.md).",
            ) from e
        digest = str(rd.id)
        try:
            has = rd.has_platform(platform)
        except Exception:
            has = True
        if not has:
            raise ResolveError(
                f"{image} has no {platform} image (registry digest {digest})",
                f"drop --platform {platform}, or choose a base that is published for it.",
            )
        name = image.rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
        ref = f"{name}@{digest}"
        try:
            img = self.client.images.pull(ref, platform=platform)
        except (NotFound, APIError) as e:
            raise ResolveError(
                f"cannot pull {ref} for {platform}: {_short(e)}", "check the registry or mirror."
            ) from e
        env = _env(img.attrs.get("Config", {}).get("Env") or [])
        python = env.get("PYTHON_VERSION")
        if want_python and not python:
            python = self._python_in(img.id, platform)
        return ImageInfo(image, platform, digest, {k: env[k] for k in ENV_KEYS if k in env}, python)

    def _mirror_tags(self, image: str) -> list[str]:
        """The tags of ``image``'s repository that the engine's registry mirrors hold (``python:3.11-…``), for
        the error when a base image is missing: a company mirror, or the development environment's."""
        import json
        import urllib.request

        name, _, _ = image.partition(":")
        repo = name if "/" in name else f"library/{name}"
        try:
            mirrors = self.client.info().get("RegistryConfig", {}).get("Mirrors") or []
        except Exception:
            return []
        for mirror in mirrors:
            try:
                with urllib.request.urlopen(f"{mirror.rstrip('/')}/v2/{repo}/tags/list", timeout=3) as r:  # noqa: S310
                    tags = json.load(r).get("tags") or []
            except (OSError, ValueError):
                continue
            if tags:
                return [f"{name}:{t}" for t in sorted(tags)]
        return []

    def _python_in(self, image_id: str, platform: str) -> str | None:
        try:
            out = self.client.containers.run(
                image_id,
                ["python3", "-c", "import platform;print(platform.python_version())"],
                remove=True,
                network_disabled=True,
                platform=platform,
            )
        except Exception:
            return None
        text = out.decode().strip() if isinstance(out, bytes) else str(out).strip()
        return text or None


def _env(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _short(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[-1] if lines else type(e).__name__


@dataclass(frozen=True)
class StandalonePython:
    version: str
    platform: str
    filename: str
    sha256: str
    url: str


def standalone_python(version: str, platform: str) -> StandalonePython:
    """The python-build-standalone archive for ``version`` (X.Y → newest patch; X.Y.Z exact), from data."""
    arch = PLATFORMS[platform]
    builds = [b for b in load_data().python.get("builds", []) if b["arch"] == arch]
    parts = version.split(".")
    if len(parts) == 2:
        rows = [b for b in builds if b["version"].split(".")[:2] == parts and _final(b["version"])]
    else:
        rows = [b for b in builds if b["version"] == version]
    if not rows:
        have = sorted(
            {".".join(b["version"].split(".")[:2]) for b in builds}, key=lambda v: int(v.split(".")[1])
        )
        raise ResolveError(
            f"no standalone CPython {version} for {platform} in cogpin's data (data {load_data().version})",
            f"use a python_version cogpin has a build of ({', '.join(have)}; exact patches from tools/refresh_compat.py), "
            "or X.Y for the newest patch.",
        )
    best = max(rows, key=lambda b: tuple(int(p) for p in b["version"].split(".")))
    return StandalonePython(best["version"], platform, best["filename"], best["sha256"], best["url"])


def _final(v: str) -> bool:
    return all(p.isdigit() for p in v.split("."))


__all__ = [
    "CogpinError",
    "EngineImageSource",
    "ImageInfo",
    "ImageSource",
    "StandalonePython",
    "standalone_python",
]
