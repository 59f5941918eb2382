"""placeholder, replaced by its owner."""

from stages.errors import StrataError


def command() -> None:
    """Not built yet."""
    raise StrataError("predict: not built yet")
