"""The command line: every command and its flags. Each command is a thin shim over
``cogpin.commands.<name>.main(**options)``, imported lazily so ``cogpin --help`` stays fast.

``cogpin`` and ``cog`` are the same program, so Cog's tutorials work word for word.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from cogpin import __version__
from cogpin.errors import CogpinError

GPU_FLAGS_HELP = {
    "gpu_arch": "Target GPU architecture, e.g. sm_80 or sm_90 (repeatable): only CUDA variants whose "
    "wheels have kernels for it are chosen.",
    "driver": "NVIDIA driver version of the target machines, e.g. 535.104: CUDA is capped to what it runs.",
    "cuda_flavor": "nvidia/cuda image flavor for gpu: true.",
    "platform": "Platform to lock for, e.g. linux/arm64 (repeatable; default linux/amd64).",
}


def _dispatch(command: str, /, **options: Any) -> None:
    module = importlib.import_module(f"cogpin.commands.{command}")
    code = module.main(**options)
    if isinstance(code, int) and code != 0:
        sys.exit(code)


def file_option(f: Any) -> Any:
    return click.option(
        "-f",
        "--file",
        "config_file",
        default=None,
        metavar="PATH",
        help="cog.yaml to use (default: ./cog.yaml, else the nearest in a parent folder).",
    )(f)


def gpu_options(f: Any) -> Any:
    f = click.option(
        "--platform",
        "platforms",
        multiple=True,
        metavar="OS/ARCH",
        help=GPU_FLAGS_HELP["platform"],
    )(f)
    f = click.option(
        "--cuda-flavor",
        type=click.Choice(["runtime", "devel", "base"]),
        default="runtime",
        show_default=True,
        help=GPU_FLAGS_HELP["cuda_flavor"],
    )(f)
    f = click.option("--driver", default=None, metavar="VERSION", help=GPU_FLAGS_HELP["driver"])(f)
    f = click.option(
        "--gpu-arch", "gpu_archs", multiple=True, metavar="sm_XY", help=GPU_FLAGS_HELP["gpu_arch"]
    )(f)
    return f


def lock_mode_options(f: Any) -> Any:
    f = click.option(
        "--relock", is_flag=True, help="Re-resolve cog.lock first when it is stale, then go on."
    )(f)
    f = click.option(
        "--frozen", is_flag=True, help="Use cog.lock as it is, without checking that it is up to date."
    )(f)
    return f


def build_options(f: Any) -> Any:
    f = click.option(
        "--progress",
        type=click.Choice(["auto", "plain", "quiet"]),
        default="auto",
        show_default=True,
        help="How to show build output.",
    )(f)
    f = click.option(
        "--secret",
        "secrets",
        multiple=True,
        metavar="id=ID,src=FILE|id=ID,env=VAR",
        help="Secret for a build.run step's secret mount, from a file or an environment variable "
        "(repeatable, as with Cog and docker build); never stored in the image or the lock.",
    )(f)
    f = click.option(
        "--no-cache", is_flag=True, help="Build from scratch, ignoring cached images and layers."
    )(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cogpin")
def cli() -> None:
    """cogpin: package a machine-learning model into a reproducible container image.

    A drop-in for Cog (`cog` is the same program) with a Nix-style lockfile: `cogpin lock` pins Python,
    torch and its CUDA variant, CUDA/cuDNN, the base image by digest and every package by sha256 in
    cog.lock; `cogpin build` builds the image from the lock alone.
    """


@cli.command()
def init() -> None:
    """Write a starter cog.yaml, predict.py, requirements.txt, .dockerignore and justfile here.

    Existing files are never overwritten.
    """
    _dispatch("init")


@cli.command()
@file_option
@gpu_options
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 with the changed fields if cog.lock is stale; 0 if fresh. No network.",
)
@click.option("--upgrade", is_flag=True, help="Re-resolve everything to the newest allowed versions.")
@click.option(
    "--upgrade-package",
    "upgrade_packages",
    multiple=True,
    metavar="NAME",
    help="Re-resolve this package only (repeatable).",
)
def lock(**options: Any) -> None:
    """Resolve cog.yaml (+ GPU flags) into cog.lock: exact Python, torch variant, CUDA/cuDNN, base image
    digest and every package with its sha256."""
    _dispatch("lock", **options)


@cli.command()
@file_option
@gpu_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def resolve(**options: Any) -> None:
    """Print the resolution plan (Python, CUDA, cuDNN, base image, torch variant) without any network."""
    _dispatch("resolve", **options)


@cli.command()
@file_option
@build_options
@lock_mode_options
@click.option("-t", "--tag", default=None, metavar="TAG", help="Image name (default: cog-<folder name>).")
def build(**options: Any) -> None:
    """Build the image from cog.lock on the Docker Engine."""
    _dispatch("build", **options)


@cli.command()
@file_option
@lock_mode_options
def debug(**options: Any) -> None:
    """Print the Dockerfile exactly as `cogpin build` would use it."""
    _dispatch("debug", **options)


def prediction_options(output_default: str | None, output_help: str) -> Any:
    """The options of a prediction (``predict``, ``run IMAGE -i …``) or a training (``train``)."""

    def decorate(f: Any) -> Any:
        f = click.option(
            "--setup-timeout",
            type=float,
            default=300.0,
            show_default=True,
            metavar="SECONDS",
            help="How long setup() may take.",
        )(f)
        f = click.option(
            "--gpus",
            default=None,
            metavar="GPUS",
            help="GPUs to expose, e.g. all (default: all when gpu: true and a GPU is present).",
        )(f)
        f = click.option(
            "-e",
            "--env",
            "envs",
            multiple=True,
            metavar="KEY=VALUE",
            help="Environment variable for the model (repeatable).",
        )(f)
        f = click.option(
            "-o",
            "--output",
            default=output_default,
            show_default=output_default is not None,
            metavar="PATH",
            help=output_help,
        )(f)
        f = click.option(
            "--json",
            "json_input",
            default=None,
            metavar="JSON|@FILE|@-|-",
            help="All inputs as a JSON object (@- or -: from stdin); prints the whole prediction as JSON.",
        )(f)
        f = click.option(
            "-i",
            "--input",
            "inputs",
            multiple=True,
            metavar="NAME=VALUE",
            help="Input (repeatable; a repeated name makes a list; NAME=@path sends a file).",
        )(f)
        f = click.argument("image", required=False)(f)
        f = lock_mode_options(f)
        f = file_option(f)
        return f

    return decorate


def _predict(**options: Any) -> None:
    _dispatch("predict", **options)


predict = cli.command(
    "predict",
    help="Run one prediction: from source (builds or reuses the environment image, mounts the project) "
    "or from IMAGE.",
)(prediction_options(None, "Where to write the output.")(_predict))


@cli.command(
    help="Run one training (`train:` in cog.yaml, Cog's `/trainings`): from source or from IMAGE; the "
    "output (the trained weights) is written to -o, `weights` by default. Deprecated in Cog, still "
    "supported."
)
@prediction_options("weights", "Where to write the training's output.")
def train(**options: Any) -> None:
    _dispatch("predict", train=True, **options)


def _run_command(**options: Any) -> None:
    _dispatch("run", **options)


def _run_decorators(f: Any) -> Any:
    f = click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)(f)
    f = click.option("--gpus", default=None, metavar="GPUS", help="GPUs to expose, e.g. all.")(f)
    f = click.option(
        "-e", "--env", "envs", multiple=True, metavar="KEY=VALUE", help="Environment variable (repeatable)."
    )(f)
    f = click.option(
        "-p",
        "--publish",
        "ports",
        multiple=True,
        type=int,
        metavar="PORT",
        help="Publish a container port on 127.0.0.1 (repeatable).",
    )(f)
    f = lock_mode_options(f)
    f = file_option(f)
    return f


_run_as_command = click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)(_run_decorators(_run_command))
_run_as_prediction = click.command("run")(prediction_options(None, "Where to write the output.")(_predict))

RUN_HELP = """Run a prediction or a command: Cog's two meanings of `cog run`.

