import time

from cog import BasePredictor, ConcatenateIterator, Input


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str = Input(description="Text to echo back, one token at a time"),
        delay: float = Input(default=0.0, ge=0.0, le=1.0, description="Seconds between tokens"),
    ) -> ConcatenateIterator[str]:
        for i, word in enumerate(prompt.split(" ")):
            if delay:
                time.sleep(delay)
            yield word if i == 0 else " " + word
