"""The validate processor: JSON Schema and per-series rules that set quality."""

from __future__ import annotations

from streamforge.processors.validate.validate import ValidateProcessor

__all__ = ["ValidateProcessor"]
