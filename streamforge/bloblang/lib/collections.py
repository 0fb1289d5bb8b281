"""Bloblang object and array methods: `map_each`, `filter`, `fold`, `sort_by`, `merge`, ...

Query arguments arrive as callables `q(value)`; a query may yield `DELETED` (drop the element)
or `NOTHING` (keep it unchanged). Methods never mutate their target: they return new
containers and share untouched values.
"""

from __future__ import annotations

import copy
import functools
import json
import operator
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from streamforge.bloblang.errors import MappingError, type_error, type_name
from streamforge.bloblang.lib.coercion import format_timestamp
from streamforge.bloblang.lib.numbers import is_number, norm_float
from streamforge.bloblang.registry import DELETED, NOTHING, Param, method

__all__ = ["dot_path", "merge_values", "search_path", "values_equal"]

CATEGORY = "object_and_array"

Query = Callable[[Any], Any]


# -- shared helpers -----------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def dot_path(path: str) -> tuple[str, ...]:
    """Split a Benthos dot path; `~1` stands for a literal `.` and `~0` for `~`."""
    if path == "":
        return ()
    return tuple(seg.replace("~1", ".").replace("~0", "~") for seg in path.split("."))


def _search(value: Any, path: tuple[str, ...]) -> Iterator[Any]:
    """Yield the value at `path` (none when missing); `*` on an array fans out to each element."""
    if not path:
        yield value
        return
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        if head in value:
            yield from _search(value[head], rest)
    elif isinstance(value, list):
        if head == "*":
            found = [v for item in value for v in _search(item, rest)]
            yield found
            return
        try:
            index = int(head)
        except ValueError:
            return
        if 0 <= index < len(value):
            yield from _search(value[index], rest)


def search_path(value: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, value) of the field at a parsed dot path."""
    for found in _search(value, path):
        return True, found
    return False, None


def _comparable_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, datetime):
        return format_timestamp(value)
    return None


def values_equal(left: Any, right: Any) -> bool:
    """Benthos ICompare: numbers compare by value, strings equal bytes, containers deeply."""
    if left is None:
        return right is None
    if isinstance(left, bool):
        if isinstance(right, bool):
            return left == right
        return is_number(right) and (right != 0) == left
    if is_number(left):
        return is_number(right) and float(left) == float(right)
    text = _comparable_text(left)
    if text is not None:
        return _comparable_text(right) == text
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(values_equal(a, b) for a, b in zip(left, right))
        )
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and len(left) == len(right)
            and all(k in right and values_equal(v, right[k]) for k, v in left.items())
        )
    return False


def _wrap(prefix: str, exc: MappingError) -> MappingError:
    return MappingError(f"{prefix}: {exc.reason}")


def _array(target: Any) -> list[Any]:
    if not isinstance(target, list):
        raise type_error("array", target)
    return target


def _object(target: Any) -> dict[str, Any]:
    if not isinstance(target, dict):
        raise type_error("object", target)
    return target


def _combine(dest: Any, source: Any) -> list[Any]:
    """The collision rule of `merge`: both values end up in one array."""
    head = list(dest) if isinstance(dest, list) else [dest]
    if isinstance(source, list):
        head.extend(source)
    else:
        head.append(source)
    return head


def _override(dest: Any, source: Any) -> Any:
    return source


def _merge_objects(
    dest: dict[str, Any], source: dict[str, Any], collide: Callable[[Any, Any], Any]
) -> dict[str, Any]:
    result = dict(dest)
    for key, value in source.items():
        if key not in result:
            result[key] = copy.deepcopy(value)
            continue
        existing = result[key]
        if isinstance(value, dict) and isinstance(existing, dict):
            result[key] = _merge_objects(existing, value, collide)
        else:
            result[key] = collide(existing, copy.deepcopy(value))
    return result


def merge_values(target: Any, source: Any, collide: Callable[[Any, Any], Any]) -> Any:
    """Merge `source` into `target` (objects recursively, arrays appended), new containers."""
    if isinstance(target, list):
        if isinstance(source, list):
            return target + copy.deepcopy(source)
        return [*target, copy.deepcopy(source)]
    if not isinstance(target, dict):
        raise type_error("object or array", target)
    if not isinstance(source, dict):
        return dict(target)
    return _merge_objects(target, source, collide)


def _without(obj: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in obj.items():
        nested: list[tuple[str, ...]] = []
        excluded = False
        for path in paths:
            if path and path[0] == key:
                if len(path) > 1:
                    nested.append(path[1:])
                else:
                    excluded = True
        if excluded:
            continue
        result[key] = _without(value, nested) if nested and isinstance(value, dict) else value
    return result


def _with(obj: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in obj.items():
        included = False
        nested: list[tuple[str, ...]] = []
        for path in paths:
            if path and path[0] == key:
                included = True
                if len(path) > 1:
                    nested.append(path[1:])
        if included:
            result[key] = _with(value, nested) if nested and isinstance(value, dict) else value
    return result


def _path_args(args: tuple[Any, ...]) -> list[tuple[str, ...]]:
    paths = []
    for i, arg in enumerate(args):
        if isinstance(arg, (bytes, bytearray)):
            arg = bytes(arg).decode("utf-8", "replace")
        if not isinstance(arg, str):
            raise _wrap(f"argument {i}", type_error("string", arg))
        paths.append(dot_path(arg))
    return paths


def _set_path(root: Any, path: tuple[str, ...], value: Any) -> Any:
    """A copy of `root` with `value` at `path`, creating objects along the way."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(root, list):
        try:
            index = int(head)
        except ValueError:
            index = -1
        if 0 <= index < len(root):
            items = list(root)
            items[index] = _set_path(items[index], rest, value)
            return items
    obj = dict(root) if isinstance(root, dict) else {}
    obj[head] = _set_path(obj.get(head), rest, value)
    return obj


