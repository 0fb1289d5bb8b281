"""Go's regular expressions (RE2) for every pattern a user writes.

Bloblang's `re_*` methods, metadata `include_patterns` and the `content_matches` test
condition compile their patterns here. Patterns go through google-re2 with Go's defaults
(UTF-8, leftmost-first, Perl classes), so matching takes time linear in the input and a
pattern means what it means in Benthos. Where the `re2` module cannot be imported (a platform
without a wheel), patterns are translated to Python's backtracking `re` instead and a warning
is logged once.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

try:
    import re2
except ImportError:  # pragma: no cover - platforms without a google-re2 wheel
    re2 = None

__all__ = ["BACKTRACKING", "Regexp", "RegexpError", "compile_regexp"]

log = logging.getLogger(__name__)

#: True when the `re2` module is missing and patterns run on Python's backtracking `re`
BACKTRACKING = re2 is None

Span = tuple[int, int]
_NO_SPAN: Span = (-1, -1)


class RegexpError(ValueError):
    """A pattern is not a valid Go (RE2) regular expression; the message reads as Go's."""


def _go_error(code: str, expr: str, pattern: str = "") -> RegexpError:
    return RegexpError(f"error parsing regexp: {code}: `{expr}`{_hint(code, expr, pattern)}")


def _hint(code: str, expr: str, pattern: str) -> str:
    """Why a Perl/Python construct is refused: patterns are RE2, as in Benthos."""
    if expr == "(?P" and "(?P=" in pattern:
        expr = "(?P="
    what = ""
    if code == "invalid escape sequence" and re.fullmatch(r"\\[1-9]", expr[:2]):
        what = "backreferences are"
    elif code == "invalid or unsupported Perl syntax":
        if expr.startswith(("(?=", "(?!", "(?<=", "(?<!")):
            what = "lookaround assertions are"
        elif expr.startswith("(?>"):
            what = "atomic groups are"
        elif expr.startswith("(?P="):
            what = "backreferences are"
    elif code == "invalid nested repetition operator" and expr.endswith("+"):
        what = "possessive quantifiers are"
    elif code == "invalid escape sequence" and expr == "\\C":
        what = "\\C (any byte) is"
    return f" ({what} not supported: patterns are RE2, as in Go)" if what else ""


# -- templates (Go's Regexp.Expand) ------------------------------------------------------
#: literal text, or the groups a reference may expand (the first that took part is used)
Template = list[str | tuple[int, ...]]
_TEMPLATE_REF = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _parse_template(template: str, names: Sequence[str]) -> Template:
    """`$1`, `${1}`, `$name`, `${name}` expand submatches; `$$` is a literal `$`.

    An unknown name or a number beyond the groups expands to nothing; a `$` that starts no
    reference is kept as it is. A name used by several groups expands the first of them
    that took part in the match, as Go does.
    """
    parts: Template = []
    pos = 0
    for m in _TEMPLATE_REF.finditer(template):
        if m.start() > pos:
            parts.append(template[pos : m.start()])
        pos = m.end()
        name = m.group(1) or m.group(2)
        if name is None:
            parts.append("$")
        elif name.isdigit():
            if int(name) < len(names):
                parts.append((int(name),))
        else:
            indexes = tuple(i for i, n in enumerate(names) if i and n == name)
            if indexes:
                parts.append(indexes)
    if pos < len(template):
        parts.append(template[pos:])
    merged: Template = []
    for part in parts:
        if merged and isinstance(part, str) and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


# -- group names -------------------------------------------------------------------------
def _group_names(pattern: str, groups: int, groupindex: dict[str, int]) -> list[str]:
    """The name of every group by index. RE2 reports only the first group of a name, while
    Go allows a name twice (`(?P<d>..)|(?P<d>..)`), so the pattern's groups are counted."""
    names = [""] * (groups + 1)
    for name, idx in groupindex.items():
        names[idx] = name
    if len(groupindex) == pattern.count("(?P<") + pattern.count("(?<"):
        return names  # no name is used twice (or names appear only inside literals)
    scanned = [""]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if pattern.startswith("Q", i + 1):
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
            else:
                i += 2
            continue
        if c == "[":
            i = _class_end(pattern, i)
            continue
        if c == "(":
            if pattern.startswith(("(?P<", "(?<"), i):
                start = pattern.index("<", i) + 1
                scanned.append(pattern[start : pattern.find(">", start)])
            elif not pattern.startswith("(?", i):
                scanned.append("")
        i += 1
    consistent = len(scanned) == groups + 1 and all(
        scanned.index(name) == idx for name, idx in groupindex.items()
    )
    return scanned if consistent else names


