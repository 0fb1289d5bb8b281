"""Which metadata keys a component passes on (as record or HTTP headers): one spec, one filter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamforge.plugin import Field, ParsedField
from streamforge.regexp import compile_regexp

__all__ = ["MetadataFilter", "metadata_filter_field"]


def metadata_filter_field(
    name: str, description: str, *, exclude: bool = False, advanced: bool = False
) -> Field:
    """The `{include_prefixes, include_patterns[, exclude_prefixes]}` object field."""
    fields = [
        Field("include_prefixes", "array", default=[], item=Field("prefix", "string"),
              description="Metadata keys starting with one of these prefixes are passed on."),
        Field("include_patterns", "array", default=[],
              item=ParsedField("pattern", "string", parser=compile_regexp),
              description="Metadata keys matching one of these regular expressions are passed on.",
              examples=([".*"], ["_timestamp_unix$"])),
    ]  # fmt: skip
    if exclude:
        fields.append(
            Field("exclude_prefixes", "array", default=[], item=Field("prefix", "string"),
                  description="Metadata keys starting with one of these are never passed on.")
        )  # fmt: skip
    return Field(
        name,
        "object",
        default={f.name: [] for f in fields},
        description=description,
        fields=tuple(fields),
        advanced=advanced,
    )


class MetadataFilter:
    """Chooses metadata keys: an include prefix or pattern, minus excluded prefixes."""

    def __init__(self, conf: Mapping[str, Any] | None) -> None:
        conf = conf or {}
        self.prefixes = tuple(str(p) for p in conf.get("include_prefixes") or ())
        self.patterns = [compile_regexp(str(p)) for p in conf.get("include_patterns") or ()]
        self.excluded = tuple(str(p) for p in conf.get("exclude_prefixes") or ())

    @property
    def active(self) -> bool:
        """False when nothing can pass (the default): callers skip the metadata entirely."""
        return bool(self.prefixes or self.patterns)

    def __call__(self, key: str) -> bool:
        if self.excluded and key.startswith(self.excluded):
            return False
        if self.prefixes and key.startswith(self.prefixes):
            return True
        return any(p.search(key) for p in self.patterns)

    def select(self, metadata: Mapping[str, Any]) -> dict[str, str]:
        """The chosen keys with their values as text."""
        if not self.active:
            return {}
        return {k: str(v) for k, v in metadata.items() if self(k)}