# -- predicates and searches --------------------------------------------------------------


def _bool_result(result: Any, prefix: str) -> bool:
    if not isinstance(result, bool):
        raise _wrap(prefix, type_error("bool", result))
    return result


def _run(query: Query, value: Any, prefix: str) -> Any:
    try:
        return query(value)
    except MappingError as exc:
        raise _wrap(prefix, exc) from None


@method("all", [Param("test", "query")], category=CATEGORY)
def all_(target: Any, test: Query) -> bool:
    """True when every element of a non-empty array passes the test."""
    items = _array(target)
    if not items:
        return False
    for i, item in enumerate(items):
        if not _bool_result(_run(test, item, f"element {i}"), f"element {i}"):
            return False
    return True


@method("any", [Param("test", "query")], category=CATEGORY)
def any_(target: Any, test: Query) -> bool:
    """True when at least one element of the array passes the test."""
    for i, item in enumerate(_array(target)):
        if _bool_result(_run(test, item, f"element {i}"), f"element {i}"):
            return True
    return False


@method("find", [Param("value")], category=CATEGORY)
def find(target: Any, value: Any) -> int:
    """The index of the first element equal to `value`, or -1."""
    for i, item in enumerate(_array(target)):
        if values_equal(value, item):
            return i
    return -1


@method("find_all", [Param("value")], category=CATEGORY)
def find_all(target: Any, value: Any) -> list[int]:
    """The indexes of every element equal to `value`."""
    return [i for i, item in enumerate(_array(target)) if values_equal(value, item)]


def _matches(query: Query, items: list[Any]) -> Iterator[int]:
    for i, item in enumerate(items):
        result = _run(query, item, f"query returned an error for index {i}")
        if _bool_result(result, f"query returned a non-boolean value for index {i}"):
            yield i


@method("find_by", [Param("query", "query")], category=CATEGORY)
def find_by(target: Any, query: Query) -> int:
    """The index of the first element for which the query is true, or -1."""
    return next(_matches(query, _array(target)), -1)


@method("find_all_by", [Param("query", "query")], category=CATEGORY)
def find_all_by(target: Any, query: Query) -> list[int]:
    """The indexes of every element for which the query is true."""
    return list(_matches(query, _array(target)))


@method("exists", [Param("path", "string")], category=CATEGORY)
def exists(target: Any, path: str) -> bool:
    """True when a field exists at the dot path (even when it is null)."""
    return search_path(target, dot_path(path))[0]


@method("get", [Param("path", "string")], category=CATEGORY)
def get(target: Any, path: str) -> Any:
    """The field at a dot path, or null when it does not exist."""
    return search_path(target, dot_path(path))[1]


