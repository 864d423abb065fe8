"""The hub tests' file model: returns the input file's bytes as a Path output; also raises, sleeps, exits."""

import os
import shutil
import tempfile
import time
from typing import Optional

from cog import BasePredictor, Input, Path


class Predictor(BasePredictor):
    def predict(
        self,
        file: Optional[Path] = Input(default=None, description="A file, returned byte for byte"),
        mode: str = Input(default="echo", choices=["echo", "raise", "sleep", "exit"]),
        seconds: float = Input(default=0.0, ge=0.0, le=600.0),
    ) -> Path:
        print(f"mode={mode}")
        if mode == "raise":
            raise ValueError("the model raised on purpose")
        if mode == "exit":
            os._exit(3)
        if mode == "sleep":
            for _ in range(int(seconds * 10)):
                time.sleep(0.1)
        out = Path(tempfile.mkdtemp()) / ("out" + (os.path.splitext(str(file))[1] if file else ".txt"))
        if file is None:
            out.write_bytes(b"no file")
        else:
            shutil.copyfile(file, out)
        return out
