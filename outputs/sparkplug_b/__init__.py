"""The sparkplug_b output: a Sparkplug B edge node on MQTT, with benthos-umh's fields."""

from __future__ import annotations

from streamforge.outputs.sparkplug_b.output import SparkplugOutput, check_sparkplug_output

__all__ = ["SparkplugOutput", "check_sparkplug_output"]
