"""Go text conventions Bloblang inherits: strconv.Quote/Unquote, fmt.Sprintf, float text."""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from streamforge.timefmt.gotime import nanos_of

__all__ = ["go_quote", "go_unquote", "go_sprintf", "go_float_g", "go_float_json"]

_SIMPLE_ESC = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(s: str) -> str:
    """strconv.Quote: a double-quoted Go string literal (surrogate escapes become \\xHH)."""
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    out = ['"']
    for ch in s:
        esc = _SIMPLE_ESC.get(ch)
        if esc is not None:
            out.append(esc)
            continue
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:
            out.append(f"\\x{cp - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif cp < 0x20 or cp == 0x7F:
            out.append(f"\\x{cp:02x}")
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


_UNQUOTE_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def go_unquote(s: str) -> str:
    """strconv.Unquote for "...", `...` and '.' literals. Raises ValueError("invalid syntax")."""
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "\"'`":
        raise ValueError("invalid syntax")
    quote, body = s[0], s[1:-1]
    if quote == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    if "\n" in body:
        raise ValueError("invalid syntax")
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch == quote:
            raise ValueError("invalid syntax")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("invalid syntax")
        c = body[i + 1]
        if c in _UNQUOTE_SIMPLE:
            if (c == "'" and quote == '"') or (c == '"' and quote == "'"):
                raise ValueError("invalid syntax")
            out.append(_UNQUOTE_SIMPLE[c])
            i += 2
        elif c in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[c]
            digits = body[i + 2 : i + 2 + size]
            if len(digits) != size or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("invalid syntax")
            v = int(digits, 16)
            if c == "x":
                out.append(chr(v) if v < 0x80 else bytes([v]).decode("latin-1"))
            else:
                if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                    raise ValueError("invalid syntax")
                out.append(chr(v))
            i += 2 + size
        elif c in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise ValueError("invalid syntax")
            v = int(digits, 8)
            if v > 255:
                raise ValueError("invalid syntax")
            out.append(chr(v))
            i += 4
        else:
            raise ValueError("invalid syntax")
    result = "".join(out)
    if quote == "'" and len(result) != 1:
        raise ValueError("invalid syntax")
    return result


# ---------------------------------------------------------------------------------------
# Floats


def _shortest_digits(f: float) -> tuple[str, int]:
    """Shortest round-trip digits and decimal exponent (value = 0.DIGITS * 10**dp)."""
    sign_digits_exp = Decimal(repr(f)).as_tuple()
    digits = "".join(map(str, sign_digits_exp.digits)).lstrip("0") or "0"
    exp = int(sign_digits_exp.exponent)
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    digits = stripped or "0"
    return digits, exp + len(digits)


def _special(f: float) -> str | None:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return None


def go_float_g(f: float) -> str:
    """Go's %v / strconv 'g' with shortest digits (exponent form when exp < -4 or exp >= 6)."""
    sp = _special(f)
    if sp is not None:
        return sp
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    sign = "-" if f < 0 else ""
    digits, dp = _shortest_digits(abs(f))
    exp = dp - 1
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return f"{sign}{digits}{'0' * (dp - len(digits))}"
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def go_float_json(f: float) -> str:
    """encoding/json float text: positional in [1e-6, 1e21), else exponent (e-7, e+21)."""
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    a = abs(f)
    sign = "-" if f < 0 else ""
    digits, dp = _shortest_digits(a)
    if 1e-6 <= a < 1e21:
        if dp <= 0:
            return f"{sign}0.{'0' * -dp}{digits}"
        if dp >= len(digits):
            return f"{sign}{digits}{'0' * (dp - len(digits))}"
        return f"{sign}{digits[:dp]}.{digits[dp:]}"
    exp = dp - 1
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}".replace("e-0", "e-")


def _go_float_v(f: float) -> str:
    """%v of a float64."""
    return go_float_g(f)


# ---------------------------------------------------------------------------------------
# fmt.Sprintf

_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?([a-zA-Z%])?")


