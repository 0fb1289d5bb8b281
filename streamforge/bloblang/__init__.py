"""Bloblang, the Benthos mapping language, parsed once and compiled to Python.

exe = parse('root.name = this.name.uppercase()')
exe.query({"name": "ada"})            # {"name": "ADA"}
exe.apply_message(msg)                 # a new Message (or None when deleted)
"""

from __future__ import annotations

from collections.abc import Sequence

from streamforge.bloblang import lib as _lib
from streamforge.bloblang.compiler import compile_mapping, compile_query
from streamforge.bloblang.errors import MappingError, ParseError
from streamforge.bloblang.executor import Executor
from streamforge.bloblang.registry import DELETED, NOTHING

__all__ = ["parse", "parse_query", "Executor", "DELETED", "NOTHING", "ParseError", "MappingError"]

_lib.load_all()


def parse(text: str, *, import_paths: Sequence[str] = ()) -> Executor:
    """Parse and compile a mapping. Raises ParseError for any mistake in it."""
    return Executor(compile_mapping(text, tuple(import_paths)), text)


def parse_query(text: str) -> Executor:
    """Parse and compile one query expression (for `check` fields and `${! }`)."""
    return Executor(compile_query(text), text)
