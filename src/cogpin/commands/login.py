"""`cogpin login [REGISTRY]`: verify the credentials against the registry, then store them exactly as
`docker login` does (Docker's config.json or its credential helper; honours DOCKER_CONFIG).

For Replicate's registry (r8.im, the default) a user name is not needed: like Cog, the token is sent to
``https://r8.im/cog/v1/verify-token``, which answers with the user name the token belongs to."""

from __future__ import annotations

import sys

import click

from cogpin import registry as reg


def main(registry: str | None = None, username: str | None = None, token_stdin: bool = False) -> int:
    key = reg.normalize_registry(registry)
    host = reg.api_host(key)
    replicate = key == reg.DEFAULT_REGISTRY
    if token_stdin:
        if not username and not replicate:
            raise reg.RegistryError(
                "--password-stdin/--token-stdin needs a user name for this registry",
                f"give it with -u, e.g. `cog login {registry} -u USER --password-stdin`.",
            )
        password = sys.stdin.read().rstrip("\r\n")
    else:
        if replicate and not username:
            click.echo(
                f"Log in to Replicate's registry {host} with an API token (replicate.com/account/api-tokens).",
                err=True,
            )
            password = click.prompt("API token", hide_input=True, err=True)
        else:
            if not username:
                username = click.prompt(f"Username for {host}", err=True)
            password = click.prompt("Password (or token)", hide_input=True, err=True)
    if not password:
        raise reg.RegistryError(
            "an empty password was given", "type the password or token, or pipe it to --password-stdin."
        )
    if not username:
        username = reg.replicate_username(host, password)
    key, where = reg.login(key, username, password)
    click.echo(f"Credentials for {username}@{host} stored in {where}", err=True)
    click.echo("Login Succeeded")
    return 0