def _type_name(v: Any) -> str:
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (bytes, bytearray)):
        return "[]uint8"
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, datetime):
        return "time.Time"
    return type(v).__name__


def _go_time(v: datetime) -> str:
    text = v.strftime("%Y-%m-%d %H:%M:%S")
    ns = nanos_of(v)
    if ns:
        text += f".{ns:09d}".rstrip("0")
    off = v.strftime("%z") or "+0000"
    zone = v.tzname() or "UTC"
    if zone.startswith(("UTC+", "UTC-")):
        zone = off
    return f"{text} {off} {zone}"


def _value_v(v: Any, plus: bool = False) -> str:
    if v is None:
        return "<nil>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float_v(v)
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in v) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_value_v(x, plus) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_value_v(v[k], plus)}" for k in sorted(v)) + "]"
    if isinstance(v, datetime):
        return _go_time(v)
    return str(v)


def _bad(verb: str, v: Any) -> str:
    if v is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({_type_name(v)}={_value_v(v)})"


def _pad(text: str, width: int | None, minus: bool, zero: bool = False) -> str:
    if width is None or len(text) >= width:
        return text
    if minus:
        return text.ljust(width)
    if zero:
        sign = text[0] if text[:1] in ("+", "-", " ") else ""
        body = text[len(sign) :]
        return sign + body.rjust(width - len(sign), "0")
    return text.rjust(width)


def _fmt_int(v: int, verb: str, flags: str, prec: int | None) -> str | None:
    sign = "-" if v < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
    a = abs(v)
    if verb in "dv":
        body = str(a)
    elif verb == "b":
        body = format(a, "b")
    elif verb == "o":
        body = format(a, "o")
        if "#" in flags and body[0] != "0":
            body = "0" + body
    elif verb == "O":
        body = "0o" + format(a, "o")
    elif verb in "xX":
        body = format(a, verb)
    elif verb == "c":
        return chr(v) if 0 <= v <= 0x10FFFF else "\ufffd"
    elif verb == "q":
        return "'" + go_quote(chr(v) if 0 <= v <= 0x10FFFF else "\ufffd")[1:-1] + "'"
    elif verb == "U":
        text = f"U+{v:04X}"
        if "#" in flags and 0 <= v <= 0x10FFFF and chr(v).isprintable():
            text += f" '{chr(v)}'"
        return text
    else:
        return None
    if prec is not None:
        body = body.rjust(prec, "0") if prec else ("" if a == 0 else body)
    if "#" in flags and verb in "xX":
        body = ("0x" if verb == "x" else "0X") + body
    elif "#" in flags and verb == "b":
        body = "0b" + body
    return sign + body


def _fmt_float(v: float, verb: str, flags: str, prec: int | None) -> str | None:
    sp = _special(v)
    if sp is not None:
        if sp == "NaN":
            return ("+" if "+" in flags else (" " if " " in flags else "")) + sp
        return sp if ("+" in flags or sp[0] == "-") else sp[1:]
    sign = (
        "-"
        if math.copysign(1.0, v) < 0
        else ("+" if "+" in flags else (" " if " " in flags else ""))
    )
    a = abs(v)
    if verb in "vgG" and prec is None:
        body = go_float_g(a)
        if verb == "G":
            body = body.upper()
    elif verb in "gG":
        body = format(a, f"{'#' if '#' in flags else ''}.{prec}{verb}")
    elif verb in "eE":
        body = format(a, f".{6 if prec is None else prec}{verb}")
    elif verb in "fF":
        body = format(a, f".{6 if prec is None else prec}f")
    elif verb in "xX":
        body = a.hex() if verb == "x" else a.hex().upper()
    else:
        return None
    return sign + body


