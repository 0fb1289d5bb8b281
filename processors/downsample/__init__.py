"""The downsample processor: deadband and swinging-door compression per series."""

from __future__ import annotations

from streamforge.processors.downsample.downsample import DownsampleProcessor

__all__ = ["DownsampleProcessor"]
