"""The pip requirements dialect: requirement lines from ``python_packages`` or a requirements file
(with ``-r`` includes, ``\\`` continuations and the index/link options) read into :class:`Requirements`;
and :func:`canonical_requirement`, a requirement's spelling-independent form."""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from cogpin.config.model import ConfigError, Requirements
from cogpin.fsutil import display_path, relative_posix
from cogpin.urls import is_url

_COMMENT = re.compile(r"(^|\s+)#.*$")
_OPTION = re.compile(r"^(?P<opt>--?[A-Za-z][A-Za-z0-9-]*)(?:(?:=|\s+)(?P<value>.*))?$")
_HASH_OPTION = re.compile(r"\s+--hash(?:=|\s+)\S+")
_TRAILING_OPTION = re.compile(r"\s(--?[A-Za-z][A-Za-z0-9-]*)")

_FLAG_OPTIONS = {"--pre": "--pre", "--no-index": "--no-index", "--prefer-binary": "--prefer-binary"}
_VALUE_OPTIONS = {"--only-binary", "--no-binary", "--trusted-host"}
_IGNORED_OPTIONS = {"--require-hashes", "--use-feature"}  # cogpin always pins by hash
_NEEDS_VALUE = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
}


class RequirementsParser:
    """Reads requirement lines (from python_packages or files with ``-r`` includes) into Requirements."""

    def __init__(self, root: Path, origin: str) -> None:
        self.root = root
        self.origin = origin  # "build.python_requirements in cog.yaml:7", for messages
        self.lines: list[str] = []
        self.index_url: str | None = None
        self.index_url_where = ""
        self.extra_index_urls: list[str] = []
        self.find_links: list[str] = []
        self.files: list[str] = []
        self.options: list[str] = []
        self.local_artifacts: list[str] = []

    def result(self, file: str | None) -> Requirements:
        return Requirements(
            file=file,
            lines=tuple(self.lines),
            index_url=self.index_url,
            extra_index_urls=tuple(self.extra_index_urls),
            find_links=tuple(self.find_links),
            files=tuple(self.files),
            options=tuple(self.options),
            local_artifacts=tuple(self.local_artifacts),
        )

    def fail(self, source: str, line: int, key: str | None, message: str, hint: str) -> ConfigError:
        text = f"{source}:{line}: {key}: {message}" if key else f"{source}:{line}: {message}"
        return ConfigError(text, hint, file=source, line=line, key=key)

    def read_file(
        self, path: Path, stack: tuple[Path, ...], included_from: tuple[str, int] | None = None
    ) -> None:
        shown = display_path(path)
        if path in stack:
            assert included_from is not None
            chain = " -> ".join(display_path(p) for p in (*stack, path))
            raise self.fail(
                included_from[0],
                included_from[1],
                None,
                f"requirements files include each other in a loop ({chain}).",
                "remove one of the -r lines.",
            )
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            if included_from is None:
                raise ConfigError(
                    f"{shown}: no such file ({self.origin}).", "create it or fix the path."
                ) from None
            raise self.fail(
                included_from[0],
                included_from[1],
                None,
                f"-r {relative_posix(path.parent, path)}: no such file ({shown}).",
                "fix the path: it is relative to the file that includes it.",
            ) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{shown}: not UTF-8 text ({exc.reason}).", "save the file as UTF-8.") from None
        rel = relative_posix(self.root, path)
        if rel not in self.files:
            self.files.append(rel)
        for number, logical in logical_lines(text):
            self.line(logical, source=shown, line=number, key=None, base=path.parent, stack=(*stack, path))

    def line(
        self,
        text: str,
        *,
        source: str,
        line: int,
        key: str | None,
        base: Path,
        stack: tuple[Path, ...] | None = None,
    ) -> None:
        text = _COMMENT.sub("", text).strip()
        if not text:
            return
        if text.startswith("-"):
            self.option(text, source=source, line=line, key=key, base=base, stack=stack)
            return
        self.requirement(text, source=source, line=line, key=key, base=base)

    def option(
        self,
        text: str,
        *,
        source: str,
        line: int,
        key: str | None,
        base: Path,
        stack: tuple[Path, ...] | None,
    ) -> None:
        match = _OPTION.match(text)
        if not match:
            raise self.fail(
                source,
                line,
                key,
                f"cannot read option {text!r}.",
                "write options as --name value or --name=value.",
            )
        opt = match.group("opt")
        value = (match.group("value") or "").strip()
        if value.startswith(("'", '"')) and value.endswith(value[0]) and len(value) > 1:
            value = value[1:-1]
        if opt in ("-e", "--editable"):
            raise self.fail(
                source,
                line,
                key,
                f"editable requirement {text!r}: an editable (local, mutable) install is not reproducible.",
                "build a wheel of it (`uv build` / `pip wheel . -w wheels`) and add `--find-links ./wheels` plus the "
                "pinned name, or publish it to an index, or copy the code into the project.",
            )
        if (opt in _NEEDS_VALUE or opt in _VALUE_OPTIONS) and not value:
            raise self.fail(source, line, key, f"{opt} needs a value.", f"write {opt} <value>.")
        where = (source, line, key)
        if opt in ("-r", "--requirement"):
            if stack is None:
                raise self.fail(
                    source,
                    line,
                    key,
                    f"{opt} is not allowed in python_packages.",
                    "use build.python_requirements: <file> instead.",
                )
            self.read_file(Path(os.path.abspath(base / value)), stack, included_from=(source, line))
        elif opt in ("-c", "--constraint"):
            raise self.fail(
                source,
                line,
                key,
                f"{opt} constraints files are not supported.",
                "put the pins into the requirements file itself (cog.lock pins every package anyway).",
            )
        elif opt in ("-i", "--index-url"):
            self.set_index_url(value, where)
        else:
            self.resolution_option(opt, value, where, base)

    def set_index_url(self, value: str, where: tuple[str, int, str | None]) -> None:
        source, line, key = where
        if self.index_url is not None and self.index_url != value:
            raise self.fail(
                source,
                line,
                key,
                f"a second --index-url ({value}); the first is {self.index_url} ({self.index_url_where}).",
                "keep one --index-url; add further indexes with --extra-index-url.",
            )
        self.index_url = value
        self.index_url_where = f"{source}:{line}"

    def resolution_option(self, opt: str, value: str, where: tuple[str, int, str | None], base: Path) -> None:
        """--extra-index-url, --find-links and the flags that change what the resolver may pick."""
        source, line, key = where
        if opt == "--extra-index-url":
            if value not in self.extra_index_urls:
                self.extra_index_urls.append(value)
        elif opt in ("-f", "--find-links"):
            link = value if is_url(value) else os.path.abspath(base / os.path.expanduser(value))
            if link not in self.find_links:
                self.find_links.append(link)
        elif opt in _FLAG_OPTIONS:
            if value:
                raise self.fail(
                    source, line, key, f"{opt} takes no value.", f"write {opt} alone on its line."
                )
            if _FLAG_OPTIONS[opt] not in self.options:
                self.options.append(_FLAG_OPTIONS[opt])
        elif opt in _VALUE_OPTIONS:
            normalised = f"{opt}={value}"
            if normalised not in self.options:
                self.options.append(normalised)
        elif opt not in _IGNORED_OPTIONS:
            raise self.fail(
                source,
                line,
                key,
                f"option {opt} is not supported in a requirements file for cogpin.",
                "supported: -r, -i/--index-url, --extra-index-url, -f/--find-links, --pre, --no-index, "
                "--prefer-binary, --only-binary, --no-binary, --trusted-host, and --hash on requirement lines.",
            )

    def local_artifact(
        self, text: str, *, source: str, line: int, key: str | None, base: Path | None, hint: str
    ) -> None:
        """A local artifact as a requirement (Cog installs it as it is): kept, project-relative, for the
        lock to hash it and, for an sdist or a folder, to build it into a wheel deterministically."""
        raw = urllib.parse.unquote(urllib.parse.urlparse(text).path) if text.startswith("file:") else text
        if ";" in raw or "[" in raw:
            raise self.fail(
                source,
                line,
                key,
                f"local path {text!r}: extras and markers on a path are not supported.",
                hint,
            )
        path = Path(os.path.abspath((base or self.root) / os.path.expanduser(raw.strip())))
        if not path.exists():
            raise self.fail(source, line, key, f"local path {text!r}: no such file or folder ({path}).", hint)
        try:
            rel = path.relative_to(self.root).as_posix()
        except ValueError:
            raise self.fail(
                source,
                line,
                key,
                f"local path {text!r} is outside the project ({self.root}): other machines do not have it.",
                hint,
            ) from None
        kinds = (".whl", ".tar.gz", ".tgz", ".zip")
        is_package_dir = path.is_dir() and any((path / f).is_file() for f in ("pyproject.toml", "setup.py"))
        if not (is_package_dir or (path.is_file() and path.name.endswith(kinds))):
            raise self.fail(
                source,
                line,
                key,
                f"local path {text!r} is not a wheel, an sdist (.tar.gz, .zip) or a package folder "
                "(with pyproject.toml or setup.py).",
                hint,
            )
        if rel not in self.local_artifacts:
            self.local_artifacts.append(rel)

    def requirement(
        self, text: str, *, source: str, line: int, key: str | None, base: Path | None = None
    ) -> None:
        text = _HASH_OPTION.sub("", text).strip()
        # options after the requirement, other than --hash: only outside of a marker's quotes
        trailing = _TRAILING_OPTION.search(text)
        if trailing and "'" not in text[: trailing.start()] and '"' not in text[: trailing.start()]:
            raise self.fail(
                source,
                line,
                key,
                f"option {trailing.group(1)} on a requirement line is not supported.",
                "remove it (only --hash=… is accepted on a requirement line, and ignored: cog.lock records hashes).",
            )
        local_hint = (
            "name a wheel, an sdist (.tar.gz, .zip) or a package folder inside the project (committed with "
            "it), e.g. ./dist/mypkg-1.0.tar.gz: cog.lock hashes it, or publish it to an index."
        )
        if text.startswith((".", "/", "~", "file:")) or re.match(r"^[A-Za-z]:[\\/]", text):
            self.local_artifact(text, source=source, line=line, key=key, base=base, hint=local_hint)
            return
        if is_url(text):
            raise self.fail(
                source,
                line,
                key,
                f"a bare URL {text!r} has no package name.",
                "write it as `name @ URL` (e.g. mypkg @ https://example.com/mypkg-1.0-py3-none-any.whl).",
            )
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            if "/" in text.split(";")[0] or text.endswith((".whl", ".tar.gz", ".tgz", ".zip")):
                self.local_artifact(text, source=source, line=line, key=key, base=base, hint=local_hint)
                return
            problem = str(exc).splitlines()[0]
            raise self.fail(
                source,
                line,
                key,
                f"invalid requirement {text!r}: {problem}",
                'write a PEP 508 requirement, e.g. torch==2.3.1 or pillow>=10; python_version < "3.12".',
            ) from None
        if req.url and req.url.startswith("file:"):
            self.local_artifact(req.url, source=source, line=line, key=key, base=base, hint=local_hint)
            return
        self.lines.append(text)


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines as pip reads them: a trailing backslash joins the next physical line (concatenated, as pip
    does), and runs of whitespace become one space; with the number of the first physical line."""
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        stripped = raw.rstrip()
        if stripped.endswith("\\") and not _COMMENT.search(stripped):
            buffer.append(stripped[:-1])
            continue
        buffer.append(raw)
        yield start, " ".join("".join(buffer).split())
        buffer = []
    if buffer:
        yield start, " ".join("".join(buffer).split())


def canonical_requirement(line: str) -> str:
    """A requirement in packaging's canonical form: normalised name and extras, sorted specifiers,
    normalised marker, no insignificant whitespace (``Torch >= 2.3 ,<3`` → ``torch<3,>=2.3``)."""
    req = Requirement(line)
    text: str = canonicalize_name(req.name)
    if req.extras:
        text += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
    if req.url:
        text += f" @ {req.url}"
        if req.marker:
            text += " "
    else:
        text += str(req.specifier)
    if req.marker:
        text += f"; {req.marker}"
    return text
