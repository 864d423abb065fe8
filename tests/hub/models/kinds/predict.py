"""Test model for the hub's web form: one input of each kind the Playground has a widget for, echoed
back as a JSON object (so the browser test can check what each widget sent)."""

from typing import Any

from cog import BasePredictor, Input, Secret


class Predictor(BasePredictor):
    def predict(
        self,
        words: list[str] = Input(description="Words, one row each"),
        counts: list[int] = Input(default=[1, 2], description="Whole numbers, one row each"),
        options: dict = Input(default=None, description="Free-form options (a JSON object)"),
        loud: bool = Input(default=False, description="Shout"),
        mood: str = Input(default="calm", choices=["calm", "wild"], description="The mood"),
        key: Secret = Input(default=None, description="A secret, never echoed in full"),
        ratio: float = Input(default=0.5, ge=0.0, le=1.0, description="A ratio"),
        code: str = Input(default="AB12", regex="^[A-Z]{2}[0-9]{2}$", max_length=4, description="A code"),
    ) -> dict:
        secret = key.get_secret_value() if key is not None else None
        out: dict[str, Any] = {
            "words": words,
            "counts": counts,
            "options": options,
            "loud": loud,
            "mood": mood,
            "key_length": len(secret) if secret else 0,
            "ratio": ratio,
            "code": code,
        }
        return out
