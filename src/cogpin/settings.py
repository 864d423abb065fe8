"""Where artifacts come from and where they are cached: settings, never written into a lock.

Read from the environment, honouring the usual variables (first match wins):
- package index: ``COGPIN_INDEX_URL``, ``UV_INDEX_URL``/``UV_DEFAULT_INDEX``, ``PIP_INDEX_URL``; default PyPI.
- extra indexes: ``COGPIN_EXTRA_INDEX_URL``, ``UV_EXTRA_INDEX_URL``/``UV_INDEX``, ``PIP_EXTRA_INDEX_URL``
  (space separated).
- find-links folders/URLs: ``COGPIN_FIND_LINKS``, ``UV_FIND_LINKS``, ``PIP_FIND_LINKS`` (space separated).
- PyTorch variant indexes: ``COGPIN_TORCH_INDEX_URL`` as a template with ``{variant}``
  (default ``https://download.pytorch.org/whl/{variant}``), for a mirror of download.pytorch.org.
- artifact cache: ``COGPIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/cogpin``, else ``~/.cache/cogpin``.
- CA bundle for HTTPS: ``SSL_CERT_FILE``, ``PIP_CERT``, ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import os
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


@dataclass(frozen=True)
class Settings:
    index_url: str = PYPI_SIMPLE
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    torch_index_template: str = TORCH_INDEX_TEMPLATE
    cache_dir: Path = Path.home() / ".cache" / "cogpin"
    ca_bundle: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        xdg = _first(env, "XDG_CACHE_HOME")
        cache = _first(env, "COGPIN_CACHE_DIR") or str(Path(xdg or Path.home() / ".cache") / "cogpin")
        return cls(
            index_url=_first(env, "COGPIN_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL")
            or PYPI_SIMPLE,
            extra_index_urls=_split(
                _first(env, "COGPIN_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "PIP_EXTRA_INDEX_URL")
            ),
            find_links=_split(_first(env, "COGPIN_FIND_LINKS", "UV_FIND_LINKS", "PIP_FIND_LINKS")),
            torch_index_template=_first(env, "COGPIN_TORCH_INDEX_URL") or TORCH_INDEX_TEMPLATE,
            cache_dir=Path(cache),
            ca_bundle=_first(env, "SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"),
        )

    def torch_index_url(self, variant: str) -> str:
        """The URL to fetch a torch variant from (a mirror when configured)."""
        return self.torch_index_template.format(variant=variant)

    @staticmethod
    def canonical_torch_index_url(variant: str) -> str:
        """The logical index recorded in the lock, whatever mirror was used."""
        return TORCH_INDEX_TEMPLATE.format(variant=variant)
