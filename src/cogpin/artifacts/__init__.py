"""Artifacts on this machine: ``cache`` (the content-addressed cache every project shares, sha256-checked
on the way in) and ``runtime_wheel`` (the runtime wheel every image gets, built deterministically into it)."""
