"""cog: the SDK that model code imports (cogpin's runtime, standard library only).

    from cog import BasePredictor, Input, Path

    class Predictor(BasePredictor):
        def setup(self):                       # optional, runs once in the worker process
            self.model = ...

        def predict(
            self,
            prompt: str = Input(description="What to draw"),
            steps: int = Input(default=20, ge=1, le=100),
            image: Path = Input(description="A URL or data URL; the model gets a local file"),
        ) -> Path:
            ...

Also: BaseRunner (`run` instead of `predict`), File, Secret, BaseModel (structured outputs), Opaque (`Annotated[T, Opaque]`: a JSON object passed through),
ConcatenateIterator / AsyncConcatenateIterator (streamed tokens), CancelationException,
current_scope() (`.context`, `.record_metric(name, value)`), emit_metric, streaming (SSE),
ExperimentalFeatureWarning. Serve with `python -m cog.server.http`; print the OpenAPI schema with
`python -m cog.command.openapi_schema`.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Exports are imported on first use (PEP 562), so the HTTP server process, which imports `cog.server`,
# does not pay for the SDK it never uses.
_EXPORTS = {
    "AsyncConcatenateIterator": "types",
    "BaseModel": "model",
    "BasePredictor": "predictor",
    "BaseRunner": "predictor",
    "CancelationException": "exceptions",
    "ConcatenateIterator": "types",
    "ExperimentalFeatureWarning": "exceptions",
    "File": "types",
    "Input": "input",
    "Opaque": "opaque",
    "Path": "types",
    "Secret": "types",
    "current_scope": "scope",
    "emit_metric": "scope",
    "streaming": "stream",
}

__all__ = [
    "AsyncConcatenateIterator",
    "BaseModel",
    "BasePredictor",
    "BaseRunner",
    "CancelationException",
    "ConcatenateIterator",
    "ExperimentalFeatureWarning",
    "File",
    "Input",
    "Opaque",
    "Path",
    "Secret",
    "__version__",
    "current_scope",
    "emit_metric",
    "streaming",
]

if TYPE_CHECKING:
    from .exceptions import CancelationException, ExperimentalFeatureWarning
    from .input import Input
    from .model import BaseModel
    from .opaque import Opaque
    from .predictor import BasePredictor, BaseRunner
    from .scope import current_scope, emit_metric
    from .stream import streaming
    from .types import AsyncConcatenateIterator, ConcatenateIterator, File, Path, Secret


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cog' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
