"""The kafka input and its partition reader."""

from __future__ import annotations

from streamforge.inputs.kafka import kafka as kafka
