"""Write docs/cli.md from the CLI itself (every command's --help), so the docs cannot drift.

python tools/gen_cli_docs.py          # rewrite docs/cli.md
python tools/gen_cli_docs.py --check  # exit 1 when docs/cli.md is out of date (run by the tests)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cogpin.cli import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def render() -> str:
    parts = [
        "# cogpin command reference",
        "",
        "Generated from the CLI by `python tools/gen_cli_docs.py`; do not edit by hand. "
        "`cog` is the same program as `cogpin`.",
        "",
    ]
    root = click.Context(cli, info_name="cogpin", terminal_width=100, max_content_width=100)
    parts += ["## cogpin", "", "```", cli.get_help(root), "```", ""]
    for name in sorted(cli.list_commands(root)):
        command = cli.get_command(root, name)
        assert command is not None
        ctx = click.Context(
            command, info_name=f"cogpin {name}", parent=None, terminal_width=100, max_content_width=100
        )
        parts += [f"## cogpin {name}", "", "```", command.get_help(ctx), "```", ""]
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not DOC.is_file() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run `python tools/gen_cli_docs.py`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
