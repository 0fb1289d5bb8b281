"""Bloblang string manipulation methods (Benthos category "String Manipulation").

Strings follow Go semantics where Benthos exposes them: `length`, `slice` and `index_of`
count UTF-8 bytes (the `_runes` variants count code points). Methods that accept a string
also accept bytes and then usually return bytes, as Benthos does.
"""

from __future__ import annotations

import html
import re
import unicodedata
import urllib.parse
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

from streamforge.bloblang.errors import MappingError, type_error
from streamforge.bloblang.lib._gofmt import go_quote, go_sprintf, go_unquote
from streamforge.bloblang.registry import Param, method

__all__ = ["as_str", "as_bytes", "values_equal"]

CATEGORY = "string_manipulation"
_NO_ARG: Any = None


def as_str(value: Any) -> str:
    """The text of a string or bytes value; anything else is a type error."""
    if type(value) is str:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    raise type_error("string", value)


def as_bytes(value: Any) -> bytes:
    """The bytes of a string or bytes value; anything else is a type error."""
    if type(value) is str:
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise type_error("string", value)


def _arg_str(value: Any) -> str:
    """A string argument (bytes are accepted and decoded)."""
    if type(value) is str:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    raise type_error("string", value)


def values_equal(a: Any, b: Any) -> bool:
    """Bloblang equality: numbers compare by value, bools never equal numbers."""
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is list:
            return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
        if ta is dict:
            return a.keys() == b.keys() and all(values_equal(v, b[k]) for k, v in a.items())
        return bool(a == b)
    if ta is bool or tb is bool:
        return False
    if ta in (int, float) and tb in (int, float):
        return bool(a == b)
    if isinstance(a, (bytes, bytearray)) and isinstance(b, (bytes, bytearray)):
        return bytes(a) == bytes(b)
    return False


def _to_text(value: Any) -> str:
    """Benthos' IToString for `contains` arguments: strings raw, others as JSON-ish text."""
    if type(value) is str:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    import json

    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


# ---------------------------------------------------------------------------------------
# Case and simple transforms


@method("uppercase", category=CATEGORY)
def uppercase(target: Any) -> Any:
    """Convert a string value into uppercase."""
    if type(target) is str:
        return target.upper()
    if isinstance(target, (bytes, bytearray)):
        return (
            bytes(target)
            .decode("utf-8", "surrogateescape")
            .upper()
            .encode("utf-8", "surrogateescape")
        )
    raise type_error("string", target)


@method("lowercase", category=CATEGORY)
def lowercase(target: Any) -> Any:
    """Convert a string value into lowercase."""
    if type(target) is str:
        return target.lower()
    if isinstance(target, (bytes, bytearray)):
        return (
            bytes(target)
            .decode("utf-8", "surrogateescape")
            .lower()
            .encode("utf-8", "surrogateescape")
        )
    raise type_error("string", target)


_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def _title_word(m: re.Match[str]) -> str:
    w = m.group(0)
    return w[0].upper() + w[1:].lower()


@method("capitalize", category=CATEGORY)
def capitalize(target: Any) -> Any:
    """Map the first letter of every word to title case and the rest to lower case."""
    if type(target) is str:
        return _WORD.sub(_title_word, target)
    if isinstance(target, (bytes, bytearray)):
        return _WORD.sub(_title_word, as_str(target)).encode("utf-8")
    raise type_error("string", target)


@method("trim", [Param("cutset", "string", _NO_ARG)], category=CATEGORY)
def trim(target: Any, cutset: Any = None) -> Any:
    """Remove leading/trailing characters in `cutset`, or whitespace when omitted."""
    if type(target) is str:
        return target.strip() if cutset is None else target.strip(cutset)
    if isinstance(target, (bytes, bytearray)):
        if cutset is None:
            return bytes(target).strip()
        return bytes(target).strip(as_bytes(cutset))
    raise type_error("string", target)


@method("trim_prefix", [Param("prefix", "string")], category=CATEGORY)
def trim_prefix(target: Any, prefix: Any) -> Any:
    """Remove a leading prefix if present."""
    if type(target) is str:
        return target.removeprefix(_arg_str(prefix))
    if isinstance(target, (bytes, bytearray)):
        return bytes(target).removeprefix(as_bytes(prefix))
    raise type_error("string", target)


@method("trim_suffix", [Param("suffix", "string")], category=CATEGORY)
def trim_suffix(target: Any, suffix: Any) -> Any:
    """Remove a trailing suffix if present."""
    if type(target) is str:
        return target.removesuffix(_arg_str(suffix))
    if isinstance(target, (bytes, bytearray)):
        return bytes(target).removesuffix(as_bytes(suffix))
    raise type_error("string", target)


