"""`python -m cogpin`: the same program as the `cogpin` command."""

from cogpin.cli import main

main()
