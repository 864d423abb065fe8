"""`cogpin build`: build the image from cog.lock (see cogpin.builder)."""

from __future__ import annotations

from typing import Any

import click

from cogpin.commands._common import load_config, lock_mode


def main(**options: Any) -> int:
    from cogpin.builder import BuildOptions, build_image

    config = load_config(options.get("config_file"))
    built = build_image(
        config,
        BuildOptions(
            tag=options.get("tag"),
            no_cache=bool(options.get("no_cache")),
            secrets=tuple(options.get("secrets") or ()),
            progress=options.get("progress") or "auto",
            lock_mode=lock_mode(bool(options.get("frozen")), bool(options.get("relock"))),
        ),
    )
    click.echo(f"Image built as {options.get('tag') or built.tags[0].removesuffix(':latest')}", err=True)
    click.echo(built.tags[0])
    return 0
