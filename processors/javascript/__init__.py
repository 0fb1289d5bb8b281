"""benthos-umh's JavaScript processors: `nodered_js` and `tag_processor`, on one sandbox."""

from __future__ import annotations

from streamforge.processors.javascript.nodered_js import NodeRedJs
from streamforge.processors.javascript.tag_processor import TagProcessor

__all__ = ["NodeRedJs", "TagProcessor"]
