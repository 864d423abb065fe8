"""`cogpin login [REGISTRY]`: verify the credentials against the registry, then store them exactly as
`docker login` does (Docker's config.json or its credential helper; honours DOCKER_CONFIG)."""

from __future__ import annotations

import sys

import click

from cogpin import registry as reg


def main(registry: str | None = None, username: str | None = None, token_stdin: bool = False) -> int:
    key = reg.normalize_registry(registry)
    host = reg.api_host(key)
    if token_stdin:
        if not username:
            raise reg.RegistryError(
                "--password-stdin/--token-stdin needs a user name",
                f"give it with -u, e.g. `cog login -u USER {registry or ''}`".replace("  ", " "),
            )
        password = sys.stdin.read().rstrip("\r\n")
    else:
        if not username:
            username = click.prompt(f"Username for {host}")
        password = click.prompt("Password (or token)", hide_input=True)
    if not password:
        raise reg.RegistryError(
            "an empty password was given", "type the password or token, or pipe it to --password-stdin."
        )
    key, where = reg.login(key, username or "", password)
    click.echo(f"Credentials for {host} stored in {where}", err=True)
    click.echo("Login Succeeded")
    return 0
