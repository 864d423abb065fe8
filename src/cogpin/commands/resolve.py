"""`cogpin resolve`: print the resolution plan (no network, no engine, no index)."""

from __future__ import annotations

import json
from typing import Any

import click

from cogpin import config as config_mod
from cogpin.lock.api import effective_flags, existing_lock
from cogpin.resolver.compat import plan


def main(**options: Any) -> int:
    config = config_mod.load(options.get("config_file"))
    for w in config.warnings:
        click.echo(f"warning: {w}", err=True)
    flags = effective_flags(options, existing_lock(config))
    p = plan(config, flags)
    if options.get("as_json"):
        click.echo(json.dumps(p.to_json(), indent=2, sort_keys=True))
        return 0
    click.echo(f"python      {p.python} ({p.python_source})")
    click.echo(f"gpu         {str(p.gpu).lower()}")
    if p.gpu:
        click.echo(f"cuda        {p.cuda} (image {p.cuda_version})")
        click.echo(f"cudnn       {p.cudnn or '-'}")
    click.echo(f"base image  {p.base_image}")
    if p.torch:
        src = "default wheel on the package index" if p.torch.from_default_index else p.torch.index_url
        click.echo(f"torch       {p.torch.version} {p.torch.variant} ({src})")
    click.echo(f"platforms   {', '.join(p.platforms)}")
    for n in p.notes:
        click.echo(f"note: {n}")
    return 0