@method("index", [Param("index", "int")], category=CATEGORY)
def index(target: Any, index: int) -> Any:
    """The element at an index; negative indexes count from the end. Bytes yield integers."""
    if not isinstance(target, (list, bytes, bytearray)):
        raise type_error("array", target)
    i = index + len(target) if index < 0 else index
    if not 0 <= i < len(target):
        raise MappingError(f"index '{i}' was out of bounds for array size: {len(target)}")
    return target[i]


# -- transformations ----------------------------------------------------------------------


@method("map_each", [Param("query", "query")], category=CATEGORY)
def map_each(target: Any, query: Query) -> Any:
    """Apply a query to each array element, or to each `{key, value}` of an object."""
    if isinstance(target, list):
        items: list[Any] = []
        for i, item in enumerate(target):
            result = _run(query, item, f"failed to process element {i}")
            if result is DELETED:
                continue
            items.append(item if result is NOTHING else result)
        return items
    if isinstance(target, dict):
        obj: dict[str, Any] = {}
        for key, value in target.items():
            result = _run(query, {"key": key, "value": value}, f"failed to process element {key}")
            if result is DELETED:
                continue
            obj[key] = value if result is NOTHING else result
        return obj
    raise type_error("array or object", target)


@method("map_each_key", [Param("query", "query")], category=CATEGORY)
def map_each_key(target: Any, query: Query) -> dict[str, Any]:
    """Apply a query to each key of an object; the result must be a string."""
    obj: dict[str, Any] = {}
    for key, value in _object(target).items():
        new_key = query(key)
        if new_key is NOTHING:
            obj[key] = value
        elif isinstance(new_key, str):
            obj[new_key] = value
        else:
            raise _wrap("unexpected result from key mapping", type_error("string", new_key))
    return obj


@method("filter", [Param("test", "query")], category=CATEGORY)
def filter_(target: Any, test: Query) -> Any:
    """Keep the elements (or `{key, value}` pairs) for which the query is exactly `true`."""
    if isinstance(target, list):
        return [item for item in target if test(item) is True]
    if isinstance(target, dict):
        return {k: v for k, v in target.items() if test({"key": k, "value": v}) is True}
    raise type_error("array or object", target)


@method("fold", [Param("initial"), Param("query", "query")], category=CATEGORY)
def fold(target: Any, initial: Any, query: Query) -> Any:
    """Reduce an array: the query sees `{tally, value}` and returns the next tally."""
    tally = copy.deepcopy(initial)
    for item in _array(target):
        tally = query({"tally": tally, "value": item})
    return tally


@method("append", category=CATEGORY, variadic=True)
def append(target: Any, *values: Any) -> list[Any]:
    """The array with the arguments added to its end."""
    return [*_array(target), *values]


@method("concat", category=CATEGORY, variadic=True)
def concat(target: Any, *arrays: Any) -> list[Any]:
    """The array followed by the elements of each argument array."""
    result = list(_array(target))
    for arr in arrays:
        result.extend(_array(arr))
    return result


@method("zip", category=CATEGORY, variadic=True)
def zip_(target: Any, *arrays: Any) -> list[list[Any]]:
    """Zip the array with one or more arrays of the same length."""
    items = _array(target)
    if not arrays:
        raise MappingError("zip requires at least one argument")
    for arr in arrays:
        if len(_array(arr)) != len(items):
            raise MappingError("can't zip different length array values")
    return [list(row) for row in zip(items, *arrays)]


@method("enumerated", category=CATEGORY)
def enumerated(target: Any) -> list[dict[str, Any]]:
    """Each element as `{index, value}`."""
    return [{"index": i, "value": v} for i, v in enumerate(_array(target))]


@method("flatten", category=CATEGORY)
def flatten(target: Any) -> list[Any]:
    """Expand elements that are arrays into the parent array (one level)."""
    result: list[Any] = []
    for item in _array(target):
        if isinstance(item, list):
            result.extend(item)
        else:
            result.append(item)
    return result