@method("has_prefix", [Param("value", "string")], category=CATEGORY)
def has_prefix(target: Any, value: Any) -> bool:
    """Whether a string starts with the argument."""
    if type(target) is str:
        return target.startswith(value if type(value) is str else _arg_str(value))
    if isinstance(target, (bytes, bytearray)):
        return bytes(target).startswith(as_bytes(value))
    raise type_error("string", target)


@method("has_suffix", [Param("value", "string")], category=CATEGORY)
def has_suffix(target: Any, value: Any) -> bool:
    """Whether a string ends with the argument."""
    if type(target) is str:
        return target.endswith(value if type(value) is str else _arg_str(value))
    if isinstance(target, (bytes, bytearray)):
        return bytes(target).endswith(as_bytes(value))
    raise type_error("string", target)


def _replace_all(target: Any, old: Any, new: Any) -> Any:
    if type(target) is str:
        if type(old) is not str or type(new) is not str:
            old, new = _arg_str(old), _arg_str(new)
        return target.replace(old, new)
    if isinstance(target, (bytes, bytearray)):
        return bytes(target).replace(as_bytes(old), as_bytes(new))
    raise type_error("string", target)


_REPLACE_PARAMS = [Param("old", "string"), Param("new", "string")]
method(
    "replace_all",
    _REPLACE_PARAMS,
    category=CATEGORY,
    description="Replace every occurrence of `old` with `new`.",
)(_replace_all)
method(
    "replace", _REPLACE_PARAMS, category=CATEGORY, description="Deprecated alias of replace_all."
)(_replace_all)


def _replace_pairs(values: Any) -> list[tuple[Any, Any]]:
    if not isinstance(values, list):
        raise type_error("array", values)
    if len(values) % 2:
        raise MappingError(
            f"invalid arg, replacements should be in pairs and must therefore be even: {values}"
        )
    pairs = []
    for i in range(0, len(values), 2):
        for j in (i, i + 1):
            if not isinstance(values[j], (str, bytes, bytearray)):
                raise MappingError(
                    f"invalid replacement value at index {j}: "
                    f"{type_error('string', values[j]).reason}"
                )
        pairs.append((values[i], values[i + 1]))
    return pairs


def _replace_all_many(target: Any, values: Any) -> Any:
    pairs = _replace_pairs(values)
    if type(target) is str:
        for old, new in pairs:
            target = target.replace(_arg_str(old), _arg_str(new))
        return target
    if isinstance(target, (bytes, bytearray)):
        out = bytes(target)
        for old, new in pairs:
            out = out.replace(as_bytes(old), as_bytes(new))
        return out
    raise type_error("string", target)


_MANY_PARAMS = [Param("values", "array")]
method(
    "replace_all_many",
    _MANY_PARAMS,
    category=CATEGORY,
    description="Replace each even element of `values` with the following one.",
)(_replace_all_many)
method(
    "replace_many",
    _MANY_PARAMS,
    category=CATEGORY,
    description="Deprecated alias of replace_all_many.",
)(_replace_all_many)


@method("repeat", [Param("count", "int")], category=CATEGORY)
def repeat(target: Any, count: Any) -> Any:
    """Repeat a string `count` times."""
    if isinstance(count, bool) or not isinstance(count, (int, float)) or count != int(count):
        raise type_error("integer", count)
    if count < 0:
        raise MappingError(f"invalid repeat count: {int(count)}")
    if type(target) is str:
        return target * int(count)
    if isinstance(target, (bytes, bytearray)):
        return bytes(target) * int(count)
    raise type_error("string", target)


# ---------------------------------------------------------------------------------------
# Length, search, slicing


@method("length", category=CATEGORY)
def length(target: Any) -> int:
    """Length of a string (in UTF-8 bytes), bytes, array or object (number of keys)."""
    t = type(target)
    if t is str:
        return len(target) if target.isascii() else len(target.encode("utf-8"))
    if t is list or t is dict or t is bytes or t is bytearray:
        return len(target)
    raise MappingError(f"expected string, array or object value, got {_describe(target)}")


@method("length_runes", category=CATEGORY)
def length_runes(target: Any) -> int:
    """Number of code points in a string."""
    return len(as_str(target))


def _describe(value: Any) -> str:
    from streamforge.bloblang.errors import describe

    return describe(value)


