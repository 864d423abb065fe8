"""Every environment variable cogpin reads, in one place. None of them is ever written into a lock.

:class:`Settings`, where artifacts come from and where they are cached, honours the usual variables
(first match wins):
- package index: ``COGPIN_INDEX_URL``, ``UV_INDEX_URL``/``UV_DEFAULT_INDEX``, ``PIP_INDEX_URL``; default PyPI.
- extra indexes: ``COGPIN_EXTRA_INDEX_URL``, ``UV_EXTRA_INDEX_URL``/``UV_INDEX``, ``PIP_EXTRA_INDEX_URL``
  (space separated).
- find-links folders/URLs: ``COGPIN_FIND_LINKS``, ``UV_FIND_LINKS``, ``PIP_FIND_LINKS`` (space separated).
- PyTorch variant indexes: ``COGPIN_TORCH_INDEX_URL`` as a template with ``{variant}``
  (default ``https://download.pytorch.org/whl/{variant}``), for a mirror of download.pytorch.org.
- artifact cache: ``COGPIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/cogpin``, else ``~/.cache/cogpin``.
- CA bundle for HTTPS: ``SSL_CERT_FILE``, ``PIP_CERT``, ``REQUESTS_CA_BUNDLE``; with none of them set, the
  system trust store (uv is told to use it), as behind a corporate TLS-intercepting proxy.

Below every variable comes pip's own configuration (``pip config list``: ``cert``, ``index-url``,
``extra-index-url``, ``find-links`` in the ``global`` and ``install`` sections of pip's config files, read in
pip's order, ``PIP_CONFIG_FILE`` last; ``PIP_CONFIG_FILE=/dev/null`` turns them off), so a machine where pip
works needs nothing more for cogpin. Local ``file:`` locations that do not exist are skipped, as pip does;
``file:`` *indexes* in pip's configuration are machine-local mirrors and are not used (see ``_remote``).

The functions below read the rest, each when it is asked (so a test's environment applies):
- the engine: ``DOCKER_HOST`` (:func:`docker_host`; the Docker SDK reads it too), ``DOCKER_CONFIG`` (where
  ``docker login`` keeps credentials, :func:`docker_config_dir`), ``COGPIN_DOCKER_CLI`` (a docker CLI
  with BuildKit, :func:`docker_cli`);
- the build: ``COG_CA_CERT``/``COGPIN_CA_CERT`` (:func:`ca_cert`), ``SOURCE_DATE_EPOCH``
  (:func:`source_date_epoch`), ``COGPIN_WHEELS_PORT`` (:func:`wheels_port`), ``COGPIN_WHEELHOUSE``
  host|engine|auto (:func:`wheelhouse_mode`), ``COGPIN_ENGINE_VOLUME`` (:func:`engine_volume`),
  ``COGPIN_SERVER_IMAGE`` (:func:`server_image`), ``COGPIN_RUNTIME_SOURCE`` (:func:`runtime_source`);
- the hub: ``COGPIN_HUB_DATA``, else ``$XDG_DATA_HOME/cogpin/hub``, else ``~/.local/share/cogpin/hub``
  (:func:`hub_data_dir`); ``COGPIN_HUB_DATABASE`` and ``REPLICATE_API_TOKEN`` are the defaults of the
  ``--database`` and ``--token`` flags (read by click, see ``cogpin/hub/cli.py``);
- the benchmarks: ``COGPIN_TIMING=1`` (:func:`timing_enabled`);
- bug reports: ``COGPIN_DEBUG=1`` (:func:`debug_enabled`: an unexpected error prints its traceback).
"""

from __future__ import annotations

import configparser
import os
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PYPI_SIMPLE = "https://pypi.org/simple"
TORCH_INDEX_TEMPLATE = "https://download.pytorch.org/whl/{variant}"


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(value.split()) if value else ()


def pip_config_files(env: Mapping[str, str]) -> list[Path]:
    """pip's configuration files, lowest precedence first (global, user, site, then ``PIP_CONFIG_FILE``)."""
    xdg_dirs = env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    home = Path(env.get("HOME") or Path.home())
    user_cfg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    files = [Path(d) / "pip" / "pip.conf" for d in reversed(xdg_dirs) if d] + [Path("/etc/pip.conf")]
    files += [home / ".pip" / "pip.conf", user_cfg / "pip" / "pip.conf"]
    files.append(Path(env.get("VIRTUAL_ENV") or sys.prefix) / "pip.conf")
    if env.get("PIP_CONFIG_FILE"):
        files.append(Path(env["PIP_CONFIG_FILE"]))
    return files


def pip_config(env: Mapping[str, str]) -> dict[str, str]:
    """pip's configured values (``global``, then ``install`` overriding), keyed as in pip.conf."""
    if env.get("PIP_CONFIG_FILE") == os.devnull:
        return {}
    values: dict[str, str] = {}
    for path in pip_config_files(env):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                values.update({k: v.strip() for k, v in parser.items(section)})
    return values


def _remote(urls: str | None) -> str | None:
    """Only the http(s) indexes of pip's configuration: a ``file:`` index there is a machine-local mirror,
    and a lock resolved from it would record wheels no other machine can fetch (name one deliberately with
    ``COGPIN_EXTRA_INDEX_URL``)."""
    kept = [u for u in (urls or "").split() if u.startswith(("http://", "https://"))]
    return " ".join(kept) or None


