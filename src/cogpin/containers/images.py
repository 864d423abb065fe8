"""Images given by name (``cog predict IMAGE``): pulled when missing, and what their labels say (the
schema, whether the model wants a GPU)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cogpin.errors import CogpinError
from cogpin.labels import COG_CONFIG, OPENAPI_SCHEMA

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from docker import DockerClient


def ensure_image(client: DockerClient, ref: str, note: Callable[[str], None]) -> str:
    """A local image for ``ref``, pulled when missing; returns the reference to run."""
    from docker.errors import APIError, ImageNotFound

    try:
        client.api.inspect_image(ref)
        return ref
    except ImageNotFound:
        pass
    note(f"Pulling {ref} …")
    try:
        client.images.pull(ref)
    except ImageNotFound:
        raise CogpinError(
            f"image {ref} not found locally or in its registry",
            "check the name, or build it with `cog build -t`.",
        ) from None
    except APIError as e:
        raise CogpinError(
            f"cannot pull {ref}: {e.explanation or e}",
            "check the name, and `cog login` for a private registry.",
        ) from None
    return ref


def image_schema(client: DockerClient, ref: str) -> tuple[dict[str, Any] | None, bool]:
    """(OpenAPI schema from the ``run.cog.openapi_schema`` label, gpu from ``run.cog.config``)."""
    labels = client.api.inspect_image(ref)["Config"].get("Labels") or {}
    schema = None
    raw = labels.get(OPENAPI_SCHEMA)
    if raw:
        try:
            schema = json.loads(raw)
        except ValueError:
            schema = None
    gpu = False
    try:
        cfg = json.loads(labels.get(COG_CONFIG) or "{}")
        gpu = bool((cfg.get("build") or {}).get("gpu"))
    except (ValueError, AttributeError):
        pass
    return schema, gpu