def _fmt_one(v: Any, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    minus = "-" in flags
    zero = "0" in flags and not minus
    if verb == "T":
        return _pad(_type_name(v), width, minus)
    if verb == "v" and "#" in flags:
        text = go_quote(v) if isinstance(v, str) else _value_v(v)
        return _pad(text, width, minus)
    if isinstance(v, bool):
        if verb in "vt":
            return _pad("true" if v else "false", width, minus)
        return _bad(verb, v)
    if isinstance(v, int):
        num: str | None
        if verb in "eEfFgG":
            num = _fmt_float(float(v), verb, flags, prec)
        else:
            num = _fmt_int(v, verb, flags, prec)
        if num is None:
            return _bad(verb, v)
        return _pad(num, width, minus, zero and verb not in "cqU")
    if isinstance(v, float):
        if verb in "dboOc" and v.is_integer():
            num = _fmt_int(int(v), verb, flags, prec)
        else:
            num = _fmt_float(v, verb, flags, prec)
        if num is None:
            return _bad(verb, v)
        return _pad(num, width, minus, zero)
    if isinstance(v, (str, bytes, bytearray)):
        s = v if isinstance(v, str) else bytes(v).decode("utf-8", "replace")
        if verb == "v" and not isinstance(v, str):
            return _pad(_value_v(v), width, minus)
        if verb in "sv":
            text = s if prec is None else s[:prec]
        elif verb == "q":
            text = go_quote(s if prec is None else s[:prec])
        elif verb in "xX":
            raw = s.encode("utf-8") if isinstance(v, str) else bytes(v)
            if prec is not None:
                raw = raw[:prec]
            sep = " " if " " in flags else ""
            pre = ("0x" if verb == "x" else "0X") if "#" in flags else ""
            fmt_ = "{:02x}" if verb == "x" else "{:02X}"
            text = (
                sep.join(pre + fmt_.format(b) for b in raw)
                if sep
                else (pre + "".join(fmt_.format(b) for b in raw))
            )
        else:
            return _bad(verb, v)
        return _pad(text, width, minus, zero)
    if isinstance(v, list):
        return "[" + " ".join(_fmt_one(x, verb, flags, width, prec) for x in v) + "]"
    if isinstance(v, dict):
        inner = " ".join(
            f"{_fmt_one(k, verb, flags, width, prec)}:{_fmt_one(v[k], verb, flags, width, prec)}"
            for k in sorted(v)
        )
        return "map[" + inner + "]"
    if v is None:
        return _pad("<nil>", width, minus) if verb in "vs" else _bad(verb, v)
    if verb in "vs":
        return _pad(_value_v(v), width, minus)
    return _bad(verb, v)


def go_sprintf(fmt: str, args: tuple[Any, ...] | list[Any]) -> str:
    """fmt.Sprintf over Bloblang values (int64, float64, string, []byte, bool, nil, ...)."""
    if "%" not in fmt:
        out = fmt
        argi = 0
    else:
        parts: list[str] = []
        argi = 0
        pos = 0
        nargs = len(args)
        for m in _VERB.finditer(fmt):
            parts.append(fmt[pos : m.start()])
            pos = m.end()
            flags, width_s, prec_s, verb = m.group(1), m.group(2), m.group(3), m.group(4)
            if verb == "%":
                parts.append("%")
                continue
            width: int | None = None
            prec: int | None = None
            if width_s == "*":
                if argi < nargs and isinstance(args[argi], int):
                    width = args[argi]
                    if width < 0:
                        flags += "-"
                        width = -width
                else:
                    parts.append("%!(BADWIDTH)")
                argi += 1
            elif width_s:
                width = int(width_s)
            if prec_s == "*":
                if argi < nargs and isinstance(args[argi], int):
                    prec = max(args[argi], 0)
                else:
                    parts.append("%!(BADPREC)")
                argi += 1
            elif prec_s is not None:
                prec = int(prec_s) if prec_s else 0
            if verb is None:
                parts.append("%!(NOVERB)")
                continue
            if argi >= nargs:
                parts.append(f"%!{verb}(MISSING)")
                continue
            parts.append(_fmt_one(args[argi], verb, flags, width, prec))
            argi += 1
        parts.append(fmt[pos:])
        out = "".join(parts)
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None else f"{_type_name(a)}={_value_v(a)}" for a in args[argi:]
        )
        out += f"%!(EXTRA {extra})"
    return out
