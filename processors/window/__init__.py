"""The window processor: tumbling, sliding and session windows per series."""

from __future__ import annotations

from streamforge.processors.window.window import LATE_TOTAL, PASS_KEY, WindowProcessor

__all__ = ["LATE_TOTAL", "PASS_KEY", "WindowProcessor"]
