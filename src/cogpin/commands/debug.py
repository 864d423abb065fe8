"""`cogpin debug`: print the Dockerfile exactly as `cogpin build` uses it."""

from __future__ import annotations

import sys
from typing import Any

from cogpin.commands._common import load_config, lock_mode


def main(**options: Any) -> int:
    from cogpin.builder import ca_certificate, load_lock
    from cogpin.settings import wheels_port
    from cogpin.templates import DEFAULT_PORT, RenderOptions, render

    config = load_config(options.get("config_file"))
    lock = load_lock(config, lock_mode(bool(options.get("frozen")), bool(options.get("relock"))))
    port = wheels_port(DEFAULT_PORT)
    text = render(
        lock, config, RenderOptions(include_project=True, port=port, ca_cert=ca_certificate(None) is not None)
    )
    sys.stdout.write(text)
    return 0
