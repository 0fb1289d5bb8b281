"""Deprecated: keyed processors moved to `streamforge.plugin.keyed` (the base class) and
`streamforge.processors.telemetry.series` (keying by series, the old default); this path goes
away in 0.3."""

from __future__ import annotations

import warnings

from streamforge.engine.keyed import *  # noqa: F403 - the old path offers what it offered
from streamforge.plugin.keyed import KeyedOut as KeyedOut
from streamforge.processors.telemetry.series import SeriesKeyedProcessor as KeyedProcessor
from streamforge.processors.telemetry.series import series_key as default_key

__all__ = ["KeyedOut", "KeyedProcessor", "default_key"]

warnings.warn(
    "streamforge.stateful is deprecated and goes away in StreamForge 0.3; import "
    "streamforge.plugin.keyed (and streamforge.processors.telemetry.series) instead",
    DeprecationWarning,
    stacklevel=2,
)
