"""`cogpin push [IMAGE]`: build from cog.lock (refusing a stale lock), tag, push; prints the pushed
reference with its digest (``registry/user/model:tag@sha256:…``) on stdout, and on stderr the version
reference a hub serves it as (``user/model:<digest hex>``)."""

from __future__ import annotations

import time

import click

from cogpin import registry as reg
from cogpin.commands._common import load_config, lock_mode
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
    from cogpin.builder import BuildOptions, build_image

    config = load_config(config_file)
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
        lock_mode=lock_mode(frozen, relock),
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
    first = repo.split("/", 1)[0]
    has_host = "/" in repo and ("." in first or ":" in first or first == "localhost")
    model = repo.split("/", 1)[1] if has_host else repo
    click.echo(
        f"Version: {model}:{result.digest.split(':', 1)[1]}  (run it through a hub: docs/hub.md)", err=True
    )
    return 0
