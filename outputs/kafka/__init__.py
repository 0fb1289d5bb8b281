"""The kafka output and its producer."""

from __future__ import annotations

from streamforge.outputs.kafka import kafka as kafka