\b
A PREDICTION (Cog >= 0.22: `cog run [IMAGE] -i name=value`) when -i/--input, --json or
-o/--output comes before any other argument, or when the first argument is an image with Cog's
labels (run.cog.version) on the Docker Engine, or a registry reference followed by -i/--json/-o.
It takes the options of `cog predict`.

\b
Otherwise a COMMAND in the model's environment with the project mounted at /src (the tutorial's
`cog run python`), as `cog exec`. Options before the command: -e/--env KEY=VALUE,
-p/--publish PORT, --gpus GPUS, -f/--file PATH, --frozen, --relock. Everything after the
command is the command's own (`cog run python -i` is an interactive Python).
"""

PREDICTION_FLAGS = ("-i", "--input", "--json", "-o", "--output")
_VALUE_FLAGS = ("-e", "--env", "-p", "--publish", "--gpus", "-f", "--file", "--setup-timeout")


@cli.command(
    "run",
    help=RUN_HELP,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, args: tuple[str, ...]) -> None:
    if not args or args[0] in ("-h", "--help"):
        click.echo(ctx.get_help())
        if not args:
            ctx.exit(2)
        return
    target = _run_as_prediction if run_is_prediction(list(args)) else _run_as_command
    target.main(args=list(args), prog_name=ctx.command_path, standalone_mode=False)


def _is_flag(arg: str, names: tuple[str, ...]) -> bool:
    """``arg`` is one of ``names``: ``-i``, ``-ix=1``, ``--input``, ``--input=x=1``."""
    for n in names:
        if arg == n or arg.startswith(n + "="):
            return True
        if len(n) == 2 and not arg.startswith("--") and arg.startswith(n):
            return True
    return False


def run_is_prediction(args: list[str], has_cog_labels: Any = None) -> bool:
    """``cog run``'s meaning: a prediction when a prediction flag comes before the first argument, or
    when the first argument is an image with Cog's labels (or looks like a registry reference and a
    prediction flag follows it); otherwise a command. The command's own flags are never looked at."""
    labelled = has_cog_labels or _has_cog_labels
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return False
        if _is_flag(arg, PREDICTION_FLAGS):
            return True
        if arg.startswith("-"):
            i += 2 if arg in _VALUE_FLAGS else 1
            continue
        if labelled(arg):
            return True
        looks_like_image = ("/" in arg or ":" in arg) and not arg.startswith((".", "/", "~"))
        return looks_like_image and any(_is_flag(a, PREDICTION_FLAGS) for a in args[i + 1 :])
    return False


