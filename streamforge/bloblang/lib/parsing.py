"""Bloblang parsing and formatting methods (Benthos category "Parsing").

JSON, YAML, CSV, XML, MessagePack, URL-encoded forms and URLs, plus `bloblang` for
dynamic mappings. Formatting methods return bytes, as in Benthos.
"""

from __future__ import annotations

import base64
import json
import math
import re
import urllib.parse
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import msgpack
import yaml

from streamforge.bloblang.errors import MappingError, type_error
from streamforge.bloblang.lib._gofmt import go_float_json
from streamforge.bloblang.lib.strings import as_str
from streamforge.bloblang.registry import Param, method
from streamforge.timefmt.gotime import format_rfc3339_nano

__all__ = ["go_json_dumps", "go_json_error"]

CATEGORY = "parsing"


# ---------------------------------------------------------------------------------------
# JSON

_HTML_JSON = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_LINE_SEPS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029"})


def _rfc3339(ts: datetime) -> str:
    return format_rfc3339_nano(ts)


def go_json_dumps(value: Any, indent: str | None = None, escape_html: bool = True) -> str:
    """Serialise like Go's encoding/json: sorted keys, Go number text, HTML-safe strings."""
    out: list[str] = []
    esc = _HTML_JSON if escape_html else _LINE_SEPS

    def enc_str(s: str) -> str:
        return json.dumps(s, ensure_ascii=False).translate(esc)

    def enc(v: Any, depth: int) -> None:
        if v is None:
            out.append("null")
        elif v is True:
            out.append("true")
        elif v is False:
            out.append("false")
        elif isinstance(v, str):
            out.append(enc_str(v))
        elif isinstance(v, int):
            out.append(str(v))
        elif isinstance(v, float):
            if math.isnan(v) or math.isinf(v):
                raise MappingError(f"json: unsupported value: {v}")
            out.append(go_float_json(v))
        elif isinstance(v, dict):
            if not v:
                out.append("{}")
                return
            out.append("{")
            first = True
            for k in sorted(v, key=str):
                if not first:
                    out.append(",")
                first = False
                if indent is not None:
                    out.append("\n" + indent * (depth + 1))
                out.append(enc_str(str(k)))
                out.append(": " if indent is not None else ":")
                enc(v[k], depth + 1)
            if indent is not None:
                out.append("\n" + indent * depth)
            out.append("}")
        elif isinstance(v, (list, tuple)):
            if not v:
                out.append("[]")
                return
            out.append("[")
            for i, item in enumerate(v):
                if i:
                    out.append(",")
                if indent is not None:
                    out.append("\n" + indent * (depth + 1))
                enc(item, depth + 1)
            if indent is not None:
                out.append("\n" + indent * depth)
            out.append("]")
        elif isinstance(v, (bytes, bytearray)):
            out.append('"' + base64.b64encode(bytes(v)).decode("ascii") + '"')
        elif isinstance(v, datetime):
            out.append(enc_str(_rfc3339(v)))
        else:
            raise MappingError(f"json: unsupported type: {type(v).__name__}")

    enc(value, 0)
    return "".join(out)


class _BadConstant(ValueError):
    """NaN/Infinity, which Go's decoder rejects."""


def _reject_constant(name: str) -> Any:
    if name == "-Infinity":
        raise _BadConstant("invalid character 'I' in numeric literal")
    raise _BadConstant(f"invalid character '{name[0]}' looking for beginning of value")


_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
_GO_ESCAPES.update({"\t": "\\t", "\v": "\\v", "\\": "\\\\"})
_JSON_LITERALS = {"t": "true", "f": "false", "n": "null"}


def _go_char(c: str) -> str:
    """A character quoted as Go's JSON scanner quotes the byte it rejects."""
    if c == "'":
        return "'\\''"
    if ord(c) >= 0x80:
        c = chr(c.encode("utf-8")[0])
    if c in _GO_ESCAPES:
        return f"'{_GO_ESCAPES[c]}'"
    if c.isprintable():
        return f"'{c}'"
    return f"'\\x{ord(c):02x}'" if ord(c) < 0x80 else f"'\\u{ord(c):04x}'"


