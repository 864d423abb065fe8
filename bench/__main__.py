"""`python -m bench NAME|all`: run bench/bench_NAME.py's main() (or every bench/bench_*.py's main())."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def available() -> list[str]:
    return sorted(p.stem[len("bench_") :] for p in Path(__file__).parent.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    names = available()
    which = argv[0] if argv else "all"
    if which not in names and which != "all":
        print(f"unknown benchmark {which!r}; available: {', '.join(names)} or all", file=sys.stderr)
        return 2
    status = 0
    for name in names if which == "all" else [which]:
        module = importlib.import_module(f"bench.bench_{name}")
        if which == "all" and not getattr(module, "IN_ALL", True):
            print(f"== bench {name}: not part of all (run `python -m bench {name}`) ==", flush=True)
            continue
        print(f"== bench {name} ==", flush=True)
        result = module.main()
        status = status or (result if isinstance(result, int) else 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
