"""Every program that the tests, `scripts/`, the benchmarks or the product start is either on a fresh machine
of the kind the project is developed and tested on, or installed by the project's own scripts (`./run`
into `.venv`, `scripts/dev-env` with apt). The table below is that list; the test finds the programs the
code really calls and fails on one that is not in it, and on a table row that says "dev-env" while
`scripts/dev-env` does not install it. (Without this, a program installed by hand once hides the missing
install step until a fresh machine runs the tests: `htpasswd` did.) No network, no engine."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> where it comes from: "fresh" (on a fresh machine), "venv" (./run installs it into .venv),
# "dev-env:<Debian package>" (scripts/dev-env installs it with apt_install), "image" (runs inside images)
PROGRAMS = {
    # on a fresh machine (Debian 12 with Python, git, curl, iproute2 and the 28.x docker client)
    "python3": "fresh",
    "python": "fresh",
    "git": "fresh",
    "curl": "fresh",
    "sh": "fresh",
    "bash": "fresh",
    "env": "fresh",
    "tar": "fresh",
    "gzip": "fresh",
    "awk": "fresh",
    "grep": "fresh",
    "sed": "fresh",
    "tr": "fresh",
    "cut": "fresh",
    "sha256sum": "fresh",
    "flock": "fresh",
    "setsid": "fresh",
    "setpriv": "fresh",
    "nohup": "fresh",
    "timeout": "fresh",
    "kill": "fresh",
    "sleep": "fresh",
    "seq": "fresh",
    "tail": "fresh",
    "cat": "fresh",
    "mkdir": "fresh",
    "rm": "fresh",
    "touch": "fresh",
    "chroot": "fresh",
    "id": "fresh",
    "date": "fresh",
    "ip": "fresh",
    "ps": "fresh",
    "pgrep": "fresh",
    "openssl": "fresh",
    "dirname": "fresh",
    "basename": "fresh",
    "mktemp": "fresh",
    "apt-get": "fresh",
    "ls": "fresh",
    "sort": "fresh",
    "wc": "fresh",
    "chmod": "fresh",
    "nsenter": "fresh",  # util-linux: the second swarm node's dockerd runs in its network namespace
    "docker": "fresh",  # the 28.x client; Debian's 20.10 client comes with docker.io
    # installed by ./run into .venv
    "uv": "venv",
    "just": "venv",
    "cogpin": "venv",
    "cog": "venv",
    # installed by scripts/dev-env
    "dockerd": "dev-env:docker.io",
    # the hub's PostgreSQL store: scripts/dev-env postgres runs initdb/pg_ctl/psql/createdb/pg_isready from
    # the package's /usr/lib/postgresql/<v>/bin (not on PATH); pg_ctlcluster marks the package installed
    "pg_ctlcluster": "dev-env:postgresql",
    "docker-registry": "dev-env:docker-registry",
    "debootstrap": "dev-env:debootstrap",
    "chromium": "dev-env:chromium",  # the hub's web-page tests (Playwright drives it)
    # only ever run inside model images or on GPU hosts (probed, absent here)
    "nvidia-smi": "image",
    "pass": "image",  # docker-credential-pass's backend, only probed when configured
}

CALL = re.compile(
    r"""(?:subprocess\.(?:run|Popen|check_output|check_call|call)\(\s*\[\s*|shutil\.which\(\s*|executable_path\s*=\s*)"""
    r"""["'](?:/usr/s?bin/)?([A-Za-z0-9_.+-]+)["']"""
)
ABS = re.compile(r"""["'](?:/usr)?/s?bin/([A-Za-z][A-Za-z0-9_.+-]*)["']""")
SOURCE_DIRS = ("src", "tests", "scripts", "bench", "tools", "runtime")


def _python_files() -> list[Path]:
    files = [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py")]
    files += [
        p
        for p in (ROOT / "scripts").iterdir()
        if p.is_file() and p.read_text(errors="replace").startswith("#!/usr/bin/env python")
    ]
    return files


def _bash_files() -> list[Path]:
    return [
        p
        for p in [ROOT / "run", ROOT / ".ci" / "run", *(ROOT / "scripts").iterdir()]
        if p.is_file() and p.read_text(errors="replace").startswith("#!/usr/bin/env bash")
    ]


def programs_called_from_python() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in _python_files():
        text = path.read_text(errors="replace")
        for m in (*CALL.finditer(text), *ABS.finditer(text)):
            found.setdefault(m.group(1), path)
    return found


# a word in command position in a bash script: line start, or after | ; && || $( ` then do else ! time
BASH_CMD = re.compile(
    r"(?:^|[|;&(`]|\bthen\b|\bdo\b|\belse\b|!|\btime\b)\s*([A-Za-z][A-Za-z0-9_.+-]*)(?=\s|$|\))", re.M
)
BASH_WORDS = frozenset(
    [
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "for",
        "while",
        "until",
        "do",
        "done",
        "case",
        "esac",
        "in",
        "function",
        "return",
        "local",
        "export",
        "set",
        "shift",
        "exit",
        "echo",
        "printf",
        "read",
        "cd",
        "test",
        "true",
        "false",
        "exec",
        "wait",
        "trap",
        "source",
        "eval",
        "declare",
        "unset",
        "break",
        "continue",
        "command",
        "readonly",
        "type",
        "mapfile",
        "let",
        "pwd",
        "umask",
        "ulimit",
        "shopt",
        "hash",
        "time",
    ]
)


def programs_called_from_bash() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in _bash_files():
        text = path.read_text(errors="replace")
        code = "\n".join(
            re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines() if not line.lstrip().startswith("#")
        )
        code = re.sub(r"<<'?(\w+)'?\n.*?\n\1\n", "\n", code, flags=re.S)  # here-documents are data
        functions = set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\(\)", code, re.M))
        for m in BASH_CMD.finditer(code):
            word = m.group(1)
            if word in BASH_WORDS or word in functions or not shutil.which(word):
                continue  # keywords, the script's own functions, and words in messages that are no program
            found.setdefault(word, path)
    return found


def test_every_program_called_is_on_a_fresh_machine_or_installed_by_the_project() -> None:
    called = {**programs_called_from_bash(), **programs_called_from_python()}
    missing = {name: str(p.relative_to(ROOT)) for name, p in called.items() if name not in PROGRAMS}
    assert not missing, (
        f"programs called but not in tests/test_programs.py's PROGRAMS table: {missing}. Install each with "
        "scripts/dev-env (apt_install BINARY PACKAGE) or ./run, then add it to the table with where it comes from."
    )


def test_every_dev_env_program_is_installed_by_scripts_dev_env() -> None:
    text = (ROOT / "scripts" / "dev-env").read_text()
    installs = set(re.findall(r"apt_install\s+(\S+)\s+(\S+)", text))
    for name, origin in PROGRAMS.items():
        if origin.startswith("dev-env:"):
            assert (name, origin.split(":", 1)[1]) in installs, (
                f"{name} is said to come from scripts/dev-env ({origin}) but it has no `apt_install {name} {origin[8:]}`"
            )


def test_every_venv_program_is_installed_by_run() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    for name, origin in PROGRAMS.items():
        if origin == "venv":
            assert name in ("cogpin", "cog") or f'"{name}' in pyproject or f'"rust-{name}' in pyproject, (
                f"{name} is said to come from .venv but pyproject.toml does not depend on it"
            )


def test_the_scan_finds_what_it_must() -> None:
    """The scanner itself: a call spread over lines and a which() are both seen."""
    sample = 'subprocess.run(\n        ["htpasswd", "-Bbn"], check=True)\nshutil.which("docker-registry")'
    assert {m.group(1) for m in CALL.finditer(sample)} == {"htpasswd", "docker-registry"}