def _open_container(text: str, pos: int) -> str:
    """The innermost bracket still open at `pos` ('{' or '['), ignoring string contents."""
    stack: list[str] = []
    in_str = escaped = False
    for c in text[:pos]:
        if in_str:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "{[":
            stack.append(c)
        elif c in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def go_json_error(text: str, exc: json.JSONDecodeError) -> str:
    """The message Go's encoding/json decoder gives for the document Python rejected."""
    msg, pos, n = exc.msg, exc.pos, len(text)
    if msg.startswith("Illegal trailing comma"):
        pos = exc.pos + 1
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        msg = "Expecting value" if msg.endswith("array") else "Expecting property name"
    if pos >= n or msg.startswith("Unterminated string"):
        return "unexpected EOF"
    c = text[pos]
    if msg.startswith("Expecting value"):
        word = _JSON_LITERALS.get(c)
        if word is not None or c == "-":
            expect = word or "-0"
            for i in range(1, len(expect)):
                if pos + i >= n:
                    return "unexpected EOF"
                got = text[pos + i]
                if word is None:
                    if not got.isdigit():
                        return f"invalid character {_go_char(got)} in numeric literal"
                    break
                if got != word[i]:
                    return (
                        f"invalid character {_go_char(got)} in literal {word} "
                        f"(expecting '{word[i]}')"
                    )
        return f"invalid character {_go_char(c)} looking for beginning of value"
    if msg.startswith("Expecting property name"):
        return f"invalid character {_go_char(c)} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {_go_char(c)} after object key"
    if msg.startswith("Expecting ','"):
        where = "object key:value pair" if _open_container(text, pos) == "{" else "array element"
        return f"invalid character {_go_char(c)} after {where}"
    if msg.startswith("Invalid control character"):
        return f"invalid character {_go_char(c)} in string literal"
    if msg.startswith("Invalid \\uXXXX"):
        start = text.find("u", pos) + 1
        for i in range(start, start + 4):
            if i >= n:
                return "unexpected EOF"
            if text[i] not in "0123456789abcdefABCDEF":
                return f"invalid character {_go_char(text[i])} in \\u hexadecimal character escape"
    if msg.startswith("Invalid \\escape") and pos + 1 < n:
        return f"invalid character {_go_char(text[pos + 1])} in string escape code"
    return f"{msg} at offset {pos}"


@method("parse_json", [Param("use_number", "bool", None)], category=CATEGORY)
def parse_json(target: Any, use_number: Any = None) -> Any:
    """Parse a string as a JSON document (the first document; trailing text is ignored)."""
    text = target if type(target) is str else as_str(target)
    try:
        start = len(text) - len(text.lstrip(" \t\r\n"))
        value, _ = _JSON_DECODER.raw_decode(text, start)
    except json.JSONDecodeError as e:
        if not text.strip(" \t\r\n"):
            raise MappingError("failed to parse value as JSON: EOF") from None
        raise MappingError(f"failed to parse value as JSON: {go_json_error(text, e)}") from None
    except _BadConstant as e:
        raise MappingError(f"failed to parse value as JSON: {e}") from None
    return value


@method(
    "format_json",
    [
        Param("indent", "string", "    "),
        Param("no_indent", "bool", False),
        Param("escape_html", "bool", True),
    ],
    category=CATEGORY,
)
def format_json(
    target: Any, indent: Any = "    ", no_indent: Any = False, escape_html: Any = True
) -> bytes:
    """Serialise a value as JSON bytes, indented with `indent` unless `no_indent`."""
    ind = None if no_indent else as_str(indent)
    return go_json_dumps(target, ind, bool(escape_html)).encode("utf-8")


# ---------------------------------------------------------------------------------------
# YAML


class _Loader(yaml.SafeLoader):
    """YAML 1.2-style scalars: only true/false are booleans, timestamps stay strings."""


_Loader.yaml_implicit_resolvers = {
    k: [
        (tag, rx)
        for tag, rx in v
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _yaml_clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k) if not isinstance(k, str) else k: _yaml_clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_yaml_clean(x) for x in v]
    return v


@method("parse_yaml", category=CATEGORY)
def parse_yaml(target: Any) -> Any:
    """Parse a string as a single YAML document."""
    try:
        return _yaml_clean(yaml.load(as_str(target), Loader=_Loader))
    except yaml.YAMLError as e:
        raise MappingError(f"failed to parse value as YAML: {e}") from None