def _class_end(pattern: str, i: int) -> int:
    """The index just past the character class opening at i."""
    j, n = i + 1, len(pattern)
    if j < n and pattern[j] == "^":
        j += 1
    if j < n and pattern[j] == "]":
        j += 1
    while j < n and pattern[j] != "]":
        if pattern[j] == "\\":
            j += 2
        elif pattern.startswith("[:", j) and ":]" in pattern[j + 2 :]:
            j = pattern.index(":]", j + 2) + 2
        else:
            j += 1
    return j + 1


# -- the compiled pattern ----------------------------------------------------------------
class Regexp:
    """A compiled Go regular expression with Go's matching rules.

    Text may be `str` or `bytes` (bytes match as UTF-8 text); results are `str`. Successive
    matches follow Go: an empty match right after the previous match is skipped.
    """

    __slots__ = ("pattern", "groups", "groupindex", "names", "_templates")

    def __init__(self, pattern: str, groups: int, groupindex: dict[str, int]) -> None:
        self.pattern = pattern
        self.groups = groups
        self.groupindex = groupindex
        #: Go's SubexpNames: the name of each group by index, "" when unnamed
        self.names = _group_names(pattern, groups, groupindex)
        self._templates: dict[str, Template] = {}

    def __repr__(self) -> str:
        return f"Regexp({self.pattern!r})"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return compile_regexp, (self.pattern,)

    # Backends provide these two.
    def _subject(self, text: str | bytes) -> tuple[Any, Callable[[Span], str]]:
        raise NotImplementedError

    def _spans(self, subject: Any, ngroups: int) -> Iterator[Sequence[Span]]:
        """Successive matches as spans of group 0..ngroups (Go's rule for empty matches)."""
        raise NotImplementedError

    def search(self, text: str | bytes) -> bool:
        """Whether the pattern matches any part of the text."""
        subject, _ = self._subject(text)
        return next(self._spans(subject, 0), None) is not None

    def find_submatch(self, text: str | bytes) -> list[str] | None:
        """The first match and its groups ("" for a group that took no part), or None."""
        subject, piece = self._subject(text)
        spans = next(self._spans(subject, self.groups), None)
        return None if spans is None else [piece(s) for s in spans]

    def find_all(self, text: str | bytes) -> list[str]:
        """Every successive match."""
        subject, piece = self._subject(text)
        return [piece(spans[0]) for spans in self._spans(subject, 0)]

    def find_all_submatch(self, text: str | bytes) -> list[list[str]]:
        """Every successive match with its groups."""
        subject, piece = self._subject(text)
        return [[piece(s) for s in spans] for spans in self._spans(subject, self.groups)]

    def template(self, template: str) -> Template:
        """A replacement template parsed for this pattern (cached)."""
        parts = self._templates.get(template)
        if parts is None:
            if len(self._templates) >= 256:
                self._templates.clear()
            parts = _parse_template(template, self.names)
            self._templates[template] = parts
        return parts

    def replace_all(self, text: str | bytes, template: str) -> str:
        """Replace every match by the expanded template, as Go's ReplaceAllString."""
        subject, piece = self._subject(text)
        parts = self.template(template)
        needs = max((i for p in parts if isinstance(p, tuple) for i in p), default=0)
        out: list[str] = []
        last = 0
        for spans in self._spans(subject, needs):
            start, end = spans[0]
            out.append(piece((last, start)))
            for part in parts:
                if isinstance(part, str):
                    out.append(part)
                    continue
                for idx in part:
                    if spans[idx][0] >= 0:
                        out.append(piece(spans[idx]))
                        break
            last = end
        out.append(piece((last, len(subject))))
        return "".join(out)


