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

Also: BaseRunner (`run` instead of `predict`), File, Secret, BaseModel (structured outputs),
ConcatenateIterator / AsyncConcatenateIterator (streamed tokens), CancelationException,
current_scope() (`.context`, `.record_metric(name, value)`), emit_metric, streaming (SSE),
ExperimentalFeatureWarning. Serve with `python -m cog.server.http`; print the OpenAPI schema with
`python -m cog.command.openapi_schema`.
"""

__version__ = "0.1.0"

from .exceptions import CancelationException, ExperimentalFeatureWarning  # noqa: E402
from .input import Input  # noqa: E402
from .model import BaseModel  # noqa: E402
from .predictor import BasePredictor, BaseRunner  # noqa: E402
from .scope import current_scope, emit_metric  # noqa: E402
from .stream import streaming  # noqa: E402
from .types import AsyncConcatenateIterator, ConcatenateIterator, File, Path, Secret  # noqa: E402

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
    "Path",
    "Secret",
    "__version__",
    "current_scope",
    "emit_metric",
    "streaming",
]
