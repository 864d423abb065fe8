"""Print the predictor's OpenAPI schema as JSON without starting a server.

    COG_PREDICT_TYPE_STUB=predict.py:Predictor [COG_TRAIN_TYPE_STUB=train.py:train] \
        python -m cog.command.openapi_schema

Without the variables, `predict:`/`run:`/`train:` are read from ./cog.yaml. Exit 1 with the reason on stderr
when the predictor is invalid.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any


def refs_from_env(cwd: str = ".") -> tuple[str | None, str | None]:
    """(predict ref, train ref) from COG_PREDICT_TYPE_STUB / COG_TRAIN_TYPE_STUB, else from ./cog.yaml."""
    predict = os.environ.get("COG_PREDICT_TYPE_STUB") or None
    train = os.environ.get("COG_TRAIN_TYPE_STUB") or None
    if predict is None and train is None:
        yaml_refs = read_cog_yaml(os.path.join(cwd, "cog.yaml"))
        predict = yaml_refs.get("predict") or yaml_refs.get("run")
        train = yaml_refs.get("train")
    return predict, train


def read_cog_yaml(path: str) -> dict[str, str]:
    """The top-level `predict:`, `run:` and `train:` scalars of cog.yaml (a tiny reader, not YAML)."""
    found: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^(predict|run|train):\s*(.*?)\s*(#.*)?$", line.rstrip("\n"))
                if m and m.group(2):
                    found[m.group(1)] = m.group(2).strip("\"'")
    except OSError:
        pass
    return found


def schema_for(predict_ref: str | None, train_ref: str | None) -> dict[str, Any]:
    """Import the model code (classes are not instantiated) and build the schema."""
    from ..predictor import load_predictor
    from ..schema import openapi_schema

    predict_fn = load_predictor(predict_ref, "predict", instantiate=False).fn if predict_ref else None
    train_fn = load_predictor(train_ref, "train", instantiate=False).fn if train_ref else None
    return openapi_schema(predict_fn, train_fn)


def main(argv: list[str] | None = None) -> int:
    predict_ref, train_ref = refs_from_env()
    if not predict_ref and not train_ref:
        print("error: no predictor: set COG_PREDICT_TYPE_STUB (e.g. predict.py:Predictor)", file=sys.stderr)
        return 1
    try:
        schema = schema_for(predict_ref, train_ref)
    except Exception as e:  # noqa: BLE001 - any failure is reported as the reason
        print(f"error: invalid predictor: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(schema, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
