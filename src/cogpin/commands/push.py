"""`cogpin push [IMAGE]`: build from cog.lock (refusing a stale lock), tag, push; prints the pushed
reference with its digest (``registry/user/model:tag@sha256:…``)."""

from __future__ import annotations

import time

import click

from cogpin import containers
from cogpin import registry as reg
from cogpin.errors import CogpinError


def main(
    config_file: str | None = None,
    no_cache: bool = False,
    secrets: tuple[str, ...] = (),
    progress: str = "auto",
    frozen: bool = False,
    relock: bool = False,
    image: str | None = None,
) -> int:
    from cogpin import engine
    from cogpin.build import BuildOptions, build_image
    from cogpin.config import load

    config = load(config_file)
    for w in config.warnings:
        click.echo(f"warning: {w}", err=True)
    target = image or config.image
    if not target:
        raise CogpinError(
            "no image to push to",
            "give one (`cog push r8.im/USER/MODEL`) or add `image: r8.im/USER/MODEL` to cog.yaml.",
        )
    registry_key, repo, tag = reg.split_reference(target)
    client = engine.client()
    t0 = time.monotonic()
    opts = BuildOptions(
        tag=f"{repo}:{tag}",
        no_cache=no_cache,
        secrets=tuple(secrets),
        progress=progress,
        lock_mode=containers.lock_mode(frozen, relock),
    )
    built = build_image(config, opts, include_project=True)
    if f"{repo}:{tag}" not in (built.tags or ()):
        client.api.tag(built.id, repo, tag)
    t1 = time.monotonic()
    click.echo(f"Pushing {repo}:{tag} …", err=True)

    def progress_line(line: str) -> None:
        if progress != "quiet":
            click.echo(f"  {line}", err=True)

    result = reg.push(client, repo, tag, registry_key, progress_line)
    t2 = time.monotonic()
    n = len(result.uploaded)
    click.echo(
        f"{n} layer{'s' if n != 1 else ''} uploaded, {len(result.existing)} already in the registry "
        f"(build {t1 - t0:.1f} s, push {t2 - t1:.1f} s)",
        err=True,
    )
    pinned = f"{target}@{result.digest}" if "@" not in target else target
    click.echo(pinned)
    return 0
