"""URLs as cogpin records them: whether a string is a URL, and the one credential stripper (a
``user:token@`` differs between machines and must never reach a lock, a label or a message)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: str) -> bool:
    """``scheme://…`` (a requirements-file link that is not a local folder)."""
    return bool(_URL.match(text))


def strip_credentials(url: str) -> str:
    """A URL without credentials (``https://user:token@host/simple`` → ``https://host/simple``)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def normalise_url(url: str) -> str:
    """An index URL as the lock records it: credentials and trailing slash removed; local paths
    (``file://`` or plain) become ``<local>``."""
    if not is_url(url) or url.startswith("file:"):
        return "<local>"
    return strip_credentials(url).rstrip("/")
