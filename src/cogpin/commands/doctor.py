"""`cogpin doctor [--fix]`: Cog's project checks (pkg/doctor), grouped and worded as Cog prints them, plus
the lock. Config: parsing and schema, deprecated fields, the predictor reference, the ``predict:`` →
``run:`` migration; Python: deprecated imports, pydantic ``BaseModel`` outputs, missing annotations;
Environment: Docker, Python. ``--fix`` applies the safe fixes (the migration, a deprecated import); the
exit status is 1 when an error remains.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from cogpin.errors import CogpinError

ERROR, WARNING = "error", "warning"


@dataclass
class Finding:
    severity: str
    message: str
    remediation: str = ""
    file: str = ""
    line: int = 0


@dataclass
class Context:
    root: Path
    config_name: str
    config_text: str = ""
    config: object | None = None
    load_error: CogpinError | None = None
    python: dict[str, tuple[str, ast.Module | None, str]] = field(
        default_factory=dict
    )  # name → (src, tree, err)

    def source(self, name: str) -> tuple[str, ast.Module | None, str]:
        if name not in self.python:
            path = self.root / name
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as e:
                self.python[name] = ("", None, f"cannot read {name}: {e.strerror}")
                return self.python[name]
            try:
                self.python[name] = (text, ast.parse(text, filename=name), "")
            except SyntaxError as e:
                self.python[name] = (text, None, f"cannot parse {name}: {e.msg} (line {e.lineno})")
        return self.python[name]

    def refs(self) -> list[tuple[str, str]]:
        """(config key, "file.py:Name") of the predictor and the training."""
        out = []
        for key in ("predict", "train"):
            ref = getattr(self.config, key, None)
            if ref:
                out.append((key, str(ref)))
        return out


@dataclass
class Check:
    group: str
    description: str
    run: Callable[[Context], list[Finding]]
    fix: Callable[[Context, list[Finding]], None] | None = None


# ------------------------------------------------------------------------------------------------ Config


def _config_parse(ctx: Context) -> list[Finding]:
    if not (ctx.root / ctx.config_name).is_file():
        return [Finding(ERROR, f"{ctx.config_name} not found", 'Run "cog init" to create a cog.yaml')]
    return []


def _config_schema(ctx: Context) -> list[Finding]:
    if ctx.load_error is None:
        return []
    e = ctx.load_error
    return [
        Finding(
            ERROR,
            f"{ctx.config_name} validation failed: {e.message}",
            e.hint or f"Fix the configuration errors in {ctx.config_name}",
            ctx.config_name,
            getattr(e, "line", 0) or 0,
        )
    ]


def _deprecated_fields(ctx: Context) -> list[Finding]:
    warnings = getattr(ctx.config, "warnings", ()) or ()
    return [Finding(WARNING, str(w), "", ctx.config_name) for w in warnings]


def _find_definition(tree: ast.Module, name: str) -> ast.AST | None:
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name) == name for a in node.names
        ):
            return node
    return None


def _predict_ref(ctx: Context) -> list[Finding]:
    findings = []
    for key, ref in ctx.refs():
        file, sep, name = ref.partition(":")
        if not sep or not file.endswith(".py") or not name:
            findings.append(
                Finding(
                    ERROR,
                    f"{key} reference {ref!r} must be in the form 'file.py:ClassName'",
                    f'Set {key} to "predict.py:Predictor" in {ctx.config_name}',
                    ctx.config_name,
                )
            )
            continue
        if not (ctx.root / file).is_file():
            findings.append(
                Finding(
                    ERROR,
                    f"{file} not found",
                    f"Create {file} or update the {key} field in {ctx.config_name}",
                    ctx.config_name,
                )
            )
            continue
        _, tree, err = ctx.source(file)
        if tree is None:
            findings.append(Finding(ERROR, err, f"Fix {file}", file))
            continue
        if _find_definition(tree, name) is None:
            found = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
            msg = f"class {name!r} not found in {file}" + (f"; found: {', '.join(found)}" if found else "")
            findings.append(
                Finding(ERROR, msg, f"Add class {name} to {file} or update the {key} field in cog.yaml", file)
            )
    return findings


_PREDICT_KEY = re.compile(r'^predict:\s*["\']?predict\.py:Predictor["\']?\s*$', re.M)
_LEGACY_NAMES = re.compile(r"\b(BasePredictor|Predictor)\b|\bdef predict\(")


def _migration(ctx: Context) -> list[Finding]:
    if not _PREDICT_KEY.search(ctx.config_text):
        return []
    findings = [
        Finding(
            WARNING,
            "predict in cog.yaml is deprecated; use run with run.py:Runner",
            "Run cog doctor --fix to migrate predict: to run:",
            ctx.config_name,
        )
    ]
    text, tree, _ = ctx.source("predict.py")
    if tree is not None and _LEGACY_NAMES.search(text):
        findings.append(
            Finding(
                WARNING,
                "predict.py uses deprecated Predictor/BasePredictor/predict() names",
                "Run cog doctor --fix to migrate to Runner/BaseRunner/run()",
                "predict.py",
            )
        )
    return findings


def _fix_migration(ctx: Context, findings: list[Finding]) -> None:
    """Cog's migration: predict.py → run.py with Runner/BaseRunner/run(), cog.yaml's ``run:`` — only when
    nothing is in the way, and checked to still parse; otherwise nothing changes."""
    old, new = ctx.root / "predict.py", ctx.root / "run.py"
    if new.exists():
        raise CogpinError("cannot migrate predict.py to run.py: run.py already exists")
    text, tree, err = ctx.source("predict.py")
    if tree is None:
        raise CogpinError(f"cannot migrate predict.py: {err}")
    migrated = re.sub(r"\bBasePredictor\b", "BaseRunner", text)
    migrated = re.sub(r"\bclass Predictor\b", "class Runner", migrated)
    migrated = re.sub(r"\bdef predict\(", "def run(", migrated)
    ast.parse(migrated)
    config_text = _PREDICT_KEY.sub('run: "run.py:Runner"', ctx.config_text)
    new.write_text(migrated, encoding="utf-8")
    (ctx.root / ctx.config_name).write_text(config_text, encoding="utf-8")
    old.unlink()


# ------------------------------------------------------------------------------------------------ Python

_DEPRECATED_IMPORTS = {
    ("cog.types", "ExperimentalFeatureWarning"): "ExperimentalFeatureWarning was removed in cog 0.17; "
    "current_scope().record_metric() is no longer experimental",
}


def _python_files(ctx: Context) -> list[str]:
    names = {ref.partition(":")[0] for _, ref in ctx.refs()}
    return sorted(n for n in names if n.endswith(".py") and (ctx.root / n).is_file())


def _deprecated_imports(ctx: Context) -> list[Finding]:
    findings = []
    for file in _python_files(ctx):
        _, tree, _ = ctx.source(file)
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.ImportFrom) and node.module in ("cog.types", "cog"):
                for alias in node.names:
                    message = _DEPRECATED_IMPORTS.get(("cog.types", alias.name))
                    if message:
                        findings.append(
                            Finding(
                                ERROR,
                                message,
                                f"Remove the import of {alias.name} from {node.module}",
                                file,
                                node.lineno,
                            )
                        )
    return findings


def _fix_deprecated_imports(ctx: Context, findings: list[Finding]) -> None:
    for file in sorted({f.file for f in findings}):
        text, tree, _ = ctx.source(file)
        lines = text.splitlines(keepends=True)
        assert tree is not None
        for node in sorted(
            (n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.lineno == n.end_lineno),
            key=lambda n: -n.lineno,
        ):
            keep = [a for a in node.names if ("cog.types", a.name) not in _DEPRECATED_IMPORTS]
            if len(keep) == len(node.names):
                continue
            indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)  # type: ignore[union-attr]
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in keep)
            lines[node.lineno - 1] = f"{indent}from {node.module} import {names}\n" if keep else ""
        fixed = "".join(lines)
        ast.parse(fixed)
        (ctx.root / file).write_text(fixed, encoding="utf-8")


def _pydantic_basemodel(ctx: Context) -> list[Finding]:
    findings = []
    for file in _python_files(ctx):
        text, tree, _ = ctx.source(file)
        if tree is None or "arbitrary_types_allowed" not in text:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {ast.unparse(b) for b in node.bases}
            body = ast.unparse(node)
            if bases & {"BaseModel", "pydantic.BaseModel"} and "arbitrary_types_allowed" in body:
                if _imports_cog_basemodel(tree):
                    continue
                findings.append(
                    Finding(
                        ERROR,
                        f"{node.name} inherits from pydantic.BaseModel with arbitrary_types_allowed; "
                        "use cog.BaseModel instead",
                        "Replace pydantic.BaseModel with cog.BaseModel and remove "
                        "ConfigDict(arbitrary_types_allowed=True)",
                        file,
                        node.lineno,
                    )
                )
    return findings


def _imports_cog_basemodel(tree: ast.Module) -> bool:
    return any(
        isinstance(n, ast.ImportFrom) and n.module == "cog" and any(a.name == "BaseModel" for a in n.names)
        for n in ast.walk(tree)
    )


def _annotations(ctx: Context) -> list[Finding]:
    findings = []
    for key, ref in ctx.refs():
        file, _, name = ref.partition(":")
        _, tree, _ = ctx.source(file) if (ctx.root / file).is_file() else ("", None, "")
        node = _find_definition(tree, name) if tree else None
        if isinstance(node, ast.ClassDef):
            methods = {m.name: m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
            method_name = "run" if "run" in methods else key
            func = methods.get(method_name)
            label = f"{name}.{method_name}()"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func, method_name, label = node, node.name, f"{node.name}()"
        else:
            continue
        if func is None:
            continue
        if func.returns is None:
            findings.append(
                Finding(
                    WARNING,
                    f"{label} is missing a return type annotation",
                    f"Add a return type annotation: def {method_name}(self, ...) -> YourType:",
                    file,
                    func.lineno,
                )
            )
        args = [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]
        for arg in args:
            if arg.arg in ("self", "cls") or arg.annotation is not None:
                continue
            findings.append(
                Finding(
                    ERROR,
                    f"{label}: input {arg.arg!r} has no type annotation, so it has no type in the schema",
                    f"Annotate it, e.g. {arg.arg}: str = Input(description=...)",
                    file,
                    func.lineno,
                )
            )
    return findings


# ------------------------------------------------------------------------------------------- Environment


def _docker(ctx: Context) -> list[Finding]:
    from cogpin import engine

    try:
        engine.client().ping()
    except Exception as e:  # noqa: BLE001 - any failure means "no engine", reported as a finding
        from cogpin.failures import translate

        message = e.message if isinstance(e, CogpinError) else translate(e).message
        return [
            Finding(
                ERROR,
                f"Docker is not available: {message}",
                "Install Docker (https://docs.docker.com/get-docker/) and ensure the daemon is running "
                "(`scripts/dev-env up` in a cogpin checkout)",
            )
        ]
    return []


def _python_version(ctx: Context) -> list[Finding]:
    python = shutil.which("python3") or shutil.which("python")
    if python is None:
        return [
            Finding(WARNING, "Python not found in PATH", "Install Python 3.10+ or ensure it is on your PATH")
        ]
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return [Finding(WARNING, f"could not determine Python version: {e}", "Ensure your Python works")]
    wanted = str(getattr(ctx.config, "python_version", "") or "")
    if wanted and out and ".".join(wanted.split(".")[:2]) != out:
        return [
            Finding(
                WARNING,
                f"local Python is {out}, but cog.yaml has python_version {wanted}",
                "This is usually fine -- Docker builds use the configured version. Update cog.yaml or "
                "your local Python if needed.",
            )
        ]
    return []


def _lock(ctx: Context) -> list[Finding]:
    """cogpin's own: cog.lock is there and fresh (no network)."""
    if ctx.config is None:
        return []
    lock = ctx.root / "cog.lock"
    if not lock.is_file():
        return [Finding(WARNING, "no cog.lock yet", "Run `cogpin lock` and commit cog.lock", "cog.lock")]
    from cogpin.lock.api import current_inputs, effective_flags
    from cogpin.lock.model import Lock

    try:
        old = Lock.load(lock)
        reasons = old.stale_reasons(current_inputs(ctx.config, effective_flags({}, old)))  # type: ignore[arg-type]
    except CogpinError as e:
        return [Finding(ERROR, e.message, e.hint or "Run `cogpin lock`", "cog.lock")]
    return [
        Finding(WARNING, f"cog.lock is out of date: {r}", "Run `cogpin lock` and commit cog.lock", "cog.lock")
        for r in reasons
    ]


