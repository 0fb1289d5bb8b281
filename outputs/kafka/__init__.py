"""The kafka output and its producer."""

from __future__ import annotations

from streamforge.outputs.kafka.kafka import PARTITIONERS, header_filter

__all__ = ["PARTITIONERS", "header_filter"]
