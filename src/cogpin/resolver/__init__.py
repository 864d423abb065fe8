"""Resolution: the pure plan (``compat``), the Python closure with uv (``python``), base image digests
(``images``)."""

from cogpin.resolver.compat import Flags, Plan, ResolveError, plan

__all__ = ["Flags", "Plan", "ResolveError", "plan"]
