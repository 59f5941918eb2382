"""placeholder, replaced by its owner."""

from stages.errors import StrataError


def command() -> None:
    """Not built yet."""
    raise StrataError("split: not built yet")
