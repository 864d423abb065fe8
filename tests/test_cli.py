"""The CLI skeleton: every command present with its flags, `cog` is the same program, init, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cogpin import __version__
from cogpin.cli import cli

BIN = Path(sys.executable).parent
COMMANDS = ["init", "lock", "resolve", "build", "debug", "predict", "run", "exec", "serve", "push", "login"]


def test_help_lists_every_command() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    for name in COMMANDS:
        assert f"  {name} " in out


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_documents_its_flags(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    if name not in ("init", "login"):
        assert "--file" in result.output


@pytest.mark.parametrize("prog", ["cogpin", "cog"])
def test_both_console_scripts_are_the_same_cli(prog: str) -> None:
    out = subprocess.run([str(BIN / prog), "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout
    helped = subprocess.run([str(BIN / prog), "--help"], capture_output=True, text=True, check=True)
    assert "lock" in helped.stdout and "predict" in helped.stdout


def test_init_writes_a_starter_project(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN / "cogpin"), "init"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    for name in ("cog.yaml", "predict.py", "requirements.txt", ".dockerignore", "justfile"):
        assert (tmp_path / name).is_file(), out.stdout
    assert "BasePredictor" in (tmp_path / "predict.py").read_text()
    assert "description=" in (tmp_path / "predict.py").read_text()
    assert ".git" in (tmp_path / ".dockerignore").read_text()
    justfile = (tmp_path / "justfile").read_text()
    for recipe in ("lock", "build", "push"):
        assert f"\n{recipe}" in justfile or justfile.startswith(recipe)


def test_init_never_overwrites_a_file(tmp_path: Path) -> None:
    (tmp_path / "predict.py").write_text("mine\n")
    out = subprocess.run(
        [str(BIN / "cogpin"), "init"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert (tmp_path / "predict.py").read_text() == "mine\n"
    assert "predict.py" in out.stdout and "exists" in out.stdout
    assert (tmp_path / "cog.yaml").is_file()


def test_no_cog_yaml_is_a_clear_error_naming_where_it_looked(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    out = subprocess.run([str(BIN / "cogpin"), "lock", "--check"], cwd=deep, capture_output=True, text=True)
    assert out.returncode == 1
    assert "cog.yaml" in out.stderr
    assert str(deep.parent) in out.stderr
    assert "cogpin init" in out.stderr


def test_dev_env_up_without_root_and_without_an_engine_says_how_to_get_one() -> None:
    import os
    import shutil
    import tempfile

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.fail("this test drops root with setpriv; run it as root (CI does)")
    tmp_path = Path(tempfile.mkdtemp(prefix="cogpin-nonroot-"))  # pytest's tmp_path is root-only
    os.chmod(tmp_path, 0o755)
    home = tmp_path / "home"
    home.mkdir()
    shutil.chown(home, "nobody")
    script = Path(__file__).resolve().parent.parent / "scripts" / "dev-env"
    out = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", str(script), "up"],
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "COGPIN_DEV_HOME": str(home / "dev"),
            "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
        },
        timeout=60,
    )
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert out.returncode != 0
    assert "needs root" in out.stderr
    assert "DOCKER_HOST" in out.stderr and "sudo scripts/dev-env up" in out.stderr


def test_command_reference_is_generated_from_the_cli_and_current() -> None:
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, str(root / "tools" / "gen_cli_docs.py"), "--check"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    text = (root / "docs" / "cli.md").read_text()
    for name in COMMANDS:
        assert f"## cogpin {name}\n" in text


def test_the_design_docs_module_table_is_generated_from_the_docstrings_and_current() -> None:
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, str(root / "tools" / "gen_module_table.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    text = (root / "docs" / "design.md").read_text()
    for module in sorted((root / "src" / "cogpin").rglob("*.py")):
        rel = module.relative_to(root / "src").as_posix()
        if "/scaffold/" not in rel or module.name == "__init__.py":
            assert f"| `{rel}` |" in text


def test_run_meaning_is_decided_by_cogs_rules() -> None:
    """`cog run`: a prediction for -i/--json/-o before the first argument or an image with Cog's labels
    first; otherwise a command, whose own flags are never looked at (issue 14)."""
    from cogpin.cli import run_is_prediction

    labelled = {"r8.im/me/model", "my-model:1"}.__contains__
    cases = {
        ("-i", "s=x"): True,
        ("--json", "-"): True,
        ("-o", "out.png", "-i", "x=1"): True,
        ("--input=s=x",): True,
        ("-e", "A=1", "-i", "s=x"): True,
        ("python",): False,
        ("python", "-i"): False,
        ("python", "-c", "print(1)", "-o", "x"): False,
        ("-p", "8888", "jupyter", "notebook"): False,
        ("-e", "A=1", "python", "train.py"): False,
        ("my-model:1",): True,
        ("r8.im/me/model", "-i", "s=x"): True,
        ("r8.im/other/model", "-i", "s=x"): True,  # a registry reference followed by -i: pulled
        ("./script.sh", "-i"): False,
        ("--", "-i"): False,
    }
    for args, expected in cases.items():
        assert run_is_prediction(list(args), labelled) is expected, args