class _Dumper(yaml.SafeDumper):
    """Indent block sequences inside mappings, as Go's yaml.v3 does."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _yaml_ready(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _yaml_ready(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_yaml_ready(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, datetime):
        return _rfc3339(v)
    return v


@method("format_yaml", category=CATEGORY)
def format_yaml(target: Any) -> bytes:
    """Serialise a value as YAML bytes."""
    text = yaml.dump(
        _yaml_ready(target),
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=True,
        allow_unicode=True,
        indent=4,
        width=1 << 30,
    )
    if text.endswith("\n...\n"):
        text = text[:-4]
    return text.encode("utf-8")


# ---------------------------------------------------------------------------------------
# CSV (Go encoding/csv rules)


def _csv_records(text: str, delim: str, lazy: bool) -> list[list[str]]:
    records: list[list[str]] = []
    text = text.replace("\r\n", "\n")
    i, n, line = 0, len(text), 1
    while i < n:
        if text[i] == "\n":
            i += 1
            line += 1
            continue
        record: list[str] = []
        rec_line = line
        while True:
            if i < n and text[i] == '"':
                field: list[str] = []
                start_col = i
                i += 1
                while True:
                    if i >= n:
                        if not lazy:
                            raise MappingError(
                                f"parse error on line {rec_line}, column "
                                f'{i - start_col}: extraneous or missing " in '
                                "quoted-field"
                            )
                        break
                    c = text[i]
                    if c == '"':
                        nxt = text[i + 1] if i + 1 < n else "\n"
                        if nxt == '"':
                            field.append('"')
                            i += 2
                        elif nxt == delim or nxt == "\n":
                            i += 1
                            break
                        elif lazy:
                            field.append('"')
                            i += 1
                        else:
                            raise MappingError(
                                f"parse error on line {line}, column {i + 2}: "
                                'extraneous or missing " in quoted-field'
                            )
                    else:
                        if c == "\n":
                            line += 1
                        field.append(c)
                        i += 1
                record.append("".join(field))
            else:
                j = i
                while j < n and text[j] != delim and text[j] != "\n":
                    j += 1
                value = text[i:j]
                if not lazy and '"' in value:
                    raise MappingError(
                        f"parse error on line {line}, column "
                        f'{value.index(chr(34)) + 1}: bare " in non-quoted-field'
                    )
                record.append(value)
                i = j
            if i < n and text[i] == delim:
                i += 1
                continue
            if i < n and text[i] == "\n":
                i += 1
                line += 1
            break
        if records and len(record) != len(records[0]):
            raise MappingError(f"record on line {rec_line}: wrong number of fields")
        records.append(record)
    return records


@method(
    "parse_csv",
    [
        Param("parse_header_row", "bool", True),
        Param("delimiter", "string", ","),
        Param("lazy_quotes", "bool", False),
    ],
    category=CATEGORY,
)
def parse_csv(
    target: Any, parse_header_row: Any = True, delimiter: Any = ",", lazy_quotes: Any = False
) -> list[Any]:
    """Parse CSV (RFC 4180) into objects keyed by the header row, or into row arrays."""
    delim = as_str(delimiter)
    if len(delim) != 1:
        raise MappingError("delimiter value must be exactly one character")
    if delim in ('"', "\n", "\r"):
        raise MappingError("csv: invalid field or comment delimiter")
    records = _csv_records(as_str(target), delim, bool(lazy_quotes))
    if not records:
        raise MappingError("zero records were parsed")
    if not parse_header_row:
        return records
    headers = records[0]
    return [dict(zip(headers, rec)) for rec in records[1:]]


# ---------------------------------------------------------------------------------------
# XML

_XML_TOKEN = re.compile(
    r"<!--.*?-->|<!\[CDATA\[(?P<cdata>.*?)\]\]>|<\?.*?\?>|<!(?:[^<>]|<[^>]*>)*>"
    r"|</\s*(?P<end>[^\s>]+)\s*>|<(?P<start>[^\s/>!?][^\s/>]*)(?P<attrs>[^>]*?)(?P<self>/?)>"
    r"|(?P<text>[^<]+)|<",
    re.S,
)
_XML_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "apos": "'", "quot": '"'}
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_BOOLS = {
    "1": True,
    "t": True,
    "T": True,
    "TRUE": True,
    "true": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "FALSE": False,
    "false": False,
    "False": False,
}


def _unescape_xml(s: str) -> str:
    if "&" not in s:
        return s

    def sub(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref.startswith("#x"):
            return chr(int(ref[2:], 16))
        if ref.startswith("#"):
            return chr(int(ref[1:]))
        return _XML_ENTITIES.get(ref, m.group(0))

    return _ENTITY.sub(sub, s)


def _cast(s: str) -> Any:
    if _NUMBER.match(s):
        f = float(s)
        if f.is_integer() and abs(f) < 2**63 and "." not in s and "e" not in s.lower():
            return int(s)
        return f
    return _BOOLS.get(s, s)


class _XmlNode:
    __slots__ = ("name", "attrs", "children", "text")

    def __init__(self, name: str, attrs: list[tuple[str, str]]) -> None:
        self.name = name
        self.attrs = attrs
        self.children: list[_XmlNode] = []
        self.text: list[str] = []


def _xml_value(node: _XmlNode, cast: bool) -> Any:
    text = "".join(node.text).strip()
    if not node.attrs and not node.children:
        return _cast(text) if cast and text else text
    obj: dict[str, Any] = {}
    for k, v in node.attrs:
        obj["-" + k] = _cast(v) if cast else v
    for child in node.children:
        val = _xml_value(child, cast)
        if child.name in obj:
            prev = obj[child.name]
            if isinstance(prev, list):
                prev.append(val)
            else:
                obj[child.name] = [prev, val]
        else:
            obj[child.name] = val
    if text:
        obj["#text"] = _cast(text) if cast else text
    return obj


@method("parse_xml", [Param("cast", "bool", False)], category=CATEGORY)
def parse_xml(target: Any, cast: Any = False) -> Any:
    """Parse XML: attributes become "-name" keys, text beside them "#text", repeats arrays."""
    text = as_str(target).lstrip("\ufeff")
    root = _XmlNode("", [])
    stack = [root]
    for m in _XML_TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "text":
            stack[-1].text.append(_unescape_xml(m.group("text")))
        elif kind == "cdata":
            stack[-1].text.append(m.group("cdata"))
        elif m.group("start") is not None:
            attrs = [
                (a.group(1), _unescape_xml(a.group(2) or a.group(3) or a.group(4) or ""))
                for a in _XML_ATTR.finditer(m.group("attrs") or "")
            ]
            node = _XmlNode(m.group("start"), attrs)
            stack[-1].children.append(node)
            if not m.group("self"):
                stack.append(node)
        elif m.group("end") is not None:
            name = m.group("end")
            for depth in range(len(stack) - 1, 0, -1):
                if stack[depth].name == name:
                    del stack[depth:]
                    break
            else:
                raise MappingError(f"XML syntax error: unexpected end element </{name}>")
        elif m.group(0) == "<":
            raise MappingError("XML syntax error: unexpected <")
    if len(stack) > 1:
        raise MappingError(
            f"XML syntax error: unexpected EOF, element <{stack[-1].name}> is not closed"
        )
    if not root.children:
        raise MappingError("XML syntax error: EOF")
    result: dict[str, Any] = {}
    for child in root.children:
        result[child.name] = _xml_value(child, bool(cast))
    return result


def _xml_escape(s: str, attr: bool = False) -> str:
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attr:
        s = s.replace('"', "&#34;").replace("'", "&#39;")
    return s


def _xml_scalar(v: Any) -> str:
    if v is None:
        return ""
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, float):
        return go_float_json(v)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, datetime):
        return _rfc3339(v)
    if isinstance(v, (dict, list)):
        return go_json_dumps(v)
    return str(v)


def _xml_element(out: list[str], name: str, v: Any, indent: str | None, depth: int) -> None:
    pad = "" if indent is None else indent * depth
    nl = "" if indent is None else "\n"
    if isinstance(v, list):
        for item in v:
            _xml_element(out, name, item, indent, depth)
        return
    if not isinstance(v, dict):
        out.append(f"{nl if out else ''}{pad}<{name}>{_xml_escape(_xml_scalar(v))}</{name}>")
        return
    attrs = "".join(
        f' {k[1:]}="{_xml_escape(_xml_scalar(x), True)}"'
        for k, x in sorted(v.items())
        if k.startswith("-")
    )
    text = v.get("#text")
    children = [(k, x) for k, x in sorted(v.items()) if not k.startswith("-") and k != "#text"]
    prefix = f"{nl if out else ''}{pad}<{name}{attrs}"
    if not children:
        if text is None:
            out.append(prefix + f"></{name}>")
        else:
            out.append(prefix + f">{_xml_escape(_xml_scalar(text))}</{name}>")
        return
    out.append(prefix + ">" + (_xml_escape(_xml_scalar(text)) if text is not None else ""))
    for k, x in children:
        _xml_element(out, k, x, indent, depth + 1)
    out.append(f"{nl}{pad}</{name}>")


@method(
    "format_xml",
    [
        Param("indent", "string", "    "),
        Param("no_indent", "bool", False),
        Param("root_tag", "string", None),
    ],
    category=CATEGORY,
)
def format_xml(
    target: Any, indent: Any = "    ", no_indent: Any = False, root_tag: Any = None
) -> bytes:
    """Serialise an object as XML bytes ("-name" keys become attributes, "#text" text).

    The root element is the object's only key, or `root_tag` wrapping the whole object.
    """
    if type(target) is not dict:
        raise type_error("object", target)
    ind = None if no_indent else as_str(indent)
    out: list[str] = []
    if root_tag is not None:
        _xml_element(out, as_str(root_tag), target, ind, 0)
    elif len(target) == 1:
        ((name, value),) = target.items()
        _xml_element(out, str(name), value, ind, 0)
    else:
        _xml_element(out, "doc", target, ind, 0)
    return "".join(out).encode("utf-8")


# ---------------------------------------------------------------------------------------
# URLs and forms


@method("parse_form_url_encoded", category=CATEGORY)
def parse_form_url_encoded(target: Any) -> dict[str, Any]:
    """Parse an x-www-form-urlencoded string; repeated keys give arrays of values."""
    text = as_str(target)
    result: dict[str, Any] = {}
    for part in text.split("&"):
        if not part:
            continue
        if ";" in part:
            raise MappingError("invalid semicolon separator in query")
        key, _, value = part.partition("=")
        try:
            _check_escapes(key)
            _check_escapes(value)
        except MappingError as e:
            raise MappingError(f"failed to parse value as url-encoded data: {e}") from None
        k = urllib.parse.unquote_plus(key)
        v = urllib.parse.unquote_plus(value)
        if k in result:
            prev = result[k]
            result[k] = prev + [v] if isinstance(prev, list) else [prev, v]
        else:
            result[k] = v
    return result


_BAD_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")


def _check_escapes(s: str) -> None:
    m = _BAD_ESCAPE.search(s)
    if m:
        raise MappingError(f'invalid URL escape "{s[m.start() : m.start() + 3]}"')


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


def _go_url_parse(raw: str) -> dict[str, Any]:
    rest, hash_, frag = raw.partition("#")

    def fail(msg: str) -> MappingError:
        return MappingError(f'parse "{rest}": {msg}')

    for s in (rest, frag):
        m = _BAD_ESCAPE.search(s)
        if m:
            raise fail(f'invalid URL escape "{s[m.start() : m.start() + 3]}"')
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in rest):
        raise fail("net/url: invalid control character in URL")
    scheme = ""
    m = _SCHEME.match(rest)
    if m:
        scheme = m.group(1).lower()
        rest = rest[m.end() :]
    elif rest.startswith(":"):
        raise fail("missing protocol scheme")
    raw_query = ""
    if "?" in rest:
        rest, _, raw_query = rest.partition("?")
    result: dict[str, Any] = {
        "scheme": scheme,
        "opaque": "",
        "host": "",
        "path": "",
        "raw_path": "",
        "raw_query": raw_query,
        "fragment": urllib.parse.unquote(frag),
        "raw_fragment": "",
    }
    if scheme and not rest.startswith("/"):
        result["opaque"] = rest
        return result
    if not scheme and ":" in rest.split("/", 1)[0]:
        raise fail("first path segment in URL cannot contain colon")
    if rest.startswith("//") and (scheme or not rest.startswith("///")):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        userinfo, at, host = authority.rpartition("@")
        if at:
            name, colon, password = userinfo.partition(":")
            user: dict[str, Any] = {"name": urllib.parse.unquote(name)}
            if colon:
                user["password"] = urllib.parse.unquote(password)
            result["user"] = user
        if ":" in host and not host.startswith("["):
            port = host.rsplit(":", 1)[1]
            if port and not port.isdigit():
                raise fail(f'invalid port ":{port}" after host')
        result["host"] = urllib.parse.unquote(host)
    path = urllib.parse.unquote(rest)
    result["path"] = path
    if urllib.parse.quote(path, safe="/!$&'()*+,;=:@~") != rest:
        result["raw_path"] = rest
    return result


@method("parse_url", category=CATEGORY)
def parse_url(target: Any) -> dict[str, Any]:
    """Parse a URL into scheme, opaque, user, host, path, raw_query, fragment and more."""
    return _go_url_parse(as_str(target))


# ---------------------------------------------------------------------------------------
# MessagePack


def _mp_default(v: Any) -> Any:
    if isinstance(v, datetime):
        return _rfc3339(v)
    raise MappingError(f"msgpack: unsupported type {type(v).__name__}")


def _mp_sorted(v: Any) -> Any:
    """Objects with sorted keys, so that the bytes do not depend on insertion order."""
    if type(v) is dict:
        return {k: _mp_sorted(v[k]) for k in sorted(v, key=str)}
    if type(v) is list:
        return [_mp_sorted(x) for x in v]
    return v


def _mp_key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, (bytes, bytearray)):
        return bytes(k).decode("utf-8", "replace")
    return go_json_dumps(k)


def _mp_object(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    return {_mp_key(k): v for k, v in pairs}


@method("format_msgpack", category=CATEGORY)
def format_msgpack(target: Any) -> bytes:
    """Serialise a value as MessagePack bytes."""
    try:
        return msgpack.packb(_mp_sorted(target), default=_mp_default, use_bin_type=True)
    except (OverflowError, ValueError, TypeError) as e:
        raise MappingError(f"msgpack: {e}") from None


@method("parse_msgpack", category=CATEGORY)
def parse_msgpack(target: Any) -> Any:
    """Parse MessagePack bytes into a structured value."""
    data = target if isinstance(target, (bytes, bytearray)) else as_str(target).encode()
    try:
        return msgpack.unpackb(
            bytes(data),
            raw=False,
            unicode_errors="replace",
            strict_map_key=False,
            object_pairs_hook=_mp_object,
            timestamp=3,
            ext_hook=lambda _code, payload: payload,
        )
    except msgpack.ExtraData as e:
        return e.unpacked
    except msgpack.StackError:
        raise MappingError("msgpack: nesting too deep") from None
    except ValueError as e:
        raise MappingError(f"msgpack: {str(e) or 'invalid data'}") from None


# ---------------------------------------------------------------------------------------
# Dynamic mappings

_DYNAMIC: dict[str, Any] = {}


@method("bloblang", [Param("mapping", "string")], category=CATEGORY)
def bloblang(target: Any, mapping: Any) -> Any:
    """Execute a Bloblang mapping given as a string against the target."""
    from streamforge.bloblang import parse

    text = as_str(mapping)
    executor = _DYNAMIC.get(text)
    if executor is None:
        try:
            executor = parse(text)
        except Exception as e:  # noqa: BLE001 - ParseError of the dynamic mapping
            raise MappingError(f"failed to parse mapping: {e}") from None
        if len(_DYNAMIC) >= 256:
            _DYNAMIC.clear()
        _DYNAMIC[text] = executor
    return executor.query(target)


# -- logfmt -------------------------------------------------------------------------------

_LOGFMT_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _logfmt_value(text: str, i: int) -> tuple[str, int]:
    """The value starting at `text[i]` (quoted or bare) and the index after it."""
    if i < len(text) and text[i] == '"':
        out: list[str] = []
        i += 1
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                out.append(_LOGFMT_ESCAPES.get(text[i + 1], text[i + 1]))
                i += 2
            elif c == '"':
                return "".join(out), i + 1
            else:
                out.append(c)
                i += 1
        raise MappingError("failed to parse logfmt: unterminated quoted value")
    start = i
    while i < len(text) and not text[i].isspace():
        i += 1
    return text[start:i], i


@method("parse_logfmt", category=CATEGORY)
def parse_logfmt(target: Any) -> dict[str, Any]:
    """Parse `key=value` pairs (values bare or double-quoted) into an object of strings;
    a key without `=` is `true`, and a repeated key keeps its last value."""
    text = as_str(target)
    out: dict[str, Any] = {}
    i, size = 0, len(text)
    while i < size:
        if text[i].isspace():
            i += 1
            continue
        start = i
        while i < size and not text[i].isspace() and text[i] not in '="':
            i += 1
        key = text[start:i]
        if not key:
            raise MappingError(f"failed to parse logfmt: unexpected {text[i]!r} at offset {i}")
        if i < size and text[i] == "=":
            out[key], i = _logfmt_value(text, i + 1)
        else:
            out[key] = True
    return out


def _logfmt_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif value is None:
        return ""
    elif isinstance(value, bool):
        return "true" if value else "false"
    elif isinstance(value, float):
        return go_float_json(value)
    elif isinstance(value, (int, datetime)):
        text = format_rfc3339_nano(value) if isinstance(value, datetime) else str(value)
    else:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    if text == "" or any(c.isspace() or c in '="\\' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


@method("format_logfmt", category=CATEGORY)
def format_logfmt(target: Any) -> str:
    """Format an object as `key=value` pairs in key order; values with spaces, `=` or quotes
    are double-quoted, null is empty, arrays and objects are JSON."""
    if not isinstance(target, dict):
        raise type_error("object", target)
    return " ".join(f"{key}={_logfmt_text(target[key])}" for key in sorted(target))


# -- parquet ------------------------------------------------------------------------------

_parquet_reader: list[Any] = []


def _read_parquet_table(data: bytes) -> Any:
    """pyarrow's reader, imported on first use (not when Bloblang loads)."""
    if not _parquet_reader:
        import pyarrow as pa
        import pyarrow.parquet as pq

        _parquet_reader.append((pa, pq))
    pa, pq = _parquet_reader[0]
    return pq.read_table(pa.BufferReader(data))


