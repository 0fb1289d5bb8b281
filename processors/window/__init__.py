"""The window processor: tumbling, sliding and session windows per series."""

from __future__ import annotations

from streamforge.processors.window import window as window