def _collapse(value: Any, prefix: str, include_empty: bool, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        pairs: Any = value.items()
    elif isinstance(value, list):
        pairs = ((str(i), v) for i, v in enumerate(value))
    else:
        out[prefix] = value
        return
    empty = True
    for key, child in pairs:
        empty = False
        _collapse(child, f"{prefix}.{key}" if prefix else key, include_empty, out)
    if empty and include_empty and prefix:
        out[prefix] = {} if isinstance(value, dict) else []


@method("collapse", [Param("include_empty", "bool", False)], category=CATEGORY)
def collapse(target: Any, include_empty: bool = False) -> dict[str, Any]:
    """Flatten a structure into one object keyed by dot paths."""
    if not isinstance(target, (dict, list)):
        raise type_error("object or array", target)
    out: dict[str, Any] = {}
    _collapse(target, "", bool(include_empty), out)
    return out


@method("explode", [Param("path", "string")], category=CATEGORY)
def explode(target: Any, path: str) -> Any:
    """One copy of the document per element (or key) of the array (or object) at `path`."""
    root = _object(target)
    parsed = dot_path(path)
    found = search_path(root, parsed)[1]
    base = _without(root, [parsed]) if parsed else {}
    if isinstance(found, list):
        return [_set_path(copy.deepcopy(base), parsed, item) for item in found]
    if isinstance(found, dict):
        return {k: _set_path(copy.deepcopy(base), parsed, v) for k, v in found.items()}
    raise MappingError(
        f"expected array or object value at path '{path}', found: {type_name(found)}"
    )


@method("keys", category=CATEGORY)
def keys(target: Any) -> list[str]:
    """The keys of an object, sorted."""
    return sorted(_object(target))


@method("values", category=CATEGORY)
def values(target: Any) -> list[Any]:
    """The values of an object."""
    return list(_object(target).values())


@method("key_values", category=CATEGORY)
def key_values(target: Any) -> list[dict[str, Any]]:
    """The pairs of an object as `{key, value}` objects."""
    return [{"key": k, "value": v} for k, v in _object(target).items()]


@method("with", category=CATEGORY, variadic=True)
def with_(target: Any, *paths: Any) -> dict[str, Any]:
    """The object reduced to the fields at the given dot paths."""
    return _with(_object(target), _path_args(paths))


@method("without", category=CATEGORY, variadic=True)
def without(target: Any, *paths: Any) -> dict[str, Any]:
    """The object without the fields at the given dot paths."""
    return _without(_object(target), _path_args(paths))


@method("merge", [Param("with")], category=CATEGORY)
def merge(target: Any, with_: Any) -> Any:
    """Merge a value in; colliding non-object fields become arrays holding both values."""
    return merge_values(target, with_, _combine)


@method("assign", [Param("with")], category=CATEGORY)
def assign(target: Any, with_: Any) -> Any:
    """Merge a value in; colliding non-object fields take the new value."""
    return merge_values(target, with_, _override)


@method("squash", category=CATEGORY)
def squash(target: Any) -> dict[str, Any]:
    """Merge an array of objects into one object, as `merge` does."""
    result: dict[str, Any] = {}
    for item in _array(target):
        if isinstance(item, dict):
            result = _merge_objects(result, item, _combine)
    return result


@method("join", [Param("delimiter", "string", "")], category=CATEGORY)
def join(target: Any, delimiter: str = "") -> str:
    """Join an array of strings with an optional delimiter."""
    parts: list[str] = []
    for i, item in enumerate(_array(target)):
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, (bytes, bytearray)):
            parts.append(bytes(item).decode("utf-8", "replace"))
        else:
            raise _wrap(f"failed to join element {i}", type_error("string", item))
    return delimiter.join(parts)


@method("sum", category=CATEGORY)
def sum_(target: Any) -> int | float:
    """The sum of the numbers of an array."""
    if is_number(target):
        return target
    total = 0.0
    for i, item in enumerate(_array(target)):
        if not is_number(item):
            raise _wrap(f"index {i}", type_error("number", item))
        total += item
    return norm_float(total)


# -- ordering and uniqueness --------------------------------------------------------------


def _sort_keys(keys: list[Any], label: str) -> list[Any]:
    """Validate sort keys (all numbers or all strings) and return them in comparable form."""
    if not keys:
        return keys
    if is_number(keys[0]):
        for i, key in enumerate(keys):
            if not is_number(key):
                raise _wrap(f"{label} {i}", type_error("number", key))
        return keys
    if isinstance(keys[0], (str, bytes, bytearray)):
        out = []
        for i, key in enumerate(keys):
            text = _comparable_text(key)
            if text is None:
                raise _wrap(f"{label} {i}", type_error("string", key))
            out.append(text)
        return out
    raise _wrap(f"{label} 0", type_error("number or string", keys[0]))


