"""`cogpin build`: lock → Dockerfile → image on the Docker Engine.

1. Read ``cog.lock`` (checked against cog.yaml by ``cogpin.lock.ensure_fresh`` per ``lock_mode``).
2. Compute the image's **identity**: a hash of the lock's bytes, the project files after .dockerignore,
   the CA certificate and the template version. An image labelled with it already exists → nothing to do.
3. Fetch every artifact the lock pins into the content-addressed cache (sha256-checked), serve them on
   127.0.0.1 for the build (this machine's, or the engine's: ``cogpin.builder.wheels_engine.mode``), render
   the Dockerfile, send a context of the Dockerfile, cogpin's init and the project (fixed mtimes and
   owners), and build untagged (the Docker SDK's classic builder; the BuildKit CLI
   when build.run has secret mounts).
4. Run ``python -m cog.command.openapi_schema`` in a throwaway container of the image (an invalid
   predictor fails the build here, with the reason), then add the schema, pip freeze, identity and OCI
   labels in a metadata-only step, and only then tag: a failed build leaves no tag behind.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogpin.builder import identity as _identity
from cogpin.builder.context import write_context
from cogpin.builder.engine_steps import (
    buildkit_build,
    classic_build,
    host_mode_hint,
    openapi_schema,
    parse_secret,
)
from cogpin.builder.identity import ca_certificate, project_files
from cogpin.builder.image_config import final_labels, metadata_step, oci_labels
from cogpin.builder.progress import Progress, print_layers
from cogpin.labels import IDENTITY, OPENAPI_SCHEMA

if TYPE_CHECKING:
    from docker.models.images import Image

    from cogpin.config import Config
    from cogpin.lock.view import LockView


@dataclass
class BuildOptions:
    tag: str | None = None  # default: `image` from cog.yaml, else cog-<folder name>
    no_cache: bool = False
    secrets: tuple[str, ...] = ()  # "id=ID,src=FILE"
    progress: str = "auto"  # auto|plain|quiet
    lock_mode: str = "locked"  # locked|frozen|relock
    ca_cert: str | None = None  # PEM file, folder or text; default: COG_CA_CERT (as Cog reads it)
    port: int | None = None  # wheel server port; default COGPIN_WHEELS_PORT or the templates' fixed port


@dataclass
class BuiltImage:
    id: str
    tags: list[str]
    identity_tag: str
    schema: dict
    reused: bool
    identity: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    wheelhouse: str = ""  # where the build's wheel server ran: host|engine ("" when nothing was built)
    uploaded: list[str] = field(default_factory=list)  # artifacts sent to the engine's volume (engine mode)


def load_lock(config: Config, mode: str = "locked", echo: Callable[[str], None] | None = None) -> LockView:
    """The lock to build from: ``cogpin.lock.ensure_fresh`` decides per mode (locked: fail when stale,
    naming what changed; frozen: use as is; relock: re-resolve when stale; no lock: create one)."""
    from cogpin.lock import ensure_fresh
    from cogpin.lock.view import view

    path = config.root / "cog.lock"
    return view(ensure_fresh(config, mode, echo=echo), str(path))


def default_tag(config: Config) -> str:
    if config.image:
        return config.image
    name = re.sub(r"[^a-z0-9._-]+", "-", config.root.name.lower()).strip("-._") or "model"
    return f"cog-{name}"


def repository(tag: str) -> str:
    """``registry:5000/a/b:tag@sha256:…`` → ``registry:5000/a/b``."""
    tag = tag.split("@", 1)[0]
    head, _, last = tag.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def find_reusable(ident: str, identity_tag: str | None = None) -> Image | None:
    """An image built from these exact inputs: by its identity tag first (one inspect, however many
    images the engine holds), else by the identity label (an image built under another name)."""
    from docker.errors import NotFound

    from cogpin.engine import client

    if identity_tag:
        try:
            image = client().images.get(identity_tag)
        except NotFound:
            pass
        else:
            if (image.labels or {}).get(IDENTITY) == ident:
                return image
    images = client().images.list(filters={"label": f"{IDENTITY}={ident}"})
    return images[0] if images else None


def build_image(config: Config, options: BuildOptions, *, include_project: bool = True) -> BuiltImage:
    progress = Progress(options.progress)
    for spec in options.secrets:  # a wrong --secret is an error even when nothing needs building
        parse_secret(spec)
    lock = load_lock(config, options.lock_mode, echo=progress.info)
    _local_artifacts(config, lock, progress)
    ca = ca_certificate(options.ca_cert)
    files = project_files(config.root) if include_project else []
    # the environment image (predict/run/serve from source) is never pushed: its labels need not follow
    # the git revision, and skipping that keeps it reusable across commits
    oci = oci_labels(config) if include_project else {}
    ident = _identity.identity(lock, config, files, ca, include_project, oci)
    tag, identity_tag = _tags(config, options, include_project, ident)
    if not options.no_cache:
        reused = _reuse(ident, tag, identity_tag, progress)
        if reused is not None:
            return reused

    t0 = time.monotonic()
    progress.info(f"building {tag} from cog.lock (base {lock.base_image}@{lock.base_digest[:19]}…)")
    built = _build_layers(lock, config, options, files, ca, include_project, progress)
    # The environment image serves `run`/`predict`/`serve` from source, which read the schema of the
    # mounted project themselves; `cog run` must work even while the predictor is broken. A cog.yaml with
    # no predictor (only the environment, for `cog run`/`cog exec`) has no schema, as with Cog.
    schema: dict = {}
    with_schema = include_project and bool(config.predict)
    if with_schema:
        progress.begin_step("reading the predictor's OpenAPI schema")
        schema = openapi_schema(built.id, config, include_project)
    labels = final_labels(lock, config, schema if with_schema else None, ident, oci)
    progress.begin_step("adding labels")
    image = _tagged(metadata_step(built.id, labels, lock.base_ref, progress), (tag, identity_tag))
    progress.done()
    if options.progress != "quiet":
        print_layers(image, lock.base_ref, progress)
    progress.info(
        f"built {tag} ({image.short_id.removeprefix('sha256:')}) in {time.monotonic() - t0:.1f}s; identity tag {identity_tag}"
    )
    image.reload()
    built.tags, built.identity_tag, built.schema, built.identity = [tag], identity_tag, schema, ident
    built.id, built.labels = image.id, dict(image.labels or {})
    return built


def _local_artifacts(config: Config, lock: LockView, progress: Progress) -> None:
    """The wheels of the local artifacts in the cache (built again from their source on a machine that
    has not built them yet), each the one the lock pins (cogpin.lock.local)."""
    if not config.requirements.local_artifacts:
        return
    from cogpin.lock.local import check_rebuilt, local_wheels
    from cogpin.settings import Settings

    wheels = local_wheels(config, Settings.from_env(), progress.info)
    check_rebuilt({p.name: a.sha256 for p in lock.packages for a in p.wheels}, wheels)


def _tags(config: Config, options: BuildOptions, include_project: bool, ident: str) -> tuple[str, str]:
    """The tag asked for (or the default, ``-env`` for the environment image) and the identity tag."""
    tag = options.tag or default_tag(config)
    if not include_project and not options.tag:
        tag = f"{repository(tag)}-env"
    if ":" not in tag.rsplit("/", 1)[-1]:
        tag = f"{tag}:latest"
    return tag, f"{repository(tag)}:cogpin-{ident[:32]}"


def _reuse(ident: str, tag: str, identity_tag: str, progress: Progress) -> BuiltImage | None:
    """The image built from these exact inputs, tagged ``tag`` too; None when there is none."""
    existing = find_reusable(ident, identity_tag)
    if existing is None:
        return None
    for t in (tag, identity_tag):
        if t not in existing.tags:
            existing.tag(t)
    labels = existing.labels or {}
    progress.info(
        f"{tag} is up to date (identity {ident[:12]}, image {existing.short_id.removeprefix('sha256:')}); nothing to build"
    )
    return BuiltImage(
        id=existing.id,
        tags=[tag],
        identity_tag=identity_tag,
        schema=json.loads(labels.get(OPENAPI_SCHEMA, "{}")),
        reused=True,
        identity=ident,
        labels=dict(labels),
    )


def _build_layers(
    lock: LockView,
    config: Config,
    options: BuildOptions,
    files: list[tuple[str, Path]],
    ca: bytes | None,
    include_project: bool,
    progress: Progress,
) -> BuiltImage:
    """The untagged image of the Dockerfile, built while the lock's artifacts are served to it; its
    ``id`` is the built image's, ``wheelhouse`` and ``uploaded`` say how the artifacts were served."""
    from cogpin.builder import wheels_engine, wheels_host
    from cogpin.engine import client
    from cogpin.settings import Settings, wheels_port
    from cogpin.templates import DEFAULT_PORT, RenderOptions, render

    c = client()
    paths = wheels_host.ensure_artifacts(
        lock,
        Settings.from_env(),
        on_fetch=lambda a: progress.info(f"fetching {a.filename} into the artifact cache"),
    )
    port = options.port or wheels_port(DEFAULT_PORT)
    where = wheels_engine.mode(c)
    serving: Any
    if where == "engine":
        serving = wheels_engine.serve(
            list(lock.artifacts()),
            paths,
            port,
            base_ref=lock.base_ref if lock.python_source == "image" else None,
            client=c,
            info=progress.info,
        )
    else:
        serving = wheels_host.serve(list(lock.artifacts()), paths, port)
    with serving as server:
        hint = server.failure_hint if where == "engine" else host_mode_hint
        uploaded = list(getattr(server, "uploaded", []))
        if server.port != port:
            progress.info(
                f"port {port} is taken; serving wheels on {server.port} (package layers will not come from the cache)"
            )
        dockerfile = render(
            lock,
            config,
            RenderOptions(include_project=include_project, port=server.port, ca_cert=ca is not None),
        )
        with tempfile.NamedTemporaryFile(prefix="cogpin-context-", suffix=".tar") as ctx:
            write_context(ctx, dockerfile, files, ca, include_project)
            ctx.flush()
            ctx.seek(0)
            if any(step.mounts for step in config.run):
                image_id = buildkit_build(
                    Path(ctx.name),
                    progress,
                    no_cache=options.no_cache,
                    platform=lock.platform,
                    secrets=options.secrets,
                    hint=hint,
                )
            else:
                image_id = classic_build(
                    ctx, progress, no_cache=options.no_cache, platform=lock.platform, hint=hint
                )
    return BuiltImage(
        id=image_id, tags=[], identity_tag="", schema={}, reused=False, wheelhouse=where, uploaded=uploaded
    )


def _tagged(image_id: str, tags: tuple[str, ...]) -> Image:
    from cogpin.engine import client

    image = client().images.get(image_id)
    for t in tags:
        image.tag(t)
    return image
