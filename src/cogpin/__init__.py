"""cogpin: package an ML model into a reproducible container image from a Nix-style lockfile.

A drop-in for Replicate's Cog: ``cog.yaml`` + ``predict.py`` → ``cog.lock`` → image → registry.
"""

__version__ = "0.1.0"