CHECKS = [
    Check("Config", "Config parsing", _config_parse),
    Check("Config", "Config schema", _config_schema),
    Check("Config", "Deprecated fields", _deprecated_fields),
    Check("Config", "Predict reference", _predict_ref),
    Check("Config", "Deprecated predict interface names", _migration, _fix_migration),
    Check("Config", "Lock", _lock),
    Check("Python", "Deprecated imports", _deprecated_imports, _fix_deprecated_imports),
    Check("Python", "Pydantic BaseModel workaround", _pydantic_basemodel),
    Check("Python", "Type annotations", _annotations),
    Check("Environment", "Docker", _docker),
    Check("Environment", "Python version", _python_version),
]


def _context(config_file: str | None) -> Context:
    from cogpin.config import find_config, load_config

    try:
        path = find_config(file=config_file)
    except CogpinError:
        return Context(root=Path.cwd(), config_name="cog.yaml")
    ctx = Context(root=path.parent, config_name=path.name)
    try:
        ctx.config_text = path.read_text(encoding="utf-8")
        ctx.config = load_config(path)
    except CogpinError as e:
        ctx.load_error = e
    except (OSError, UnicodeDecodeError) as e:
        ctx.load_error = CogpinError(str(e))
    return ctx


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def main(config_file: str | None = None, fix: bool = False) -> int:
    echo = click.echo
    echo("Running cog doctor --fix..." if fix else "Running cog doctor...")
    echo("")
    ctx = _context(config_file)
    errors = warnings = fixed = 0
    fixable_errors = False
    group = ""
    for check in CHECKS:
        if check.group != group:
            group = check.group
            echo(group)
        try:
            findings = check.run(ctx)
        except Exception as e:  # noqa: BLE001 - a check that breaks is a finding, never a traceback
            echo(f"✗ {check.description}: {e}")
            errors += 1
            continue
        if not findings:
            echo(f"✓ {check.description}")
            continue
        was_fixed = False
        if fix and check.fix is not None:
            try:
                check.fix(ctx, findings)
                was_fixed = True
                ctx = _context(config_file)  # the later checks see the fixed files
            except (CogpinError, OSError, SyntaxError) as e:
                echo(f"✗ {check.description}: cannot fix: {getattr(e, 'message', e)}")
        if was_fixed:
            echo(f"✓ Fixed: {check.description}")
            fixed += len(findings)
        else:
            worst = ERROR if any(f.severity == ERROR for f in findings) else WARNING
            echo(f"{'✗' if worst == ERROR else '⚠'} {check.description}")
            for f in findings:
                if f.severity == ERROR:
                    errors += 1
                    fixable_errors = fixable_errors or check.fix is not None
                else:
                    warnings += 1
        for f in findings:
            where = f"{f.file}:{f.line} — " if f.file and f.line else f"{f.file} — " if f.file else ""
            echo(f"  {where}{f.message}")
            if not was_fixed and (fix or f.severity == ERROR) and f.remediation:
                echo(f"  Remediation: {f.remediation}")
    echo("")
    if fix and fixed:
        msg = f"Fixed {_plural(fixed, 'issue')}"
        if warnings:
            msg += f". {_plural(warnings, 'warning')} remaining"
        if errors:
            msg += f". {_plural(errors, 'unfixed error')}"
        echo(msg + ".")
    elif errors or warnings:
        parts = [_plural(errors, "error")] if errors else []
        parts += [_plural(warnings, "warning")] if warnings else []
        summary = "Found " + ", ".join(parts) + "."
        if not fix and fixable_errors:
            summary += ' Run "cog doctor --fix" to auto-fix.'
        echo(summary)
    else:
        echo("no issues found")
    return 1 if errors else 0
