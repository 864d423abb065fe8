"""The hub tests' and benchmark's async model: concurrency 8, an optional delay."""

import asyncio

from cog import BasePredictor, Input


class Predictor(BasePredictor):
    async def predict(
        self, text: str = Input(default="x"), delay: float = Input(default=0.0, ge=0.0, le=10.0)
    ) -> str:
        if delay:
            await asyncio.sleep(delay)
        return f"hello {text}"