@method("sort", [Param("compare", "query", None)], category=CATEGORY)
def sort(target: Any, compare: Query | None = None) -> list[Any]:
    """Sort numbers or strings ascending, or by a `{left, right}` less-than query."""
    items = _array(target)
    if compare is None:
        keys = _sort_keys(items, "sort element")
        order = sorted(range(len(items)), key=keys.__getitem__)
        return [items[i] for i in order]

    def less(left: Any, right: Any) -> bool:
        result = compare({"left": left, "right": right})
        if not isinstance(result, bool):
            raise MappingError(f"expected bool value, got {type_name(result)} from sort argument")
        return result

    def cmp(left: Any, right: Any) -> int:
        if less(left, right):
            return -1
        if less(right, left):
            return 1
        return 0

    return sorted(items, key=functools.cmp_to_key(cmp))


@method("sort_by", [Param("query", "query")], category=CATEGORY)
def sort_by(target: Any, query: Query) -> list[Any]:
    """Sort an array by the number or string a query yields for each element."""
    items = _array(target)
    keys = _sort_keys([query(item) for item in items], "sort_by element")
    order = sorted(range(len(items)), key=keys.__getitem__)
    return [items[i] for i in order]


@method("unique", [Param("emit", "query", None)], category=CATEGORY)
def unique(target: Any, emit: Query | None = None) -> list[Any]:
    """Remove duplicate strings and numbers (`"5"` and `5` differ), keeping the first."""
    seen_text: set[str] = set()
    seen_num: set[float] = set()
    result: list[Any] = []
    for i, item in enumerate(_array(target)):
        check = _run(emit, item, f"index {i}") if emit is not None else item
        if is_number(check):
            num = float(check)
            if num in seen_num:
                continue
            seen_num.add(num)
        else:
            text = _comparable_text(check)
            if text is None:
                raise _wrap(f"index {i}", type_error("string or number", check))
            if text in seen_text:
                continue
            seen_text.add(text)
        result.append(item)
    return result


# -- diff and patch -----------------------------------------------------------------------
# Change records follow Benthos (r3labs/diff changelogs decoded into objects): each is
# {"Type": "create"|"update"|"delete", "Path": [keys and indexes as strings], "From", "To"}.


def _change(kind: str, path: list[str], old: Any, new: Any) -> dict[str, Any]:
    return {"Type": kind, "Path": path, "From": old, "To": new}


def _diff(left: Any, right: Any, path: list[str], out: list[dict[str, Any]]) -> None:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(left.keys() | right.keys()):
            if key not in right:
                out.append(_change("delete", [*path, key], left[key], None))
            elif key not in left:
                out.append(_change("create", [*path, key], None, right[key]))
            else:
                _diff(left[key], right[key], [*path, key], out)
        return
    if isinstance(left, list) and isinstance(right, list):
        for i in range(max(len(left), len(right))):
            if i >= len(right):
                out.append(_change("delete", [*path, str(i)], left[i], None))
            elif i >= len(left):
                out.append(_change("create", [*path, str(i)], None, right[i]))
            else:
                _diff(left[i], right[i], [*path, str(i)], out)
        return
    same_kind = type(left) is type(right) or (is_number(left) and is_number(right))
    if not same_kind or not values_equal(left, right):
        out.append(_change("update", path, left, right))


@method("diff", [Param("other")], category=CATEGORY)
def diff(target: Any, other: Any) -> list[dict[str, Any]] | None:
    """The changes (`Type`, `Path`, `From`, `To`) that turn the target into `other`;
    null for a null target, as Benthos."""
    if target is None:
        return None
    out: list[dict[str, Any]] = []
    _diff(target, other, [], out)
    return out


