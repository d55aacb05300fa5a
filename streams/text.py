"""Words for the lines partd prints and logs."""
from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 record``, ``2 records``, ``1,000 records`` (``many``: the plural when it is not ``noun`` + s)."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"