@method("contains", [Param("value", "any")], category=CATEGORY)
def contains(target: Any, value: Any) -> bool:
    """Whether a string contains a substring, or an array/object contains a value."""
    t = type(target)
    if t is str:
        return (value if type(value) is str else _to_text(value)) in target
    if t is list:
        if type(value) is str:
            return value in target
        return any(values_equal(v, value) for v in target)
    if t is dict:
        return any(values_equal(v, value) for v in target.values())
    if t is bytes or t is bytearray:
        needle = value if isinstance(value, (bytes, bytearray)) else _to_text(value).encode()
        return bytes(needle) in target
    raise MappingError(f"expected string, array or object value, got {_describe(target)}")


@method("index_of", [Param("value", "any")], category=CATEGORY)
def index_of(target: Any, value: Any) -> int:
    """Byte index of a substring in a string (or index of a value in an array), else -1."""
    t = type(target)
    if t is str:
        needle = _arg_str(value)
        i = target.find(needle)
        if i <= 0 or target.isascii():
            return i
        return len(target[:i].encode("utf-8"))
    if t is bytes or t is bytearray:
        return bytes(target).find(as_bytes(value))
    if t is list:
        for i, v in enumerate(target):
            if values_equal(v, value):
                return i
        return -1
    raise type_error("string", target)