def _patch_set(root: Any, path: tuple[str, ...], value: Any) -> Any:
    """A copy of `root` with `value` at `path`; an index one past an array's end appends."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(root, list) and head.lstrip("-").isdigit():
        index = int(head)
        items = list(root)
        if 0 <= index < len(items):
            items[index] = _patch_set(items[index], rest, value)
            return items
        if index == len(items):
            items.append(_patch_set(None, rest, value))
            return items
        raise MappingError(f"index {index} is out of bounds of an array of {len(items)}")
    obj = dict(root) if isinstance(root, dict) else {}
    obj[head] = _patch_set(obj.get(head), rest, value)
    return obj


def _delete_path(root: Any, path: tuple[str, ...]) -> Any:
    if not path:
        return None
    head, rest = path[0], path[1:]
    if isinstance(root, dict):
        if head not in root:
            return root
        obj = dict(root)
        if rest:
            obj[head] = _delete_path(obj[head], rest)
        else:
            del obj[head]
        return obj
    if isinstance(root, list):
        try:
            i = int(head)
        except ValueError:
            return root
        if not 0 <= i < len(root):
            return root
        items = list(root)
        if rest:
            items[i] = _delete_path(items[i], rest)
        else:
            del items[i]
        return items
    return root


def _path_order(path: tuple[str, ...]) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(s), "") if s.isdigit() else (1, 0, s) for s in path)


def _field(change: dict[str, Any], name: str) -> Any:
    """A change record's field, matched without regard to case (`Type` or `type`)."""
    if name in change:
        return change[name]
    lower = name.lower()
    for key, value in change.items():
        if isinstance(key, str) and key.lower() == lower:
            return value
    return None


@method("patch", [Param("changelog")], category=CATEGORY)
def patch(target: Any, changelog: Any) -> Any:
    """Apply a changelog (Benthos' `diff` records) to the target; null stays null."""
    if target is None:
        return None
    result = target
    deletes: list[tuple[str, ...]] = []
    for i, change in enumerate(_array(changelog)):
        if not isinstance(change, dict):
            raise _wrap(f"change {i}", type_error("object", change))
        kind = _field(change, "Type")
        raw_path = _field(change, "Path") or []
        if not isinstance(raw_path, list):
            raise _wrap(f"change {i}", type_error("array", raw_path))
        path = tuple(str(p) for p in raw_path)
        if kind in ("create", "update"):
            try:
                result = _patch_set(result, path, copy.deepcopy(_field(change, "To")))
            except MappingError as exc:
                raise _wrap(f"change {i}", exc) from None
        elif kind == "delete":
            deletes.append(path)
        else:
            raise MappingError(f"change {i}: unknown change type {kind!r}")
    # Later array elements first, so earlier indexes stay valid while deleting.
    for path in sorted(deletes, key=_path_order, reverse=True):
        result = _delete_path(result, path)
    return result


# -- json_schema --------------------------------------------------------------------------


def _schema_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type_name(value)


def _schema_field(path: Any) -> str:
    return ".".join(str(p) for p in path) if path else "(root)"


def _schema_message(err: Any) -> str:
    """Describe a validation error in gojsonschema's words, as Benthos reports them."""
    kind, spec, inst = err.validator, err.validator_value, err.instance
    field = _schema_field(err.absolute_path)
    if kind == "type":
        expected = spec if isinstance(spec, str) else "/".join(spec)
        return f"{field} invalid type. expected: {expected}, given: {_schema_type(inst)}"
    if kind == "required":
        missing = next((p for p in spec if isinstance(inst, dict) and p not in inst), "")
        return f"{field} {missing} is required"
    if kind == "additionalProperties" and isinstance(inst, dict):
        props = err.schema.get("properties", {})
        extra = next((k for k in inst if k not in props), "")
        return f"{field} additional property {extra} is not allowed"
    templates = {
        "enum": "{field} must be one of the following: {spec}",
        "const": "{field} does not match: {spec}",
        "minimum": "{field} must be greater than or equal to {spec}",
        "maximum": "{field} must be less than or equal to {spec}",
        "exclusiveMinimum": "{field} must be greater than {spec}",
        "exclusiveMaximum": "{field} must be less than {spec}",
        "minLength": "{field} string length must be greater than or equal to {spec}",
        "maxLength": "{field} string length must be less than or equal to {spec}",
        "pattern": "{field} does not match pattern '{spec}'",
        "minItems": "{field} array must have at least {spec} items",
        "maxItems": "{field} array must have at most {spec} items",
        "uniqueItems": "{field} array items must be unique",
    }
    if kind in templates:
        shown = json_text(spec) if kind in ("enum", "const") else spec
        return templates[kind].format(field=field, spec=shown)
    return f"{field} {str(err.message).lower()}"


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@functools.lru_cache(maxsize=64)
def _schema_validator(schema: str) -> Any:
    import jsonschema

    try:
        document = json.loads(schema)
        cls = jsonschema.validators.validator_for(document, default=jsonschema.Draft7Validator)
        cls.check_schema(document)
    except (ValueError, jsonschema.SchemaError) as exc:
        raise MappingError(f"failed to parse json schema definition: {exc}") from None
    return cls(document)


