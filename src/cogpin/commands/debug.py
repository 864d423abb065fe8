"""`cogpin debug`: print the Dockerfile exactly as `cogpin build` uses it."""

from __future__ import annotations

import os
import sys
from typing import Any


def main(**options: Any) -> int:
    from cogpin.build import ca_certificate, load_lock
    from cogpin.commands.build import lock_mode
    from cogpin.config import load
    from cogpin.templates import DEFAULT_PORT, RenderOptions, render

    config = load(file=options.get("config_file"))
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    lock = load_lock(config, lock_mode(options))
    port = int(os.environ.get("COGPIN_WHEELS_PORT") or DEFAULT_PORT)
    text = render(
        lock, config, RenderOptions(include_project=True, port=port, ca_cert=ca_certificate(None) is not None)
    )
    sys.stdout.write(text)
    return 0
