"""The sparkplug_b input: a Sparkplug B host application on MQTT, with benthos-umh's fields."""

from __future__ import annotations

from streamforge.inputs.sparkplug_b.input import SparkplugInput, SparkplugReader

__all__ = ["SparkplugInput", "SparkplugReader"]
