"""Did-you-mean for config names: only names a typo away from one that exists.

A suggestion is made when the edit distance (insertions, deletions, substitutions and swaps
of neighbours) is small for the length of the name: 1 up to 5 characters, 2 up to 10, 3
beyond. `cache` is not a typo of `catch`, `retry` not of `try`, `reject` not of
`reject_errored`; `mapings`, `kafak` and `htpp_server` are typos.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["close_match", "edit_distance", "max_distance"]


def max_distance(name: str) -> int:
    """How many edits a name of this length may be away from a suggestion."""
    n = len(name)
    if n <= 5:
        return 1
    if n <= 10:
        return 2
    return 3


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """The optimal string alignment distance of `a` and `b` (stops early past `limit`)."""
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        if limit is not None and min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def close_match(name: str, choices: Iterable[str]) -> str | None:
    """The choice `name` is most likely a typo of, or None when none is close enough.

    A choice that differs only in case, or in `-` for `_`, always matches.
    """
    folded = name.lower().replace("-", "_")
    best: tuple[int, str] | None = None
    limit = max_distance(name)
    for choice in choices:
        if choice == name:
            continue
        if choice.lower().replace("-", "_") == folded:
            return choice
        d = edit_distance(folded, choice.lower(), limit)
        if d <= limit and (best is None or d < best[0]):
            best = (d, choice)
    return best[1] if best else None