@method("json_schema", [Param("schema", "string")], category=CATEGORY)
def json_schema(target: Any, schema: str) -> Any:
    """The value itself when it matches a JSON schema, otherwise an error naming each problem."""
    validator = _schema_validator(schema)
    errors = sorted(validator.iter_errors(target), key=lambda e: list(e.absolute_path))
    if errors:
        raise MappingError("\n".join(_schema_message(e) for e in errors))
    return target


# -- json_path ----------------------------------------------------------------------------
# A JSONPath subset: `$`, `.name`, `['name']`, `*`, `..`, `[n]`, `[a,b]`, `[start:end:step]`
# and filters `[?(@.path)]` / `[?(@.path <op> literal)]` joined by `&&` / `||`.

_Step = Callable[[list[Any]], list[Any]]


class _JsonPath:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.definite = True

    def fail(self, why: str) -> MappingError:
        return MappingError(f"failed to parse JSON path expression {self.text!r}: {why}")

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.i)

    def take(self, s: str) -> None:
        if not self.peek(s):
            raise self.fail(f"expected {s!r} at position {self.i}")
        self.i += len(s)

    def skip_ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i] == " ":
            self.i += 1

    def name(self) -> str:
        start = self.i
        while self.i < len(self.text) and (
            self.text[self.i].isalnum() or self.text[self.i] in "_-"
        ):
            self.i += 1
        if start == self.i:
            raise self.fail(f"expected a field name at position {self.i}")
        return self.text[start : self.i]

    def quoted(self) -> str:
        quote = self.text[self.i]
        end = self.text.find(quote, self.i + 1)
        if end < 0:
            raise self.fail("unterminated string")
        value = self.text[self.i + 1 : end]
        self.i = end + 1
        return value

    def number(self) -> int | float:
        start = self.i
        while self.i < len(self.text) and (
            self.text[self.i].isdigit() or self.text[self.i] in "-.e+"
        ):
            self.i += 1
        try:
            return norm_float(float(self.text[start : self.i]))
        except ValueError:
            raise self.fail(f"expected a number at position {start}") from None

    def steps(self, stop: str = "") -> list[_Step]:
        steps: list[_Step] = []
        while self.i < len(self.text) and not (stop and self.text[self.i] in stop):
            if self.peek(".."):
                self.i += 2
                self.definite = False
                steps.append(_descend)
                if not self.peek("["):
                    steps.append(_children if self.peek("*") else _child(self.name()))
                    self.i += 1 if self.peek("*") else 0
            elif self.peek("."):
                self.i += 1
                if self.peek("*"):
                    self.i += 1
                    self.definite = False
                    steps.append(_children)
                else:
                    steps.append(_child(self.name()))
            elif self.peek("["):
                steps.append(self.bracket())
            else:
                break
        return steps

    def bracket(self) -> _Step:
        self.take("[")
        self.skip_ws()
        if self.peek("*"):
            self.i += 1
            self.definite = False
            step: _Step = _children
        elif self.peek("?("):
            self.i += 2
            self.definite = False
            step = _filter(self.condition())
            self.skip_ws()
            self.take(")")
        elif self.peek("'") or self.peek('"'):
            keys = [self.quoted()]
            while True:
                self.skip_ws()
                if not self.peek(","):
                    break
                self.i += 1
                self.skip_ws()
                keys.append(self.quoted())
            if len(keys) > 1:
                self.definite = False
            step = _keys(keys)
        else:
            step = self.indexes()
        self.skip_ws()
        self.take("]")
        return step

    def indexes(self) -> _Step:
        end = self.text.find("]", self.i)
        if end < 0:
            raise self.fail("unterminated '['")
        spec = self.text[self.i : end].replace(" ", "")
        self.i = end
        try:
            if ":" in spec:
                self.definite = False
                fields = [int(f) if f else None for f in spec.split(":")]
                if len(fields) > 3:
                    raise ValueError
                return _slice(*(fields + [None] * (3 - len(fields))))
            if "," in spec:
                self.definite = False
            return _indexes([int(f) for f in spec.split(",")])
        except ValueError:
            raise self.fail(f"bad index {spec!r}") from None

    def condition(self) -> Callable[[Any], bool]:
        terms = [self.comparison()]
        joins: list[str] = []
        while True:
            self.skip_ws()
            if self.peek("&&") or self.peek("||"):
                joins.append(self.text[self.i : self.i + 2])
                self.i += 2
                terms.append(self.comparison())
            else:
                break

        def check(node: Any) -> bool:
            result = terms[0](node)
            for op, term in zip(joins, terms[1:]):
                result = (result and term(node)) if op == "&&" else (result or term(node))
            return result

        return check

    def operand(self) -> Callable[[Any], tuple[bool, Any]]:
        self.skip_ws()
        if self.peek("$"):
            raise self.fail("filters may only refer to the current element '@'")
        if self.peek("@"):
            self.i += 1
            steps = self.steps(stop=" )=!<>&|")
            return lambda node: _first(_walk([node], steps))
        if self.peek("'") or self.peek('"'):
            return _constant(self.quoted())
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.peek(word):
                self.i += len(word)
                return _constant(value)
        return _constant(self.number())

    def comparison(self) -> Callable[[Any], bool]:
        left = self.operand()
        self.skip_ws()
        for op in ("==", "!=", "<=", ">=", "<", ">"):
            if self.peek(op):
                self.i += len(op)
                right = self.operand()
                return lambda node: _compare(op, left(node), right(node))
        return lambda node: left(node)[0]