def _existing(locations: tuple[str, ...]) -> tuple[str, ...]:
    """Drop ``file:`` URLs and plain paths that do not exist (pip skips them with a warning)."""
    out = []
    for loc in locations:
        if "://" not in loc or loc.startswith("file:"):
            path = urllib.parse.urlparse(loc).path if loc.startswith("file:") else loc
            if not Path(path).exists():
                continue
        out.append(loc)
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    index_url: str = PYPI_SIMPLE
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    torch_index_template: str = TORCH_INDEX_TEMPLATE
    cache_dir: Path = Path.home() / ".cache" / "cogpin"
    ca_bundle: str | None = None  # None: the system trust store
    torch_mirror: bool = False  # COGPIN_TORCH_INDEX_URL is set: use it without probing it first

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, pip: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env`` (default: the process environment) over pip's configuration (default: read
        from pip's config files as ``env`` finds them; pass ``{}`` for none)."""
        env = os.environ if env is None else env
        pip = pip_config(env) if pip is None else pip
        xdg = _first(env, "XDG_CACHE_HOME")
        cache = _first(env, "COGPIN_CACHE_DIR") or str(Path(xdg or Path.home() / ".cache") / "cogpin")
        return cls(
            index_url=_first(env, "COGPIN_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL")
            or _remote(_first(pip, "index-url"))
            or PYPI_SIMPLE,
            extra_index_urls=_existing(
                _split(
                    _first(
                        env, "COGPIN_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "PIP_EXTRA_INDEX_URL"
                    )
                    or _remote(_first(pip, "extra-index-url"))
                )
            ),
            find_links=_existing(
                _split(
                    _first(env, "COGPIN_FIND_LINKS", "UV_FIND_LINKS", "PIP_FIND_LINKS")
                    or _first(pip, "find-links")
                )
            ),
            torch_index_template=_first(env, "COGPIN_TORCH_INDEX_URL") or TORCH_INDEX_TEMPLATE,
            torch_mirror=_first(env, "COGPIN_TORCH_INDEX_URL") is not None,
            cache_dir=Path(cache),
            ca_bundle=_first(env, "SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE") or _first(pip, "cert"),
        )

    def torch_index_url(self, variant: str) -> str:
        """The URL to fetch a torch variant from (a mirror when configured)."""
        return self.torch_index_template.format(variant=variant)


# ------------------------------------------------------------------------------ the other variables


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def docker_host(env: Mapping[str, str] | None = None) -> str:
    """``DOCKER_HOST`` as set ("" when unset: the local socket)."""
    return _env(env).get("DOCKER_HOST", "")


def docker_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where ``docker login`` keeps ``config.json``: ``DOCKER_CONFIG``, else ``~/.docker``."""
    return Path(_env(env).get("DOCKER_CONFIG") or Path.home() / ".docker")


def docker_cli(env: Mapping[str, str] | None = None) -> str | None:
    """``COGPIN_DOCKER_CLI``: the docker CLI to build with BuildKit (None: look for one)."""
    return _env(env).get("COGPIN_DOCKER_CLI") or None


def ca_cert(env: Mapping[str, str] | None = None) -> str | None:
    """The CA certificate(s) to trust in the image, as Cog reads them: ``COG_CA_CERT`` (or
    ``COGPIN_CA_CERT``): a PEM file, a folder of them, or the PEM text."""
    e = _env(env)
    return e.get("COG_CA_CERT") or e.get("COGPIN_CA_CERT") or None


def source_date_epoch(env: Mapping[str, str] | None = None) -> int | None:
    """``SOURCE_DATE_EPOCH`` when it is a whole number of seconds, else None."""
    value = _env(env).get("SOURCE_DATE_EPOCH", "").strip()
    return int(value) if value.isdigit() else None


def wheels_port(default: int, env: Mapping[str, str] | None = None) -> int:
    """The port of the build's wheel server: ``COGPIN_WHEELS_PORT``, else ``default``."""
    return int(_env(env).get("COGPIN_WHEELS_PORT") or default)


def wheelhouse_mode(env: Mapping[str, str] | None = None) -> str:
    """``COGPIN_WHEELHOUSE``: where the wheel server runs (host|engine|auto; default auto)."""
    return _env(env).get("COGPIN_WHEELHOUSE", "auto")


def engine_volume(default: str, env: Mapping[str, str] | None = None) -> str:
    """``COGPIN_ENGINE_VOLUME``: the engine's volume of artifacts, else ``default``."""
    return _env(env).get("COGPIN_ENGINE_VOLUME") or default


def server_image(default: str, env: Mapping[str, str] | None = None) -> str:
    """``COGPIN_SERVER_IMAGE``: an image with python3 to run the engine's wheel server in."""
    return _env(env).get("COGPIN_SERVER_IMAGE") or default


def runtime_source(env: Mapping[str, str] | None = None) -> str | None:
    """``COGPIN_RUNTIME_SOURCE``: a folder holding the runtime's ``cog`` package (None: the bundled one)."""
    return _env(env).get("COGPIN_RUNTIME_SOURCE") or None


def timing_enabled(env: Mapping[str, str] | None = None) -> bool:
    """``COGPIN_TIMING`` set and not 0: commands print their time split (for the benchmarks)."""
    return _env(env).get("COGPIN_TIMING", "") not in ("", "0")


def debug_enabled(env: Mapping[str, str] | None = None) -> bool:
    """``COGPIN_DEBUG`` set and not 0: an unexpected error also prints its traceback (for a bug report)."""
    return _env(env).get("COGPIN_DEBUG", "") not in ("", "0")


def hub_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """The hub's data dir when ``--data`` is not given: ``COGPIN_HUB_DATA``, else ``cogpin/hub`` in the user's
    data dir (``XDG_DATA_HOME``, else ``~/.local/share``)."""
    e = _env(env)
    given = e.get("COGPIN_HUB_DATA", "").strip()
    if given:
        return Path(given).expanduser().resolve()
    xdg = e.get("XDG_DATA_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "cogpin" / "hub"
