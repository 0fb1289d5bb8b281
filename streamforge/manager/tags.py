"""Tags on streams and Things: short labels scoped roles can be limited to (`tag:<tag>`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MAX_TAGS", "TAG_PATTERN", "check_tags", "parse_tags"]

TAG_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
MAX_TAGS = 32


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """The tags, without repeats, in the order given; ValueError naming a tag not allowed."""
    checked: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not TAG_PATTERN.fullmatch(tag):
            raise ValueError(
                f"tag {tag!r}: use 1 to 64 of A-Z a-z 0-9 . _ : / -, "
                "starting with a letter or digit"
            )
        if tag not in checked:
            checked.append(tag)
    if len(checked) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return tuple(checked)


def parse_tags(text: str | None) -> tuple[str, ...] | None:
    """Comma-separated tags from a query parameter; None when the parameter is absent."""
    if text is None:
        return None
    return check_tags(t.strip() for t in text.split(",") if t.strip())
