"""The downsample processor: deadband and swinging-door compression per series."""

from __future__ import annotations

from streamforge.processors.downsample import downsample as downsample