def _parquet_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _parquet_value(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(p, tuple) and len(p) == 2 for p in value):
            return {str(k): _parquet_value(v) for k, v in value}  # a MAP column
        return [_parquet_value(v) for v in value]
    if isinstance(value, (Decimal, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


@method("parse_parquet", [Param("byte_array_as_string", "bool", False)], category=CATEGORY)
def parse_parquet(target: Any, byte_array_as_string: Any = False) -> list[Any]:
    """Decode a Parquet file into an array of row objects (`byte_array_as_string` is accepted
    and ignored, as in Benthos)."""
    if isinstance(target, str):
        data = target.encode("utf-8")
    elif isinstance(target, (bytes, bytearray)):
        data = bytes(target)
    else:
        raise type_error("string or bytes", target)
    try:
        table = _read_parquet_table(data)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types
        raise MappingError(f"failed to read parquet: {exc}") from None
    return [_parquet_value(row) for row in table.to_pylist()]


# ---------------------------------------------------------------------------------------
# schemas


def _infer_schema(name: str, value: Any) -> dict[str, Any]:
    """Benthos' common schema of a value; a MappingError names the path of a bad value."""
    if value is None:
        kind = "NULL"
    elif isinstance(value, bool):
        kind = "BOOLEAN"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, str):
        kind = "STRING"
    elif isinstance(value, (bytes, bytearray)):
        kind = "BYTE_ARRAY"
    elif isinstance(value, datetime):
        kind = "TIMESTAMP"
    elif isinstance(value, list):
        kind = "ARRAY"
    elif isinstance(value, dict):
        kind = "OBJECT"
    else:
        raise MappingError(f" unsupported data type: {type(value).__name__}")
    schema: dict[str, Any] = {"type": kind}
    if name:
        schema["name"] = name
    children: list[dict[str, Any]] = []
    if kind == "ARRAY":
        for i, element in enumerate(value):
            try:
                child = _infer_schema("", element)
            except MappingError as exc:
                raise MappingError(f".{i}{exc.reason}") from None
            if children and children[0]["type"] != child["type"]:
                raise MappingError(
                    f".{i} mismatched array types, found {children[0]['type']} and {child['type']}"
                )
            if not children:
                children.append(child)
    elif kind == "OBJECT":
        for key in sorted(value):
            try:
                children.append(_infer_schema(key, value[key]))
            except MappingError as exc:
                raise MappingError(f".{key}{exc.reason}") from None
    if children:
        schema["children"] = children
    return schema


@method("infer_schema", category=CATEGORY)
def infer_schema(target: Any) -> dict[str, Any]:
    """The schema of a value in Benthos' common form: `{"type", "name", "children"}`, with
    object fields sorted by name and an array described by its first element."""
    try:
        return _infer_schema("", target)
    except MappingError as exc:
        reason = exc.reason.lstrip(" ")
        raise MappingError(reason) from None