def _constant(value: Any) -> Callable[[Any], tuple[bool, Any]]:
    return lambda node: (True, value)


def _first(nodes: list[Any]) -> tuple[bool, Any]:
    return (True, nodes[0]) if nodes else (False, None)


def _compare(op: str, left: tuple[bool, Any], right: tuple[bool, Any]) -> bool:
    if not (left[0] and right[0]):
        return False
    a, b = left[1], right[1]
    if op == "==":
        return values_equal(a, b)
    if op == "!=":
        return not values_equal(a, b)
    if not ((is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    return bool(_ORDERINGS[op](a, b))


_ORDERINGS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def _children(nodes: list[Any]) -> list[Any]:
    out: list[Any] = []
    for node in nodes:
        if isinstance(node, dict):
            out.extend(node.values())
        elif isinstance(node, list):
            out.extend(node)
    return out


def _descend(nodes: list[Any]) -> list[Any]:
    out: list[Any] = []

    def visit(node: Any) -> None:
        out.append(node)
        for child in _children([node]):
            visit(child)

    for node in nodes:
        visit(node)
    return out


def _child(name: str) -> _Step:
    return lambda nodes: [n[name] for n in nodes if isinstance(n, dict) and name in n]


def _keys(keys: list[str]) -> _Step:
    return lambda nodes: [n[k] for n in nodes if isinstance(n, dict) for k in keys if k in n]


def _indexes(indexes: list[int]) -> _Step:
    def step(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if isinstance(node, list):
                out.extend(node[i] for i in indexes if -len(node) <= i < len(node))
        return out

    return step


def _slice(start: int | None, end: int | None, stride: int | None) -> _Step:
    return lambda nodes: [
        item for n in nodes if isinstance(n, list) for item in n[start : end : stride or 1]
    ]


def _filter(check: Callable[[Any], bool]) -> _Step:
    return lambda nodes: [child for child in _children(nodes) if check(child)]


def _walk(nodes: list[Any], steps: list[_Step]) -> list[Any]:
    for step in steps:
        nodes = step(nodes)
    return nodes


@functools.lru_cache(maxsize=256)
def _compile_json_path(expression: str) -> tuple[list[_Step], bool]:
    parser = _JsonPath(expression.strip())
    parser.take("$")
    steps = parser.steps()
    if parser.i != len(parser.text):
        raise parser.fail(f"unexpected {parser.text[parser.i :]!r}")
    return steps, parser.definite


@method("json_path", [Param("expression", "string")], category=CATEGORY)
def json_path(target: Any, expression: str) -> Any:
    """Evaluate a JSONPath expression: one value for a definite path, else an array."""
    steps, definite = _compile_json_path(expression)
    found = _walk([target], steps)
    if not definite:
        return found
    if not found:
        raise MappingError(f"unknown key or index in JSON path {expression!r}")
    return found[0]
