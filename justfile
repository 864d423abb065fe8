# cogpin's own tasks. `./run RECIPE` sets up .venv first; inside it, `just RECIPE` works directly.
set shell := ["bash", "-euo", "pipefail", "-c"]

example := "examples/hello-world"

# The main job on the bundled example: environment up, lock, build, predict, push to the local registry
demo:
    scripts/dev-env up
    scripts/demo {{example}}

# Everything CI checks: environment up, lint + types, all tests (engine tests included)
test *ARGS:
    scripts/dev-env up
    just lint
    python -m pytest {{ARGS}}

# Fast tests only (no engine, no network)
unit *ARGS:
    python -m pytest -m "not engine and not network" {{ARGS}}

# The fastest loop: unit tests without the ones that start the runtime's HTTP server
quick *ARGS:
    python -m pytest -m "not engine and not network and not runtime" {{ARGS}}

# ruff (lint + format check) and mypy over src/ and runtime/
lint:
    ruff check src runtime tests bench tools
    ruff format --check src runtime tests bench tools
    mypy

# Format the code
fmt:
    ruff format src runtime tests bench tools
    ruff check --fix src runtime tests bench tools

# Benchmarks, printed side by side with the reference (`just bench runtime`, `just bench lock`, ...)
bench WHICH="all":
    scripts/dev-env up
    python -m bench {{WHICH}}

# The development environment: Docker Engine, local registry (Docker Hub mirror), stand-in base images
env CMD="status":
    scripts/dev-env {{CMD}}

# Re-lock every committed lock (examples, hub test models): needed after any change under runtime/
relock:
    for d in examples/*/ tests/hub/models/*/; do (cd "$d" && cogpin lock) || exit 1; done
