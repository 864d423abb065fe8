"""The hub tests' list-of-files model: n text files."""

import tempfile

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def predict(self, n: int = Input(default=2, ge=1, le=10)) -> list[Path]:
        d = tempfile.mkdtemp()
        out = []
        for i in range(n):
            p = Path(d) / f"item-{i}.txt"
            p.write_text(f"item {i}")
            out.append(p)
        return out
