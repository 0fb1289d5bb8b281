"""The kafka input and its partition reader."""

from __future__ import annotations

from streamforge.inputs.kafka.kafka import KafkaInput, TopicSpec, parse_topics

__all__ = ["KafkaInput", "TopicSpec", "parse_topics"]
