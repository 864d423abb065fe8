"""Writes weights.json: the upscaler's weights, made from a fixed seed with the standard library only (so
it runs anywhere, before torch is installed). The model is a bicubic upscale plus a small learned residual
sharpening (two 3x3 convolutions); these weights are a deterministic stand-in for trained ones."""

import json
import random
from pathlib import Path

HIDDEN = 8


def main() -> None:
    rng = random.Random(20261125)

    def tensor(*shape: int, scale: float) -> list:
        if len(shape) == 1:
            return [rng.gauss(0.0, scale) for _ in range(shape[0])]
        return [tensor(*shape[1:], scale=scale) for _ in range(shape[0])]

    weights = {
        "conv1.weight": tensor(HIDDEN, 3, 3, 3, scale=0.1),
        "conv1.bias": tensor(HIDDEN, scale=0.01),
        "conv2.weight": tensor(3, HIDDEN, 3, 3, scale=0.02),
        "conv2.bias": [0.0, 0.0, 0.0],
    }
    out = Path(__file__).with_name("weights.json")
    out.write_text(json.dumps(weights, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