class _RE2Regexp(Regexp):
    """RE2 through google-re2: matching runs on the UTF-8 bytes of the text."""

    __slots__ = ("_rx", "_match")

    def __init__(self, pattern: str, rx: Any) -> None:
        super().__init__(pattern, rx.groups, dict(rx.groupindex))
        self._rx = rx
        # the wrapped RE2 object answers one match as a list of spans in one call (the
        # module's search() builds a generator and a match object around the same call)
        low = getattr(rx, "_regexp", None)
        self._match = low.Match if low is not None and _UNANCHORED is not None else None

    def _subject(self, text: str | bytes) -> tuple[Any, Callable[[Span], str]]:
        if isinstance(text, (bytes, bytearray)):
            data = bytes(text)
            errors = "replace"
        else:
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates (undecodable input bytes)
                data = text.encode("utf-8", "surrogatepass")
                errors = "surrogatepass"
            else:
                if len(data) == len(text):  # ASCII: byte offsets are character offsets
                    ascii_text = text
                    return data, lambda span: "" if span[0] < 0 else ascii_text[span[0] : span[1]]
                errors = "strict"

        def piece(span: Span) -> str:
            if span[0] < 0:
                return ""
            return data[span[0] : span[1]].decode("utf-8", errors)

        return data, piece

    def _find(self, subject: bytes, pos: int, end: int) -> Sequence[Span] | None:
        if self._match is not None:
            spans: Sequence[Span] = self._match(_UNANCHORED, subject, pos, end)
            return None if spans[0][0] < 0 else spans
        m = self._rx.search(subject, pos)
        return None if m is None else [m.span(i) for i in range(self.groups + 1)]

    def _spans(self, subject: bytes, ngroups: int) -> Iterator[Sequence[Span]]:
        pos, end, prev_end = 0, len(subject), -1
        while pos <= end:
            spans = self._find(subject, pos, end)
            if spans is None:
                return
            start, stop = spans[0]
            accept = True
            if stop == pos:  # an empty match: step over one character
                accept = start != prev_end
                pos += _rune_width(subject, pos, end)
            else:
                pos = stop
            prev_end = stop
            if accept:
                yield spans


def _rune_width(data: bytes, pos: int, end: int) -> int:
    """Bytes of the UTF-8 character at pos (1 for an invalid byte, as Go steps)."""
    if pos >= end:
        return 1
    lead = data[pos]
    if lead < 0xC0:
        return 1
    width = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4 if lead < 0xF8 else 1
    for i in range(1, width):
        if pos + i >= end or data[pos + i] & 0xC0 != 0x80:
            return 1
    return width


class _PythonRegexp(Regexp):
    """The fallback: the pattern translated to Python's `re` (backtracking)."""

    __slots__ = ("_rx",)

    def __init__(self, pattern: str, rx: re.Pattern[str]) -> None:
        super().__init__(pattern, rx.groups, dict(rx.groupindex))
        self._rx = rx

    def _subject(self, text: str | bytes) -> tuple[Any, Callable[[Span], str]]:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", "replace")

        def piece(span: Span) -> str:
            return "" if span[0] < 0 else text[span[0] : span[1]]

        return text, piece

    def _spans(self, subject: str, ngroups: int) -> Iterator[Sequence[Span]]:
        search = self._rx.search
        pos, end, prev_end = 0, len(subject), -1
        while pos <= end:
            m = search(subject, pos)
            if m is None:
                return
            start, stop = m.span()
            accept = True
            if stop == pos:
                accept = start != prev_end
                pos += 1
            else:
                pos = stop
            prev_end = stop
            if accept:
                yield m.regs[: ngroups + 1]


# -- compiling ---------------------------------------------------------------------------
#: RE2's error codes in Go's words
_GO_CODES = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid repetition size": "invalid repeat count",
    "no argument for repetition operator": "missing argument to repetition operator",
    "missing argument to repetition operator": "missing argument to repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large",
    "pattern too large - reverse compile failed": "expression too large",
}


def _re2_options() -> Any:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.UTF8
    options.posix_syntax = False  # Perl syntax, as Go's regexp.Compile
    options.longest_match = False  # leftmost-first, not leftmost-longest
    options.perl_classes = True
    options.word_boundary = True
    options.log_errors = False
    return options


_OPTIONS = _re2_options() if re2 is not None else None
_ANCHOR = getattr(re2, "_Anchor", None)
_UNANCHORED = _ANCHOR.UNANCHORED if _ANCHOR is not None else None


def _refuse_any_byte(pattern: str) -> None:
    r"""Go has no `\C`; RE2 (C++) would accept it."""
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            d = pattern[i + 1]
            if d == "C":
                raise _go_error("invalid escape sequence", "\\C")
            if d == "Q":
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            i += 2
        else:
            i += 1


def _compile_re2(pattern: str) -> Regexp:
    _refuse_any_byte(pattern)
    try:
        rx = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        code, _, expr = text.partition(": ")
        if code not in _GO_CODES and ": " not in text:
            code, expr = text, ""
        raise _go_error(_GO_CODES.get(code, code), expr, pattern) from None
    return _RE2Regexp(pattern, rx)


_warned = False


def _compile_python(pattern: str) -> Regexp:
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "the google-re2 module is not installed: regular expressions run on Python's "
            "backtracking re, where a pathological pattern can take exponential time"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rx = re.compile(_translate(pattern), re.ASCII)
    except RegexpError:
        raise
    except (re.error, ValueError, IndexError, OverflowError) as e:
        msg = e.msg if isinstance(e, re.error) else str(e)
        raise RegexpError(f"error parsing regexp: {msg}: `{pattern}`") from None
    return _PythonRegexp(pattern, rx)


