"""The hub tests' broken model: setup raises."""

from cog import BasePredictor


class Predictor(BasePredictor):
    def setup(self) -> None:
        print("loading weights that are not there")
        raise RuntimeError("setup failed on purpose")

    def predict(self, text: str = "x") -> str:
        return text
