"""W3C WoT Thing Descriptions: validation, a parsed model, and generation of stream configs."""

from __future__ import annotations

from streamforge.wot.problems import TdError, TdProblem
from streamforge.wot.validation import check_td

__all__ = ["TdError", "TdProblem", "check_td"]