def _int_arg(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise MappingError(f"field {name}: {type_error('integer', value).reason}")
    return int(value)


def _bounds(low: Any, high: Any, size: int) -> tuple[int, int]:
    start = _int_arg(low, "low")
    end = size if high is None else _int_arg(high, "high")
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    elif end > size:
        end = size
    if start >= size:
        return size, size
    if start > end:
        raise MappingError(
            f"lower slice bound {start} must be lower than or equal to upper bound ({end})"
        )
    return start, end


@method("slice", [Param("low", "int"), Param("high", "int", _NO_ARG)], category=CATEGORY)
def slice_(target: Any, low: Any, high: Any = None) -> Any:
    """Half-open slice of a string (by UTF-8 bytes), bytes or array; negatives from the end."""
    t = type(target)
    if t is str:
        if target.isascii():
            s, e = _bounds(low, high, len(target))
            return target[s:e]
        raw = target.encode("utf-8")
        s, e = _bounds(low, high, len(raw))
        return raw[s:e].decode("utf-8", "replace")
    if t is list or t is bytes or t is bytearray:
        s, e = _bounds(low, high, len(target))
        return target[s:e]
    raise MappingError(f"expected string, array or bytes value, got {_describe(target)}")


@method("slice_runes", [Param("low", "int"), Param("high", "int", _NO_ARG)], category=CATEGORY)
def slice_runes(target: Any, low: Any, high: Any = None) -> str:
    """Half-open slice of a string counted in code points."""
    text = as_str(target)
    s, e = _bounds(low, high, len(text))
    return text[s:e]


@method("reverse", category=CATEGORY)
def reverse(target: Any) -> Any:
    """Reverse a string (by code point), bytes or an array."""
    t = type(target)
    if t is str or t is list or t is bytes:
        return target[::-1]
    if t is bytearray:
        return bytes(target[::-1])
    raise type_error("string", target)


@method(
    "mask",
    [Param("count", "int", 0), Param("direction", "string", "all"), Param("char", "string", "*")],
    category=CATEGORY,
)
def mask(target: Any, count: Any = 0, direction: Any = "all", char: Any = "*") -> str:
    """Mask a string with `char`, leaving `count` characters visible on the `left` or `right`;
    with `all`, `count` mask characters (the whole length when 0) and nothing visible."""
    text = as_str(target)
    if not isinstance(direction, str) or direction.lower() not in ("left", "right", "all"):
        raise MappingError("direction must be one of left, right or all")
    direction = direction.lower()
    size = len(text)
    keep = count if count else size
    shown = min(keep, size)
    if direction == "left":
        return text[:shown] + char * (size - shown)
    if direction == "right":
        return char * (size - shown) + text[size - shown :]
    return str(char * keep)


@method(
    "split",
    [Param("delimiter", "string"), Param("empty_as_null", "bool", False)],
    category=CATEGORY,
)
def split(target: Any, delimiter: Any, empty_as_null: Any = False) -> list[Any]:
    """Split a string on a delimiter; an empty delimiter splits into characters. With
    `empty_as_null` the empty pieces become null."""
    parts: list[Any]
    if type(target) is str:
        delim = _arg_str(delimiter)
        parts = target.split(delim) if delim else list(target)
    elif isinstance(target, (bytes, bytearray)):
        raw, d = bytes(target), as_bytes(delimiter)
        if d:
            parts = list(raw.split(d))
        else:
            parts = [
                c.encode("utf-8", "surrogateescape") for c in raw.decode("utf-8", "surrogateescape")
            ]
    else:
        raise type_error("string", target)
    if empty_as_null:
        return [part if part else None for part in parts]
    return parts


# ---------------------------------------------------------------------------------------
# Escaping and quoting

_HTML_ESCAPES = str.maketrans({"&": "&amp;", "'": "&#39;", "<": "&lt;", ">": "&gt;", '"': "&#34;"})


def _escape_html_text(s: str) -> str:
    return s.translate(_HTML_ESCAPES)


def _string_method(fn: Callable[[str], Any]) -> Callable[[Any], Any]:
    def impl(target: Any) -> Any:
        if type(target) is str:
            return fn(target)
        return fn(as_str(target))

    impl.__doc__ = fn.__doc__
    return impl


method("escape_html", category=CATEGORY, description="Escape <, >, &, ' and \" for HTML.")(
    _string_method(_escape_html_text)
)
method("unescape_html", category=CATEGORY, description="Unescape HTML entities.")(
    _string_method(html.unescape)
)


def _query_escape(s: str) -> str:
    return urllib.parse.quote_plus(s, safe="")


_BAD_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")


def _check_escapes(s: str) -> None:
    m = _BAD_ESCAPE.search(s)
    if m:
        bad = s[m.start() : m.start() + 3]
        raise MappingError(f'invalid URL escape "{bad}"')


def _query_unescape(s: str) -> str:
    _check_escapes(s)
    return urllib.parse.unquote_plus(s, errors="replace")


def _path_escape(s: str) -> str:
    return urllib.parse.quote(s, safe="$&+:=@")


def _path_unescape(s: str) -> str:
    _check_escapes(s)
    return urllib.parse.unquote(s, errors="replace")


method("escape_url_query", category=CATEGORY, description="Escape a string for a URL query.")(
    _string_method(_query_escape)
)
method("unescape_url_query", category=CATEGORY, description="Expand URL query escapes.")(
    _string_method(_query_unescape)
)
method("escape_url_path", category=CATEGORY, description="Escape a string for a URL path segment.")(
    _string_method(_path_escape)
)
method("unescape_url_path", category=CATEGORY, description="Expand URL path escapes.")(
    _string_method(_path_unescape)
)


@method("quote", category=CATEGORY)
def quote(target: Any) -> str:
    """Quote a string with Go escape sequences."""
    if isinstance(target, (bytes, bytearray)):
        return go_quote(bytes(target).decode("utf-8", "surrogateescape"))
    if type(target) is not str:
        raise type_error("string", target)
    return go_quote(target)


@method("unquote", category=CATEGORY)
def unquote(target: Any) -> str:
    """Unquote a Go-quoted string, expanding its escape sequences."""
    try:
        return go_unquote(as_str(target))
    except ValueError as e:
        raise MappingError(str(e)) from None


@method("format", category=CATEGORY, variadic=True)
def format_(target: Any, *args: Any) -> str:
    """Use the string as a Go printf format with the arguments."""
    return go_sprintf(as_str(target), args)


# ---------------------------------------------------------------------------------------
# File paths


def _clean_path(path: str) -> str:
    """Go's filepath.Clean for slash-separated paths."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(seg)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


@method("filepath_join", category=CATEGORY)
def filepath_join(target: Any) -> str:
    """Join an array of path elements into one clean path."""
    if type(target) is not list:
        raise type_error("array", target)
    elems = []
    for i, e in enumerate(target):
        if not isinstance(e, (str, bytes, bytearray)):
            raise MappingError(f"path element {i}: {type_error('string', e).reason}")
        elems.append(as_str(e))
    joined = "/".join(e for e in elems if e)
    return _clean_path(joined) if joined else ""


@method("filepath_split", category=CATEGORY)
def filepath_split(target: Any) -> list[str]:
    """Split a path after its final separator into [dir, file]."""
    s = as_str(target)
    i = s.rfind("/") + 1
    return [s[:i], s[i:]]


# ---------------------------------------------------------------------------------------
# HTML stripping and slugs

_SKIP_CONTENT = frozenset(
    {
        "script",
        "style",
        "title",
        "iframe",
        "frame",
        "frameset",
        "noembed",
        "noframes",
        "noscript",
        "nostyle",
        "object",
    }
)


class _Stripper(HTMLParser):
    def __init__(self, preserve: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.preserve = preserve
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_CONTENT and tag not in self.preserve:
            self.skip += 1
        elif tag in self.preserve and not self.skip:
            self.out.append(f"<{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.preserve and not self.skip:
            self.out.append(f"<{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_CONTENT and tag not in self.preserve:
            self.skip = max(self.skip - 1, 0)
        elif tag in self.preserve and not self.skip:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(_escape_html_text(data))


@method("strip_html", [Param("preserve", "array", _NO_ARG)], category=CATEGORY)
def strip_html(target: Any, preserve: Any = None) -> Any:
    """Remove HTML tags from a string, keeping the elements named in `preserve`."""
    keep: frozenset[str] = frozenset()
    if preserve is not None:
        if type(preserve) is not list:
            raise type_error("array", preserve)
        for i, p in enumerate(preserve):
            if type(p) is not str:
                raise MappingError(f"invalid arg at index {i}: {type_error('string', p).reason}")
        keep = frozenset(p.lower() for p in preserve)
    parser = _Stripper(keep)
    parser.feed(as_str(target))
    parser.close()
    result = "".join(parser.out)
    return result.encode("utf-8") if isinstance(target, (bytes, bytearray)) else result


_SLUG_LANG: dict[str, dict[str, str]] = {
    "en": {"&": "and", "@": "at"},
    "de": {
        "&": "und",
        "@": "an",
        "ä": "ae",
        "Ä": "Ae",
        "ö": "oe",
        "Ö": "Oe",
        "ü": "ue",
        "Ü": "Ue",
        "ß": "ss",
    },
    "es": {"&": "y", "@": "en"},
    "fi": {"&": "ja", "@": "at"},
    "fr": {"&": "et", "@": "arobase"},
    "it": {"&": "e", "@": "chiocciola"},
    "nl": {"&": "en", "@": "at"},
    "nb": {"&": "og", "@": "at", "æ": "ae", "ø": "oe", "å": "aa", "Æ": "Ae", "Ø": "Oe", "Å": "Aa"},
    "nn": {"&": "og", "@": "at", "æ": "ae", "ø": "oe", "å": "aa", "Æ": "Ae", "Ø": "Oe", "Å": "Aa"},
    "pl": {"&": "i", "@": "na", "ł": "l", "Ł": "L"},
    "pt": {"&": "e", "@": "em"},
    "sv": {"&": "och", "@": "snabel a"},
    "tr": {"&": "ve", "@": "at", "ı": "i", "İ": "I"},
}
_SLUG_DEFAULT = {'"': "", "'": "", "’": "", "‒": "-", "–": "-", "—": "-", "―": "-"}
_SLUG_TRANSLIT = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "ø": "o",
        "Ø": "O",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "œ": "oe",
        "Œ": "OE",
        "þ": "th",
        "Þ": "TH",
        "ð": "d",
        "Ð": "D",
        "ı": "i",
    }
)
_SLUG_BAD = re.compile(r"[^a-z0-9\-_]+")
_SLUG_DASHES = re.compile(r"-{2,}")


@method("slug", [Param("lang", "string", "en")], category=CATEGORY)
def slug(target: Any, lang: Any = "en") -> str:
    """A URL-friendly slug: language substitutions, ASCII transliteration, lower case."""
    text = as_str(target)
    subs = dict(_SLUG_DEFAULT)
    subs.update(_SLUG_LANG.get(_arg_str(lang), _SLUG_LANG["en"]))
    for k, v in subs.items():
        if k in text:
            text = text.replace(k, v)
    text = unicodedata.normalize("NFKD", text.translate(_SLUG_TRANSLIT))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    text = _SLUG_DASHES.sub("-", _SLUG_BAD.sub("-", text))
    return text.strip("-_")


_GRAPHEME_EXTEND = re.compile(
    r"\r\n|(?:[\U0001F1E6-\U0001F1FF]{2})|.(?:[\u0300-\u036f\u1ab0-\u1aff"
    r"\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f\U000e0100-"
    r"\U000e01ef\U0001F3FB-\U0001F3FF]|\u200d.)*",
    re.S,
)
_WORD_SEG = re.compile(r"\w+(?:['’.]\w+)*|\s+|.", re.S)
_SENTENCE_SEG = re.compile(r".*?(?:[.!?]+[\"')\]]*\s+|$)", re.S)


@method("unicode_segments", [Param("segmentation_type", "string")], category=CATEGORY)
def unicode_segments(target: Any, segmentation_type: Any) -> list[str]:
    """Split text into grapheme, word or sentence segments (an approximation of UAX #29)."""
    text = as_str(target)
    kind = _arg_str(segmentation_type)
    if kind == "grapheme":
        return _GRAPHEME_EXTEND.findall(text)
    if kind == "word":
        return _WORD_SEG.findall(text)
    if kind == "sentence":
        return [s for s in _SENTENCE_SEG.findall(text) if s]
    raise MappingError(f"unrecognised segmentation type: {kind}")
