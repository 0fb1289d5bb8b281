"""Run-time helpers of compiled mappings: paths, Benthos-typed operators, error shaping.

The generated code inlines the common cases; these functions are the slow paths.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, NoReturn

from streamforge.bloblang.errors import MappingError, describe, type_error_text, type_name
from streamforge.bloblang.registry import DELETED, NOTHING

__all__ = [
    "BadThis", "get_field", "get_path", "set_path", "clone", "add", "sub", "mul", "div", "mod",
    "neg", "compare", "eq", "ne", "check_bool", "annotate", "fail", "thrown",
]  # fmt: skip

_NUM = (int, float)


class BadThis:
    """Stands in for `this` when the payload could not be parsed; using it raises."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def fail(self, path: str = "") -> NoReturn:
        where = f"this.{path}" if path else "this"
        raise MappingError(
            f"unable to reference message as structured (with '{where}'): {self.reason}"
        )


def is_num(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


# -- paths ------------------------------------------------------------------------------
def get_field(obj: Any, key: str | int) -> Any:
    """Read one path segment; a missing field or a field of a non-object reads as null."""
    t = type(obj)
    if t is dict:
        if type(key) is int:
            key = str(key)
        return obj.get(key)
    if t is list:
        if type(key) is str:
            if not key.isdigit():
                return None
            key = int(key)
        assert isinstance(key, int)
        return obj[key] if 0 <= key < len(obj) else None
    if t is BadThis:
        obj.fail(str(key))
    return None


def get_path(obj: Any, segments: tuple[str | int, ...]) -> Any:
    """Read a path of segments from a value."""
    if type(obj) is BadThis:
        obj.fail(".".join(str(s) for s in segments))
    for seg in segments:
        obj = get_field(obj, seg)
        if obj is None:
            return None
    return obj


def _dot(segments: tuple[str | int, ...]) -> str:
    return ".".join(str(s) for s in segments)


def set_path(root: Any, segments: tuple[str | int, ...], value: Any) -> Any:
    """Assign `value` at `segments` under `root` (creating objects); returns the new root.

    `DELETED` removes the field instead.
    """
    if not segments:
        return value
    if root is NOTHING or root is None:
        root = {}
    deleting = value is DELETED
    node = root
    for i, seg in enumerate(segments[:-1]):
        key = str(seg)
        if type(node) is dict:
            nxt = node.get(key)
            if nxt is None:
                if deleting:
                    return root
                nxt = {}
                node[key] = nxt
            elif type(nxt) is not dict and type(nxt) is not list:
                raise MappingError(
                    f"unable to set target path {_dot(segments)} as the value of "
                    f"{_dot(segments[: i + 1])} was a non-object type ({type_name(nxt)})"
                )
            node = nxt
        elif type(node) is list and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            where = _dot(segments[:i]) if i else ""
            if not where:
                raise MappingError(
                    f"unable to set target path {_dot(segments)} as the value of the root "
                    f"was a non-object type ({type_name(node)})"
                )
            raise MappingError(
                f"unable to set target path {_dot(segments)} as the value of {where} "
                f"was a non-object type ({type_name(node)})"
            )
    last = str(segments[-1])
    if type(node) is dict:
        if deleting:
            node.pop(last, None)
        else:
            node[last] = value
    elif type(node) is list and last.isdigit():
        idx = int(last)
        if deleting:
            if idx < len(node):
                del node[idx]
        elif idx < len(node):
            node[idx] = value
        elif idx == len(node):
            node.append(value)
        else:
            raise MappingError(f"unable to set target path {_dot(segments)}: index out of bounds")
    else:
        where = _dot(segments[:-1])
        if not where:
            raise MappingError(
                f"unable to set target path {_dot(segments)} as the value of the root was a "
                f"non-object type ({type_name(node)})"
            )
        raise MappingError(
            f"unable to set target path {_dot(segments)} as the value of {where} was a "
            f"non-object type ({type_name(node)})"
        )
    return root


def clone(value: Any) -> Any:
    """An independent copy of a structured value (assignments never alias the input)."""
    t = type(value)
    if t is dict:
        return {k: clone(v) if type(v) is dict or type(v) is list else v for k, v in value.items()}
    if t is list:
        return [clone(v) if type(v) is dict or type(v) is list else v for v in value]
    return copy.deepcopy(value) if t not in (str, int, float, bool, bytes) else value


# -- arithmetic -------------------------------------------------------------------------
def _mismatch(op: str, left: Any, right: Any, anns: tuple[str, str]) -> MappingError:
    return MappingError(
        f"cannot {op} types {type_name(left)} (from {anns[0]}) and "
        f"{type_name(right)} (from {anns[1]})"
    )


def _number(v: Any) -> Any:
    """Numbers as Benthos reads them for arithmetic; None when not a number."""
    if type(v) is int or type(v) is float:
        return v
    return None


def add(left: Any, right: Any, anns: tuple[str, str]) -> Any:
    if is_num(left) and is_num(right):
        return left + right
    if isinstance(left, (str, bytes)) and isinstance(right, (str, bytes)):
        if isinstance(left, bytes):
            left = left.decode("utf-8", "replace")
        if isinstance(right, bytes):
            right = right.decode("utf-8", "replace")
        return left + right
    raise _mismatch("add", left, right, anns)


def wrap_int64(value: int) -> int:
    """An integer result reduced to a signed 64-bit value, as Go's int64 arithmetic wraps."""
    return ((value + 2**63) % 2**64) - 2**63


def sub(left: Any, right: Any, anns: tuple[str, str]) -> Any:
    if is_num(left) and is_num(right):
        return left - right
    raise _mismatch("subtract", left, right, anns)


def mul(left: Any, right: Any, anns: tuple[str, str]) -> Any:
    if is_num(left) and is_num(right):
        return left * right
    raise _mismatch("multiply", left, right, anns)


def div(left: Any, right: Any, anns: tuple[str, str]) -> Any:
    if not (is_num(left) and is_num(right)):
        raise _mismatch("divide", left, right, anns)
    if right == 0:
        raise MappingError(f"{anns[1]}: attempted to divide by zero")
    return float(left) / float(right)


def mod(left: Any, right: Any, anns: tuple[str, str]) -> Any:
    if not (is_num(left) and is_num(right)):
        raise _mismatch("modulo", left, right, anns)
    lhs, rhs = int(left), int(right)
    if rhs == 0:
        raise MappingError(f"{anns[1]}: attempted to divide by zero")
    result = abs(lhs) % abs(rhs)
    return -result if lhs < 0 else result


def neg(value: Any, ann: str) -> Any:
    if type(value) is int:
        return wrap_int64(-value)
    if is_num(value):
        return -value
    raise MappingError(type_error_text("number", value, ann))


# -- comparison -------------------------------------------------------------------------
def eq(left: Any, right: Any) -> bool:
    """Benthos equality: numbers compare across int/float, otherwise types must match."""
    lt, rt = type(left), type(right)
    if (lt is int or lt is float) and (rt is int or rt is float):
        return bool(left == right)
    if isinstance(left, (bytes, bytearray)):
        left, lt = bytes(left).decode("utf-8", "replace"), str
    if isinstance(right, (bytes, bytearray)):
        right, rt = bytes(right).decode("utf-8", "replace"), str
    if lt is not rt:
        return False
    if lt is dict:
        if left.keys() != right.keys():
            return False
        return all(eq(v, right[k]) for k, v in left.items())
    if lt is list:
        return len(left) == len(right) and all(eq(a, b) for a, b in zip(left, right))
    return bool(left == right)


def ne(left: Any, right: Any) -> bool:
    return not eq(left, right)


_ORDER = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def compare(op: str, left: Any, right: Any, anns: tuple[str, str]) -> bool:
    """Ordering comparison of numbers, strings or timestamps."""
    fn = _ORDER[op]
    if is_num(left) and is_num(right):
        return bool(fn(left, right))
    if isinstance(left, (bytes, bytearray)):
        left = bytes(left).decode("utf-8", "replace")
    if isinstance(right, (bytes, bytearray)):
        right = bytes(right).decode("utf-8", "replace")
    if type(left) is str and type(right) is str:
        return bool(fn(left, right))
    if isinstance(left, datetime) and isinstance(right, datetime):
        try:
            return bool(fn(left, right))
        except TypeError:
            pass
    raise _mismatch("compare", left, right, anns)


def check_bool(value: Any) -> bool:
    """The value of a boolean operand; anything but a bool is an error."""
    if value is True or value is False:
        return value
    raise MappingError(f"expected bool value, got {describe(value)}")


# -- errors -----------------------------------------------------------------------------
def _reason(exc: BaseException) -> str:
    if isinstance(exc, MappingError):
        return exc.reason
    if isinstance(exc, RecursionError):
        return "maximum recursion depth exceeded, the mapping or document is nested too deeply"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def annotate(exc: BaseException, annotation: str) -> MappingError:
    """Prefix an error from a method with the annotation of its target, once."""
    if isinstance(exc, MappingError) and (
        getattr(exc, "annotated", False) or exc.expression is not None
    ):
        return exc
    typed = getattr(exc, "type_error", None)
    if typed is not None:
        err = MappingError(type_error_text(typed[0], typed[1], annotation))
    else:
        err = MappingError(f"{annotation}: {_reason(exc)}")
    err.annotated = True  # type: ignore[attr-defined]
    return err


def plain(exc: BaseException) -> MappingError:
    """Any exception as a MappingError (kept when it already is one)."""
    if isinstance(exc, MappingError):
        return exc
    return MappingError(_reason(exc))


def fail(exc: BaseException, line: int) -> MappingError:
    """The error of a failed statement: `failed assignment (line N): reason`."""
    if isinstance(exc, MappingError) and exc.expression is not None:
        return exc
    err = MappingError(_reason(exc), f"line {line}")
    if isinstance(exc, MappingError):
        err.annotated = True  # type: ignore[attr-defined]
    return err


def error_text(exc: BaseException) -> str:
    """The text a `catch` fallback sees as its context."""
    return str(exc) if isinstance(exc, MappingError) else _reason(exc)


def thrown(message: Any) -> MappingError:
    err = MappingError(message if isinstance(message, str) else describe(message))
    err.annotated = True  # type: ignore[attr-defined]
    return err
