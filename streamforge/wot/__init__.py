"""W3C WoT Thing Descriptions: validation, a parsed model, and generation of stream configs."""

from __future__ import annotations

from streamforge.wot.generate import (
    GeneratedStream,
    GenerateOptions,
    generate_stream,
    stream_id_for,
)
from streamforge.wot.model import Affordance, DataSchema, Form, ThingDescription, parse_td
from streamforge.wot.problems import TdError, TdProblem
from streamforge.wot.validation import check_td

__all__ = [
    "Affordance",
    "DataSchema",
    "Form",
    "GenerateOptions",
    "GeneratedStream",
    "TdError",
    "TdProblem",
    "ThingDescription",
    "check_td",
    "generate_stream",
    "parse_td",
    "stream_id_for",
]