_CACHE: dict[str, Regexp] = {}


def compile_regexp(pattern: str) -> Regexp:
    """Compile (and cache) a Go regular expression; raises RegexpError when it is invalid."""
    rx = _CACHE.get(pattern)
    if rx is None:
        rx = _compile_re2(pattern) if re2 is not None else _compile_python(pattern)
        if len(_CACHE) >= 1024:
            _CACHE.clear()
        _CACHE[pattern] = rx
    return rx


# -- the fallback: Go syntax rewritten for Python's re ------------------------------------
_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_FLAG_GROUP = re.compile(r"\(\?([imsU-]+)\)")
_FLAG_SCOPE = re.compile(r"\(\?([imsU-]+):")
_NOT_RE2_GROUP = ("(?=", "(?!", "(?<=", "(?<!", "(?>", "(?P=")


def _translate(p: str) -> str:
    """Rewrite Go RE2 syntax into the Python `re` dialect, refusing what RE2 refuses."""
    if "(?" in p and ("U" in "".join(_FLAG_GROUP.findall(p) + _FLAG_SCOPE.findall(p))):
        raise ValueError("ungreedy flag (?U) is not supported without google-re2")
    multiline = any("m" in f.split("-")[0] for f in _FLAG_GROUP.findall(p) + _FLAG_SCOPE.findall(p))
    out: list[str] = []
    extra_close = [0]
    i, n = 0, len(p)
    at_start = True
    after_repeat = False
    while i < n:
        c = p[i]
        was_repeat, after_repeat = after_repeat, False
        if c == "\\":
            if i + 1 >= n:
                raise _go_error("trailing backslash at end of expression", "")
            d = p[i + 1]
            if d == "Q":
                end = p.find("\\E", i + 2)
                lit = p[i + 2 :] if end < 0 else p[i + 2 : end]
                out.append(re.escape(lit))
                i = n if end < 0 else end + 2
            elif d in "123456789C":
                raise _go_error("invalid escape sequence", p[i : i + 2])
            elif d == "z":
                out.append("\\Z")
                i += 2
            elif d == "x" and i + 2 < n and p[i + 2] == "{":
                end = p.index("}", i + 3)
                out.append(f"\\U{int(p[i + 3 : end], 16):08x}")
                i = end + 1
            elif d in "pP":
                raise ValueError("unicode classes (\\p) need google-re2")
            else:
                out.append(p[i : i + 2])
                i += 2
        elif c == "[":
            j = i + 1
            cls = ["["]
            if j < n and p[j] == "^":
                cls.append("^")
                j += 1
            if j < n and p[j] == "]":
                cls.append("\\]")
                j += 1
            while j < n and p[j] != "]":
                if p[j] == "\\" and j + 1 < n:
                    cls.append(p[j : j + 2])
                    j += 2
                elif p.startswith("[:", j):
                    end = p.find(":]", j + 2)
                    name = p[j + 2 : end] if end > 0 else ""
                    if name not in _POSIX:
                        raise ValueError(f"invalid character class range: `{p[j : end + 2]}`")
                    cls.append(_POSIX[name])
                    j = end + 2
                elif p[j] in "[&~|":
                    cls.append("\\" + p[j])
                    j += 1
                else:
                    cls.append(p[j])
                    j += 1
            if j >= n:
                raise ValueError(f"missing closing ]: `{p[i:]}`")
            cls.append("]")
            out.append("".join(cls))
            i = j + 1
        elif c == "(":
            if p.startswith(_NOT_RE2_GROUP, i):
                op = next(g for g in _NOT_RE2_GROUP if p.startswith(g, i))
                raise _go_error("invalid or unsupported Perl syntax", op)
            m = _FLAG_GROUP.match(p, i)
            if m:
                if at_start:
                    out.append(m.group(0))
                else:
                    out.append(f"(?{m.group(1)}:")
                    extra_close[-1] += 1
                i = m.end()
                continue
            if p.startswith("(?<", i):
                out.append("(?P<")
                i += 3
            else:
                out.append("(")
                i += 1
            extra_close.append(0)
        elif c == ")":
            if len(extra_close) > 1:
                out.append(")" * extra_close.pop())
            out.append(")")
            i += 1
        elif c == "$" and not multiline:
            out.append("\\Z")
            i += 1
        else:
            if c == "+" and was_repeat:
                raise _go_error("invalid nested repetition operator", p[i - 1 : i + 1])
            after_repeat = c in "*+?"
            out.append(c)
            i += 1
        at_start = False
    out.append(")" * extra_close[0])
    return "".join(out)