def _has_cog_labels(ref: str) -> bool:
    """``ref`` names an image on the engine that carries Cog's labels (no pull; a command name that is
    no image, or no engine at all, means a command)."""
    import re

    from cogpin import labels as label_names

    if not re.fullmatch(r"[a-z0-9][a-z0-9._/:@-]*", ref) or ref.endswith((".py", ".sh")):
        return False
    try:
        from cogpin.engine import client

        labels = client().images.get(ref).labels or {}
    except Exception:  # noqa: BLE001 - not an image, or no engine: a command
        return False
    return any(
        k in labels for k in (label_names.COG_VERSION, label_names.OPENAPI_SCHEMA, label_names.COG_CONFIG)
    )


cli.command(
    "exec",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    help="Run a command in the model's environment, with the project mounted at /src (e.g. `cog exec python`).",
)(_run_decorators(_run_command))


@cli.command()
@file_option
@lock_mode_options
@click.option("-p", "--port", type=int, default=8393, show_default=True, help="Port on 127.0.0.1.")
@click.option(
    "--upload-url",
    default=None,
    metavar="URL",
    help="PUT file outputs to this URL instead of returning data URLs.",
)
@click.option("--gpus", default=None, metavar="GPUS", help="GPUs to expose, e.g. all.")
def serve(**options: Any) -> None:
    """Serve the model's HTTP API on 127.0.0.1:PORT, with the project mounted; Ctrl-C stops it."""
    _dispatch("serve", **options)


@cli.command()
@file_option
@build_options
@lock_mode_options
@click.argument("image", required=False)
def push(**options: Any) -> None:
    """Build from cog.lock and push to a registry; prints the pushed reference with its digest."""
    _dispatch("push", **options)


@cli.command()
@file_option
@click.option(
    "--fix", is_flag=True, help="Apply the safe fixes (the predict: → run: migration, deprecated imports)."
)
def doctor(**options: Any) -> None:
    """Check the project for common problems, as Cog's `cog doctor` does (config, predictor, Python code,
    Docker, Python, and cog.lock); exit status 1 when an error is found."""
    _dispatch("doctor", **options)


@cli.command()
@click.argument("registry", required=False)
@click.option("-u", "--username", default=None, help="User name (asked for when not given).")
@click.option(
    "--password-stdin",
    "--token-stdin",
    "token_stdin",
    is_flag=True,
    help="Read the password or token from stdin.",
)
def login(**options: Any) -> None:
    """Log in to a registry (default r8.im), storing credentials as `docker login` does."""
    _dispatch("login", **options)


from cogpin.hub.cli import hub  # noqa: E402 - in the order the commands are listed

cli.add_command(hub)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name=_prog_name(), standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except CogpinError as e:
        _fail(e)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - no traceback reaches a user (cogpin.failures)
        from cogpin.failures import translate
        from cogpin.settings import debug_enabled

        if debug_enabled():
            import traceback

            traceback.print_exc()
        _fail(translate(e))


def _fail(e: CogpinError) -> None:
    click.echo(f"error: {e.message}", err=True)
    if e.hint:
        click.echo(f"  hint: {e.hint}", err=True)
    sys.exit(e.exit_code)


def _prog_name() -> str:
    import os

    name = os.path.basename(sys.argv[0]) if sys.argv else "cogpin"
    return "cog" if name == "cog" else "cogpin"
