"""One module per command, each with a `main(**options) -> exit status` that cli.py calls; `_common`
holds what several of them share."""
