"""`bloblang` processor: the older name of `mapping`, kept for Benthos configs."""

from __future__ import annotations

from streamforge.plugin import Field, register_processor
from streamforge.processors.mapping import MappingProcessor

__all__ = ["MappingProcessor"]

register_processor(
    "bloblang",
    config=Field(
        "bloblang",
        "mapping",
        description="A Bloblang mapping; `root` is the new document, `this` the incoming one.",
        examples=('root = this.without("secret")',),
    ),
    summary="Alias of `mapping`: builds a new document for each message with Bloblang.",
    examples=('bloblang: root = this.without("secret")',),
)(MappingProcessor)
