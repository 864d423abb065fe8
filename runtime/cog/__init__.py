"""cog: the SDK model code imports (runtime placeholder; see issue 4)."""

__version__ = "0.1.0"
