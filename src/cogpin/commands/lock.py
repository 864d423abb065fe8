"""`cogpin lock`: resolve cog.yaml (+ GPU flags) into cog.lock; `--check` says whether it is up to date."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

import click

from cogpin import config as config_mod
from cogpin.errors import CogpinError
from cogpin.lock.api import current_inputs, effective_flags, lock_path, relock
from cogpin.lock.model import Lock
from cogpin.settings import Settings


def main(**options: Any) -> int:
    config = config_mod.load(options.get("config_file"))
    for w in config.warnings:
        click.echo(f"warning: {w}", err=True)
    path = lock_path(config)
    old = Lock.load(path) if path.is_file() else None
    flags = effective_flags(options, old)
    settings = Settings.from_env()

    if options.get("check"):
        if old is None:
            raise CogpinError(f"{path} does not exist", "create it with `cogpin lock` and commit it.")
        reasons = old.stale_reasons(current_inputs(config, flags, settings))
        if reasons:
            click.echo(f"{path.name} is out of date:")
            for r in reasons:
                click.echo(f"  - {r}")
            click.echo("run `cogpin lock` to update it.")
            return 1
        click.echo(f"{path.name} is up to date.")
        return 0

    upgrade = bool(options.get("upgrade"))
    upgrade_packages = tuple(options.get("upgrade_packages") or ())
    fresh = old is not None and old.is_fresh(current_inputs(config, flags, settings))
    if fresh and not upgrade and not upgrade_packages:
        click.echo(f"{path.name} is up to date.")
        return 0

    start = time.monotonic()
    status: Any = contextlib.nullcontext()
    if sys.stderr.isatty():  # a spinner with the current step; nothing when output is piped
        from rich.console import Console

        status = Console(stderr=True).status("locking…")
    with status as spinner:
        lock, changed = relock(
            config,
            flags,
            settings,
            old=old,
            upgrade=upgrade,
            upgrade_packages=upgrade_packages,
            progress=spinner.update if spinner is not None else None,
        )
    elapsed = time.monotonic() - start
    click.echo(summary(lock))
    click.echo(f"{'wrote' if changed else 'unchanged'} {path} in {elapsed:.1f}s")
    return 0


def summary(lock: Lock) -> str:
    loc = lock.locked
    lines = []
    py = f"python {loc.get('python')} ({loc.get('python-source')})"
    lines.append(py)
    for b in loc.get("base", []):
        lines.append(f"base   {b['image']}@{b['digest'][:19]}… ({b['platform']})")
    if loc.get("cuda"):
        lines.append(f"cuda   {loc['cuda']}, cudnn {loc.get('cudnn') or '-'}")
    t = loc.get("torch")
    if t:
        lines.append(f"torch  {t['version']} {t['variant']} ({t.get('wheel-source') or t['index-url']})")
    lines.append(f"{len(lock.packages)} packages pinned by sha256, runtime {lock.runtime.get('version')}")
    return "\n".join(lines)
