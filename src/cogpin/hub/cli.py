"""``cogpin hub …``: the hub's commands and their flags, thin shims over ``cogpin.hub.server`` (imported
lazily, so ``cogpin --help`` stays fast)."""

from __future__ import annotations

import sys
from typing import Any

import click


@click.group()
def hub() -> None:
    """The hub: Replicate's HTTP API for the models in a registry, run on demand (docs/hub.md)."""


def _hub_data_option(f: Any) -> Any:
    return click.option(
        "--data",
        default=None,
        metavar="DIR",
        help="The hub's data dir (default: COGPIN_HUB_DATA, else cogpin/hub under the user's data dir).",
    )(f)


def _hub_database_option(f: Any) -> Any:
    return click.option(
        "--database",
        default=None,
        envvar="COGPIN_HUB_DATABASE",
        metavar="URL",
        help="postgresql://… to keep the hub's state in PostgreSQL, shared by several hubs "
        "(default: SQLite in the data dir; env COGPIN_HUB_DATABASE).",
    )(f)


@hub.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--registry",
    default=None,
    metavar="HOST:PORT",
    help="Registry whose repositories are the models (default: the development environment's, when up).",
)
@_hub_data_option
@click.option("--no-auth", is_flag=True, help="Accept calls without a token (loopback addresses only).")
@click.option(
    "--idle-timeout", default="5m", show_default=True, help="Stop a model container after this long unused."
)
@click.option("--max-containers", default=4, show_default=True, type=int, help="Model containers at once.")
@click.option(
    "--retention", default="7d", show_default=True, help="Remove predictions and files older than this."
)
@click.option(
    "--max-inline",
    "max_inline_mb",
    default=16.0,
    show_default=True,
    type=float,
    help="File outputs up to this many MiB come back as data: URLs; larger ones as file URLs.",
)
@_hub_database_option
@click.option(
    "--runner",
    type=click.Choice(["docker", "swarm"]),
    default="docker",
    show_default=True,
    help="Where models run: containers on this engine, or services on its swarm (docs/hub.md, Cluster).",
)
@click.option(
    "--min-replicas",
    default=0,
    show_default=True,
    type=int,
    help="swarm: replicas kept per version in use (0: scale to zero when idle).",
)
@click.option(
    "--max-replicas", default=4, show_default=True, type=int, help="swarm: most replicas per version."
)
@click.option("--replica-cpus", default=None, type=float, help="swarm: CPU limit of each replica.")
@click.option(
    "--replica-memory", default=None, metavar="SIZE", help="swarm: memory limit of each replica (e.g. 2g)."
)
def hub_serve(**options: Any) -> None:
    """Serve Replicate's HTTP API for the registry's models in the foreground; Ctrl-C stops it."""
    from cogpin.hub import server

    sys.exit(server.serve(**options))


@hub.group("token")
def hub_token() -> None:
    """API tokens for the hub (stored as hashes in its data dir)."""


@hub_token.command("create")
@_hub_data_option
@_hub_database_option
@click.option("--name", default="default", show_default=True, help="A name to recognise the token by.")
def hub_token_create(data: str | None, database: str | None, name: str) -> None:
    """Print a new API token (r8_…); works while the hub runs."""
    from cogpin.hub import server

    sys.exit(server.token_create(data, name, database))


@hub_token.command("list")
@_hub_data_option
@_hub_database_option
def hub_token_list(data: str | None, database: str | None) -> None:
    """List tokens: id, name, prefix, created, state."""
    from cogpin.hub import server

    sys.exit(server.token_list(data, database))


@hub_token.command("revoke")
@_hub_data_option
@_hub_database_option
@click.argument("token")
def hub_token_revoke(data: str | None, database: str | None, token: str) -> None:
    """Revoke a token, given its id, name or the token itself."""
    from cogpin.hub import server

    sys.exit(server.token_revoke(data, token, database))


@hub.command("status")
@click.option("--url", default="http://127.0.0.1:8700", show_default=True, help="The hub to ask.")
@click.option(
    "--token", envvar="REPLICATE_API_TOKEN", default=None, help="API token (env REPLICATE_API_TOKEN)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def hub_status(url: str, token: str | None, as_json: bool) -> None:
    """Per version in use: replicas wanted/running/ready, queue length, recent latency."""
    from cogpin.hub import server

    sys.exit(server.status(url, token, as_json))
