"""Deprecated: the plugin API moved to `streamforge.plugin`; this path goes away in 0.3."""

from __future__ import annotations

import warnings

from streamforge.plugin import *  # noqa: F403 - the old path offers what it offered
from streamforge.plugin import __all__ as __all__
from streamforge.plugin.spec import FIELD_TYPES as FIELD_TYPES

warnings.warn(
    "streamforge.components is deprecated and goes away in StreamForge 0.3; "
    "import from streamforge.plugin instead",
    DeprecationWarning,
    stacklevel=2,
)
