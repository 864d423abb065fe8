"""`cogpin build`: build the image from cog.lock (see cogpin.build)."""

from __future__ import annotations

import sys
from typing import Any


def lock_mode(options: dict[str, Any]) -> str:
    if options.get("frozen") and options.get("relock"):
        from cogpin.errors import CogpinError

        raise CogpinError("--frozen and --relock contradict each other", "pass one of them.")
    return "frozen" if options.get("frozen") else "relock" if options.get("relock") else "locked"


def main(**options: Any) -> int:
    from cogpin.build import BuildOptions, build_image
    from cogpin.config import load

    config = load(file=options.get("config_file"))
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    built = build_image(
        config,
        BuildOptions(
            tag=options.get("tag"),
            no_cache=bool(options.get("no_cache")),
            secrets=tuple(options.get("secrets") or ()),
            progress=options.get("progress") or "auto",
            lock_mode=lock_mode(options),
        ),
    )
    print(built.tags[0])
    return 0
