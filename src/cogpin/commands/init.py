"""`cogpin init`: a starter project in the current folder; never overwrites a file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

# file written -> scaffold resource it comes from
FILES = {
    "cog.yaml": "cog.yaml",
    "predict.py": "predict.py",
    "requirements.txt": "requirements.txt",
    ".dockerignore": "dockerignore",
    "justfile": "justfile",
}


def main(directory: Path | None = None) -> int:
    root = Path.cwd() if directory is None else directory
    scaffold = resources.files("cogpin.scaffold")
    written = 0
    for name, resource in FILES.items():
        target = root / name
        if target.exists():
            click.echo(f"Skipped {name}: it already exists (left unchanged).")
            continue
        target.write_text(scaffold.joinpath(resource).read_text(encoding="utf-8"), encoding="utf-8")
        click.echo(f"Wrote {name}")
        written += 1
    if written:
        click.echo(
            "\nNext: edit cog.yaml and predict.py, then `cogpin lock` and `cogpin predict -i image=@input.jpg`."
        )
    return 0
