"""Exceptions and warnings model code can see."""


class CancelationException(BaseException):  # noqa: N818 - Cog's public name
    """Raised inside a synchronous prediction when it is cancelled (a BaseException, like KeyboardInterrupt)."""


class ExperimentalFeatureWarning(Warning):
    """Warns that a feature is experimental."""
