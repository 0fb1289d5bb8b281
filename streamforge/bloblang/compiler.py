"""Compile a Bloblang syntax tree to Python source, then to one code object.

The generated code is built only from the tree: user text reaches it solely as `repr()`-escaped
literals or as constants bound in the namespace; user identifiers are mapped to generated
names. Common cases (field reads, numeric operators, literal comparisons) are inlined, the
rest goes through `streamforge.bloblang.ops`.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from streamforge.bloblang import ast, ops
from streamforge.bloblang.errors import MappingError, ParseError, describe, type_name
from streamforge.bloblang.lexer import EOF, IDENT, NL, STR, error_at, tokenize
from streamforge.bloblang.parser import parse_mapping
from streamforge.bloblang.registry import DELETED, NOTHING, Param, functions, methods

__all__ = ["CompiledProgram", "compile_mapping", "compile_query", "MAX_MAP_DEPTH"]

#: nested `apply` calls allowed before a mapping fails as runaway recursion
MAX_MAP_DEPTH = 150
#: Python block nesting at which sub-expressions move into helper functions
_MAX_BLOCK_DEPTH = 10

#: methods and functions the compiler implements itself
SPECIAL_METHODS = frozenset({"catch", "or", "apply", "from", "from_all"})
#: functions whose result depends on the message's batch
BATCH_FUNCTIONS = frozenset({"batch_index", "batch_size"})

_ATOM = re.compile(
    r"^(?:[A-Za-z_][A-Za-z0-9_]*|-?[0-9][0-9.e+\-]*|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")$"
)
_FRESH = (ast.Literal, ast.ObjectLit, ast.ArrayLit)


@dataclass
class CompiledProgram:
    """A compiled mapping or query: the entry function and what it needs at run time."""

    main: Callable[..., Any]
    uses_this: bool
    needs_ctx: bool
    source: str
    is_query: bool
    #: functions with state to keep across a resume, in call-site order (`counter()` ...)
    stateful: tuple[Any, ...] = ()
    #: whether it looks at the message's batch (`batch_index()`, `batch_size()`, `from`...)
    batch_aware: bool = False
    #: whether it reads or writes the output metadata (`meta x = ...`, `@x` after one)
    uses_meta_out: bool = True


@dataclass
class _Scope:
    this: str
    this_bad: bool = False
    names: dict[str, str] = field(default_factory=dict)
    root: str = "_root"
    in_map: bool = False
    top: bool = True
    this_dict: str | None = None  # local holding `type(this) is dict`, when known


# -- argument checks --------------------------------------------------------------------
def _arg_error(kind: str, value: Any, where: str) -> MappingError:
    return MappingError(f"{where}: expected {kind} value, got {describe(value)}")


def check_arg(kind: str, value: Any, where: str) -> Any:
    """Check (and lightly coerce) an argument of a registered function or method."""
    t = type(value)
    if kind == "any" or kind == "query":
        return value
    if kind == "string":
        if t is str:
            return value
        if t is bytes:
            return value.decode("utf-8", "replace")
    elif kind == "int":
        if t is int:
            return value
        if t is float and value.is_integer():
            return int(value)
    elif kind == "float":
        if t is float:
            return value
        if t is int:
            return float(value)
    elif kind == "number":
        if t is int or t is float:
            return value
    elif kind == "bool":
        if t is bool:
            return value
    elif kind == "array":
        if t is list:
            return value
    elif kind == "object":
        if t is dict:
            return value
    elif kind == "timestamp":
        if isinstance(value, (datetime, str)) or (t is int or t is float):
            return value
    else:
        return value
    raise _arg_error(kind, value, where)


def _meta_string(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    from streamforge.bloblang.lib.coercion import to_string

    return to_string(value)


def _meta_set_all(meta: dict[str, Any], value: Any) -> None:
    if value is DELETED:
        meta.clear()
        return
    if type(value) is not dict:
        raise MappingError(
            f"setting root meta object requires object value, received: {type_name(value)}"
        )
    meta.clear()
    meta.update(ops.clone(value))


def _no_var(name: str) -> Any:
    raise MappingError(f"variable '{name}' undefined")


def _dynamic_key(key: Any) -> str:
    if type(key) is str:
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    raise MappingError(f"object keys must be strings, got {describe(key)}")


def _bool_error(value: Any) -> Any:
    raise MappingError(f"expected bool value, got {describe(value)}")


def _no_meta() -> Any:
    raise MappingError("unable to assign metadata in the current context")


def _with_this(ctx: Any, value: Any) -> Any:
    """A copy of an execution context whose `this` is the current (lambda or map) context."""
    new = copy.copy(ctx)
    new.this = value
    return new


def _from(ctx: Any, fn: Callable[[Any], Any], index: Any) -> Any:
    from streamforge.bloblang.executor import context_for

    if type(index) is not int:
        index = check_arg("int", index, "method from")
    batch = ctx.batch if ctx.batch is not None else [ctx.message]
    if index < 0:
        index += len(batch)
    if not 0 <= index < len(batch):
        raise MappingError(f"index {index} out of bounds for batch of size {len(batch)}")
    return fn(context_for(ctx, index))


def _from_all(ctx: Any, fn: Callable[[Any], Any]) -> Any:
    from streamforge.bloblang.executor import context_for

    batch = ctx.batch if ctx.batch is not None else [ctx.message]
    return [fn(context_for(ctx, i)) for i in range(len(batch))]


class _Maps:
    """The named maps of a mapping, applied by `.apply(name)` with a depth guard."""

    def __init__(self) -> None:
        self.fns: dict[str, Callable[..., Any]] = {}

    def apply(self, name: Any, value: Any, ctx: Any, mi: Any, mo: Any, depth: int) -> Any:
        fn = self.fns.get(name) if type(name) is str else None
        if fn is None:
            raise MappingError(f"map {name!r} was not found")
        if depth >= MAX_MAP_DEPTH:
            err = MappingError(
                f"map {name!r} exceeded the maximum of {MAX_MAP_DEPTH} nested applies, "
                "this could be due to unbounded recursion"
            )
            err.annotated = True  # type: ignore[attr-defined]
            raise err
        return fn(ctx, value, mi, mo, depth + 1)


_RUNTIME: dict[str, Any] = {
    "DELETED": DELETED,
    "NOTHING": NOTHING,
    "_BadThis": ops.BadThis,
    "_getf": ops.get_field,
    "_getp": ops.get_path,
    "_setp": ops.set_path,
    "_clone": ops.clone,
    "_add": ops.add,
    "_sub": ops.sub,
    "_mul": ops.mul,
    "_div": ops.div,
    "_mod": ops.mod,
    "_neg": ops.neg,
    "_eq": ops.eq,
    "_cmp": ops.compare,
    "_chkb": ops.check_bool,
    "_boolerr": _bool_error,
    "_annot": ops.annotate,
    "_fail": ops.fail,
    "_plain": ops.plain,
    "_errtext": ops.error_text,
    "_thrown": ops.thrown,
    "_arg": check_arg,
    "_metastr": _meta_string,
    "_metaall": _meta_set_all,
    "_novar": _no_var,
    "_dkey": _dynamic_key,
    "_nometa": _no_meta,
    "_from": _from,
    "_withthis": _with_this,
    "_fromall": _from_all,
    "_NUMS": frozenset({int, float}),
    "_I64MIN": -(2**63),
    "_I64MAX": 2**63 - 1,
    "_wrap": ops.wrap_int64,
}


class _Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.indent = 0
        self.depth = 0

    def line(self, text: str) -> None:
        self.lines.append("    " * self.indent + text)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.line(header + ":")
        self.indent += 1
        self.depth += 1
        start = len(self.lines)
        yield
        if len(self.lines) == start:
            self.line("pass")
        self.indent -= 1
        self.depth -= 1

    @contextmanager
    def function(self, header: str) -> Iterator[None]:
        saved = self.depth
        self.line(header + ":")
        self.indent += 1
        self.depth = 0
        start = len(self.lines)
        yield
        if len(self.lines) == start:
            self.line("pass")
        self.indent -= 1
        self.depth = saved


class Compiler:
    """Turns one parsed mapping (with its imports) into Python source and a code object."""

    def __init__(self, text: str, import_paths: Sequence[str] = ()) -> None:
        self.text = text
        self.import_paths = list(import_paths)
        self.ns: dict[str, Any] = dict(_RUNTIME)
        self.const_names: dict[tuple[type, Any], str] = {}
        self.counter = 0
        self.em = _Emitter()
        self.uses_this = False
        self.uses_vars = False
        self.needs_ctx = False
        self.batch_aware = False
        #: per-call-site functions that keep state a resumed stream must get back (`counter()`)
        self.stateful: list[Any] = []
        self.maps = _Maps()
        self.ns["_maps"] = self.maps
        self.map_defs: dict[str, tuple[ast.MapDef, str]] = {}
        self.cur_text = text
        self.base_dir: str | None = None

    # -- names and constants --
    def tmp(self, prefix: str = "_t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def bind(self, value: Any, prefix: str = "_k") -> str:
        name = self.tmp(prefix)
        self.ns[name] = value
        return name

    def const(self, value: Any) -> str:
        t = type(value)
        if value is None or t is bool:
            return repr(value)
        if t is int:
            return repr(value) if value >= 0 else f"({value!r})"
        if t is float and math.isfinite(value):
            return repr(value) if value >= 0 else f"({value!r})"
        if t is str and len(value) <= 200:
            return repr(value)
        key = (t, value) if t in (str, float, bytes) else None
        if key is not None and key in self.const_names:
            return self.const_names[key]
        name = self.bind(value)
        if key is not None:
            self.const_names[key] = name
        return name

    def error(self, pos: int, message: str) -> ParseError:
        return error_at(self.cur_text, pos, message)

    def atom(self, code: str) -> str:
        if _ATOM.match(code):
            return code
        name = self.tmp()
        self.em.line(f"{name} = {code}")
        return name

    def own(self, code: str) -> str:
        """A temporary of this function holding the value (safe to rebind and test)."""
        if re.match(r"^_t[0-9]+$", code):
            return code
        name = self.tmp()
        self.em.line(f"{name} = {code}")
        return name

    # -- annotations --
    def annotation(self, node: ast.Node) -> str:
        if isinstance(node, ast.Literal):
            return f"{type_name(node.value)} literal"
        if isinstance(node, ast.This):
            return "this"
        if isinstance(node, ast.Root):
            return "root"
        if isinstance(node, ast.Name):
            return f"field `this.{node.name}`"
        if isinstance(node, ast.Path):
            segs = ".".join(str(s) for s in node.segments)
            if isinstance(node.target, ast.This):
                return f"field `this.{segs}`"
            if isinstance(node.target, ast.Root):
                return f"field `root.{segs}`"
            if isinstance(node.target, ast.Name):
                return f"field `{node.target.name}.{segs}`"
            return f"field `{segs}`"
        if isinstance(node, ast.Var):
            return f"variable {node.name}"
        if isinstance(node, ast.MetaGet):
            return f"metadata value {node.key}" if node.key is not None else "metadata"
        if isinstance(node, ast.Call):
            return f"function {node.name}"
        if isinstance(node, ast.MethodCall):
            return f"method {node.name}"
        if isinstance(node, ast.BinOp):
            return self.annotation(node.right)
        if isinstance(node, ast.ObjectLit):
            return "object literal"
        if isinstance(node, ast.ArrayLit):
            return "array literal"
        if isinstance(node, ast.Match):
            return "match expression"
        if isinstance(node, ast.IfExpr):
            return "if expression"
        return "expression"

    # -- programs --
    def compile_program(self, mapping: ast.Mapping | None, query: ast.Node | None) -> Any:
        self.collect_maps(mapping, self.text, base_dir=self.base_dir) if mapping else None
        for name, (mdef, text) in self.map_defs.items():
            self.compile_map(name, mdef, text)
        self.cur_text = self.text
        em = self.em
        with em.function("def _main(ctx, _this, _mi, _mo, _root, _vars, _depth)"):
            scope = _Scope(this="_this", this_bad=True, this_dict="_td")
            flag_line = len(em.lines)
            em.line("_td = type(_this) is dict")
            if query is not None:
                try_name = self.tmp("_e")
                with em.block("try"):
                    code = self.expr(query, scope)
                    em.line(f"return {code}")
                with em.block(f"except Exception as {try_name}"):
                    em.line(f"raise _plain({try_name}) from None")
            else:
                assert mapping is not None
                self.statements(mapping.statements, scope)
                em.line("return _root")
        if self.uses_vars:
            em.lines.insert(flag_line + 1, "    if _vars is None: _vars = {}")
        if not self.uses_this:
            del em.lines[flag_line]
        source = "\n".join(em.lines) + "\n"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                code_obj = compile(source, "<bloblang>", "exec")
        except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
            raise ParseError(f"mapping is too complex to compile: {exc}", self.text, 1, 1) from None
        namespace = self.ns
        exec(code_obj, namespace)  # generated from the syntax tree only, see module docstring
        return namespace["_main"], source

    def mapping_dir(self) -> str | None:
        """The directory relative paths of the mapping start from (`file_rel`), if known."""
        return self.base_dir or (self.import_paths[0] if self.import_paths else None)

    def collect_maps(self, mapping: ast.Mapping, text: str, base_dir: str | None) -> None:
        for stmt in mapping.statements:
            if isinstance(stmt, ast.MapDef):
                if stmt.name in self.map_defs:
                    raise error_at(text, stmt.pos, f"map {stmt.name!r} declared twice")
                self.map_defs[stmt.name] = (stmt, text)
            elif isinstance(stmt, ast.Import):
                self.do_import(stmt, text, base_dir)

    def do_import(self, stmt: ast.Import, text: str, base_dir: str | None) -> None:
        path = self.resolve_import(stmt.path, base_dir)
        if path is None:
            raise error_at(text, stmt.pos, f"failed to import {stmt.path!r}: file not found")
        try:
            with open(path, encoding="utf-8") as fh:
                sub_text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise error_at(text, stmt.pos, f"failed to import {stmt.path!r}: {exc}") from None
        try:
            sub = parse_mapping(sub_text)
        except ParseError as exc:
            raise error_at(
                text, stmt.pos, f"failed to import {stmt.path!r}: {exc.reason} "
                f"(line {exc.line} char {exc.column} of the imported file)",
            ) from None  # fmt: skip
        for s in sub.statements:
            if not isinstance(s, (ast.MapDef, ast.Import)):
                raise error_at(
                    text, stmt.pos,
                    f"failed to import {stmt.path!r}: an imported file may only hold "
                    "map definitions and imports",
                )  # fmt: skip
        self.collect_maps(sub, sub_text, os.path.dirname(path))

    def resolve_import(self, name: str, base_dir: str | None) -> str | None:
        if os.path.isabs(name):
            return name if os.path.isfile(name) else None
        dirs = ([base_dir] if base_dir else []) + self.import_paths + [os.getcwd()]
        for d in dirs:
            candidate = os.path.join(d, name)
            if os.path.isfile(candidate):
                return candidate
        return None

    def compile_map(self, name: str, mdef: ast.MapDef, text: str) -> None:
        self.cur_text = text
        fn_name = self.tmp("_map")
        em = self.em
        with em.function(f"def {fn_name}(ctx, _this, _mi, _mo, _depth)"):
            em.line("_root = NOTHING")
            em.line("_vars = {}")
            scope = _Scope(this="_this", in_map=True, top=False)
            self.statements(mdef.body, scope)
            em.line("return _root")
        em.line(f"_maps.fns[{self.const(name)}] = {fn_name}")

    # -- statements --
    def statements(self, stmts: list[ast.Stmt], scope: _Scope) -> None:
        for stmt in stmts:
            if isinstance(stmt, ast.Assign):
                self.assign(stmt, scope)
            elif isinstance(stmt, ast.IfStmt):
                self.if_statement(stmt, scope)

    def assign(self, stmt: ast.Assign, scope: _Scope) -> None:
        em = self.em
        err = self.tmp("_e")
        with em.block("try"):
            value = self.expr(stmt.value, scope)
            container, special = _may_be(stmt.value)
            fresh = not container
            if stmt.kind == "root" and stmt.path == ():
                value = self.own(value)
                if not fresh:
                    em.line(f"if type({value}) is dict or type({value}) is list:")
                    em.line(f"    {value} = _clone({value})")
                if special:
                    with em.block(f"if {value} is not NOTHING"):
                        em.line(f"{scope.root} = {value}")
                else:
                    em.line(f"{scope.root} = {value}")
            elif stmt.kind == "root":
                v = self.own(value)
                if not fresh:
                    em.line(f"if type({v}) is dict or type({v}) is list:")
                    em.line(f"    {v} = _clone({v})")
                segs = self.bind(tuple(stmt.path), "_p")
                root = scope.root
                with em.block(f"if {v} is not NOTHING") if special else _NullContext():
                    if len(stmt.path) == 1:
                        key = self.const(str(stmt.path[0]))
                        live = f" and {v} is not DELETED" if special else ""
                        with em.block(f"if type({root}) is dict{live}"):
                            em.line(f"{root}[{key}] = {v}")
                        with em.block(f"elif {root} is NOTHING{live}"):
                            em.line(f"{root} = {{{key}: {v}}}")
                        with em.block("else"):
                            em.line(f"{root} = _setp({root}, {segs}, {v})")
                    else:
                        em.line(f"{root} = _setp({root}, {segs}, {v})")
            elif stmt.kind == "meta":
                v = self.own(value)
                if scope.in_map:
                    em.line(f"if {v} is not NOTHING: _nometa()")
                elif stmt.path:
                    key = self.const(str(stmt.path[0]))
                    with em.block(f"if {v} is DELETED"):
                        em.line(f"_mo.pop({key}, None)")
                    with em.block(f"elif {v} is not NOTHING"):
                        if not fresh:
                            em.line(f"if type({v}) is dict or type({v}) is list:")
                            em.line(f"    {v} = _clone({v})")
                        em.line(f"_mo[{key}] = {v}")
                else:
                    em.line(f"if {v} is not NOTHING: _metaall(_mo, {v})")
            else:
                self.uses_vars = True
                v = self.own(value)
                key = self.const(str(stmt.path[0]))
                with em.block(f"if {v} is DELETED"):
                    em.line(f"_vars.pop({key}, None)")
                with em.block(f"elif {v} is not NOTHING"):
                    em.line(f"_vars[{key}] = {v}")
        with em.block(f"except Exception as {err}"):
            em.line(f"raise _fail({err}, {stmt.line}) from None")

    def if_statement(self, stmt: ast.IfStmt, scope: _Scope) -> None:
        em = self.em
        done = self.tmp("_d")
        em.line(f"{done} = False")
        for i, (cond, body) in enumerate(stmt.branches):
            with em.block(f"if not {done}") if i else _NullContext():
                err = self.tmp("_e")
                c = self.tmp("_c")
                with em.block("try"):
                    code = self.expr(cond, scope)
                    em.line(f"{c} = {code}")
                    em.line(f"if {c} is not True and {c} is not False: _boolerr({c})")
                with em.block(f"except Exception as {err}"):
                    em.line(f"raise _fail({err}, {stmt.line}) from None")
                with em.block(f"if {c}"):
                    em.line(f"{done} = True")
                    self.statements(body, scope)
        if stmt.otherwise is not None:
            with em.block(f"if not {done}"):
                self.statements(stmt.otherwise, scope)

    # -- expressions --
    def expr(self, node: ast.Node, scope: _Scope) -> str:
        """Emit the statements `node` needs and return a Python expression of its value."""
        if self.em.depth >= _MAX_BLOCK_DEPTH and not isinstance(node, _SIMPLE):
            return self.hoisted(node, scope)
        method = getattr(self, "x_" + type(node).__name__)
        return method(node, scope)  # type: ignore[no-any-return]

    def hoisted(self, node: ast.Node, scope: _Scope) -> str:
        name = self.tmp("_h")
        em = self.em
        with em.function(f"def {name}()"):
            method = getattr(self, "x_" + type(node).__name__)
            code = method(node, scope)
            em.line(f"return {code}")
        return f"{name}()"

    def x_Literal(self, node: ast.Literal, scope: _Scope) -> str:
        return self.const(node.value)

    def x_ObjectLit(self, node: ast.ObjectLit, scope: _Scope) -> str:
        entries: list[tuple[str, str, bool]] = []
        for key, value in node.items:
            if isinstance(key, ast.Literal) and type(key.value) is str:
                k = self.const(key.value)
            else:
                k = self.atom(f"_dkey({self.expr(key, scope)})")
            dynamic = not isinstance(value, _FRESH)
            code = self.expr(value, scope)
            v = self.own(code) if dynamic else self.atom(code)
            if dynamic:
                self.em.line(f"if type({v}) is dict or type({v}) is list: {v} = _clone({v})")
            entries.append((k, v, dynamic))
        name = self.tmp()
        self.em.line(f"{name} = {{" + ", ".join(f"{k}: {v}" for k, v, _ in entries) + "}")
        for k, v, dynamic in entries:
            if dynamic:
                self.em.line(f"if {v} is DELETED or {v} is NOTHING: {name}.pop({k}, None)")
        return name

    def x_ArrayLit(self, node: ast.ArrayLit, scope: _Scope) -> str:
        items: list[str] = []
        dynamic = False
        for item in node.items:
            code = self.expr(item, scope)
            v = self.atom(code) if isinstance(item, _FRESH) else self.own(code)
            if not isinstance(item, _FRESH):
                dynamic = True
                self.em.line(f"if type({v}) is dict or type({v}) is list: {v} = _clone({v})")
            items.append(v)
        name = self.tmp()
        self.em.line(f"{name} = [" + ", ".join(items) + "]")
        if dynamic:
            self.em.line(
                f"{name} = [_x for _x in {name} if _x is not DELETED and _x is not NOTHING]"
            )
        return name

    def this_ref(self, scope: _Scope) -> str:
        if scope.top:
            self.uses_this = True
        return scope.this

    def x_This(self, node: ast.This, scope: _Scope) -> str:
        this = self.this_ref(scope)
        if scope.this_bad:
            self.em.line(f"if type({this}) is _BadThis: {this}.fail()")
        return this

    def x_Root(self, node: ast.Root, scope: _Scope) -> str:
        return scope.root

    def x_Name(self, node: ast.Name, scope: _Scope) -> str:
        if node.name in scope.names:
            return scope.names[node.name]
        return self.path_from(self.this_ref(scope), (node.name,), scope.this_dict)

    def x_Var(self, node: ast.Var, scope: _Scope) -> str:
        self.uses_vars = True
        key = self.const(node.name)
        return f"(_vars[{key}] if {key} in _vars else _novar({key}))"

    def x_MetaGet(self, node: ast.MetaGet, scope: _Scope) -> str:
        if node.key is None:
            return "_clone(_mo)"
        return f"_mo.get({self.const(node.key)})"

    def path_from(
        self, base: str, segments: Sequence[str | int], dict_flag: str | None = None
    ) -> str:
        cur = base
        for i, seg in enumerate(segments):
            cur = self.atom(cur)
            if type(seg) is str:
                k = self.const(seg)
                test = dict_flag if (i == 0 and dict_flag) else f"type({cur}) is dict"
                code = f"({cur}.get({k}) if {test} else _getf({cur}, {k}))"
            else:
                code = f"_getf({cur}, {seg!r})"
            if i == len(segments) - 1:
                return code
            cur = code
        return cur

    def x_Path(self, node: ast.Path, scope: _Scope) -> str:
        target = node.target
        if isinstance(target, ast.This):
            return self.path_from(self.this_ref(scope), node.segments, scope.this_dict)
        if isinstance(target, ast.Name) and target.name not in scope.names:
            segments = (target.name,) + tuple(node.segments)
            return self.path_from(self.this_ref(scope), segments, scope.this_dict)
        return self.path_from(self.expr(target, scope), node.segments)

    # -- operators --
    def x_Not(self, node: ast.Not, scope: _Scope) -> str:
        v = self.own(self.expr(node.operand, scope))
        return f"(False if {v} is True else True if {v} is False else _chkb({v}))"

    def x_Neg(self, node: ast.Neg, scope: _Scope) -> str:
        v = self.atom(self.expr(node.operand, scope))
        ann = self.const(self.annotation(node.operand))
        return f"(-{v} if type({v}) in _NUMS and {v} != _I64MIN else _neg({v}, {ann}))"

    def x_BinOp(self, node: ast.BinOp, scope: _Scope) -> str:
        op = node.op
        if op == "|":
            return self.coalesce(node.left, node.right, scope, catch_all=True)
        if op in ("&&", "||"):
            return self.boolean(node, scope)
        lnode, rnode = node.left, node.right
        left = self.atom(self.expr(lnode, scope))
        right = self.atom(self.expr(rnode, scope))
        lnum = isinstance(lnode, ast.Literal) and type(lnode.value) in (int, float)
        rnum = isinstance(rnode, ast.Literal) and type(rnode.value) in (int, float)
        if op in ("+", "-", "*", "/", "%", ">", ">=", "<", "<="):
            anns = self.bind((self.annotation(lnode), self.annotation(rnode)), "_a")
            checks = []
            if not lnum:
                checks.append(f"type({left}) in _NUMS")
            if not rnum:
                checks.append(f"type({right}) in _NUMS")
            if op == "/" and not (rnum and rnode.value != 0):  # type: ignore[attr-defined]
                checks.append(f"{right}")
            guard = " and ".join(checks) or "True"
            slow = {
                "+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod",
            }.get(op)  # fmt: skip
            if op == "%":
                return f"_mod({left}, {right}, {anns})"
            if slow:
                if op == "+":
                    guard = f"({guard}) or (type({left}) is str and type({right}) is str)"
                code = f"({left} {op} {right} if {guard} else {slow}({left}, {right}, {anns}))"
                if op == "/":
                    return code
                res = self.tmp()
                self.em.line(f"{res} = {code}")
                in_range = f"type({res}) is not int or _I64MIN <= {res} <= _I64MAX"
                return f"({res} if {in_range} else _wrap({res}))"
            return f"({left} {op} {right} if {guard} else _cmp({op!r}, {left}, {right}, {anns}))"
        if op in ("==", "!="):
            code = self.equality(lnode, rnode, left, right)
            return code if op == "==" else f"(not {code})"
        raise self.error(node.pos, f"unknown operator {op}")

    def equality(self, lnode: ast.Node, rnode: ast.Node, left: str, right: str) -> str:
        for lit_node, other in ((rnode, left), (lnode, right)):
            if isinstance(lit_node, ast.Literal):
                value = lit_node.value
                lit = self.const(value)
                if value is None:
                    return f"({other} is None)"
                if type(value) is bool:
                    return f"({other} is {lit})"
                if type(value) is str:
                    return f"({other} == {lit} or type({other}) is bytes and _eq({other}, {lit}))"
                if type(value) in (int, float):
                    return f"(type({other}) in _NUMS and {other} == {lit})"
        return f"_eq({left}, {right})"

    def boolean(self, node: ast.BinOp, scope: _Scope) -> str:
        em = self.em
        result = self.tmp()
        left = self.own(self.expr(node.left, scope))
        short = "False" if node.op == "&&" else "True"
        go_on = "True" if node.op == "&&" else "False"
        with em.block(f"if {left} is {go_on}"):
            right = self.own(self.expr(node.right, scope))
            em.line(f"if {right} is not True and {right} is not False: _boolerr({right})")
            em.line(f"{result} = {right}")
        with em.block(f"elif {left} is {short}"):
            em.line(f"{result} = {short}")
        with em.block("else"):
            em.line(f"{result} = _boolerr({left})")
        return result

    def coalesce(self, left: ast.Node, right: ast.Node, scope: _Scope, catch_all: bool) -> str:
        em = self.em
        result = self.tmp()
        with em.block("try"):
            code = self.expr(left, scope)
            em.line(f"{result} = {code}")
        with em.block("except Exception"):
            em.line(f"{result} = None")
        with em.block(f"if {result} is None"):
            code = self.expr(right, scope)
            em.line(f"{result} = {code}")
        return result

    # -- conditionals --
    def x_IfExpr(self, node: ast.IfExpr, scope: _Scope) -> str:
        em = self.em
        result = self.tmp()
        done = self.tmp("_d")
        em.line(f"{result} = NOTHING")
        em.line(f"{done} = False")
        for i, (cond, body) in enumerate(node.branches):
            with em.block(f"if not {done}") if i else _NullContext():
                c = self.own(self.expr(cond, scope))
                em.line(f"if {c} is not True and {c} is not False: _boolerr({c})")
                with em.block(f"if {c}"):
                    em.line(f"{done} = True")
                    code = self.expr(body, scope)
                    em.line(f"{result} = {code}")
        if node.otherwise is not None:
            with em.block(f"if not {done}"):
                code = self.expr(node.otherwise, scope)
                em.line(f"{result} = {code}")
        return result

    def x_Match(self, node: ast.Match, scope: _Scope) -> str:
        em = self.em
        if any(isinstance(p, (ast.ObjectLit, ast.ArrayLit)) for p, _ in node.cases):
            cases: list[tuple[ast.Node | None, ast.Node]] = []
            for pattern, body in node.cases:
                static, value = _static_value(pattern) if pattern is not None else (False, None)
                if static and pattern is not None:
                    pattern = ast.Literal(pattern.pos, value)
                cases.append((pattern, body))
            node = ast.Match(node.pos, node.subject, cases)
        inner = scope
        if node.subject is not None:
            subject = self.own(self.expr(node.subject, scope))
            inner = replace(scope, this=subject, this_bad=False, top=False, this_dict=None)
        this_code = inner.this
        result = self.tmp()
        if all(p is None or isinstance(p, ast.Literal) for p, _ in node.cases):
            if inner is scope:
                this_code = self.atom(self.x_This(ast.This(node.pos), scope))
            em.line(f"{result} = NOTHING")
            for i, (pattern, body) in enumerate(node.cases):
                if pattern is None:
                    header = "else" if i else "if True"
                else:
                    assert isinstance(pattern, ast.Literal)
                    cond = self.equality(
                        ast.This(0), pattern, this_code, self.const_any(pattern.value)
                    )
                    header = f"elif {cond}" if i else f"if {cond}"
                with em.block(header):
                    code = self.expr(body, inner)
                    em.line(f"{result} = {code}")
                if pattern is None:
                    break
            return result
        done = self.tmp("_d")
        em.line(f"{result} = NOTHING")
        em.line(f"{done} = False")
        for i, (pattern, body) in enumerate(node.cases):
            with em.block(f"if not {done}") if i else _NullContext():
                if pattern is None:
                    cond = "True"
                elif isinstance(pattern, ast.Literal):
                    if inner is scope:
                        this_code = self.this_ref(scope)
                    cond = self.own(
                        self.equality(
                            ast.This(0), pattern, this_code, self.const_any(pattern.value)
                        )
                    )
                else:
                    c = self.own(self.expr(pattern, inner))
                    em.line(f"if {c} is not True and {c} is not False: _boolerr({c})")
                    cond = c
                with em.block(f"if {cond}"):
                    em.line(f"{done} = True")
                    code = self.expr(body, inner)
                    em.line(f"{result} = {code}")
        return result

    # -- lambdas and contexts --
    def x_ContextMap(self, node: ast.ContextMap, scope: _Scope) -> str:
        target = self.own(self.expr(node.target, scope))
        lam = node.body
        if lam.param is not None:
            inner = replace(scope, names={**scope.names, lam.param: target})
        else:
            inner = replace(scope, this=target, this_bad=False, top=False, this_dict=None)
        return self.expr(lam.body, inner)

    def x_Lambda(self, node: ast.Lambda, scope: _Scope) -> str:
        raise self.error(node.pos, "a lambda is only allowed as a method argument or in '.( )'")

    def query_function(self, node: ast.Node, scope: _Scope) -> str:
        """A nested function `q(value)` evaluating `node` with its context bound to value."""
        name = self.tmp("_q")
        param = self.tmp("_v")
        em = self.em
        if isinstance(node, ast.Lambda) and node.param is not None:
            inner = replace(scope, names={**scope.names, node.param: param})
            body = node.body
        else:
            if isinstance(node, ast.Lambda):
                node = node.body
            inner = replace(scope, this=param, this_bad=False, top=False, this_dict=None)
            body = node
        with em.function(f"def {name}({param})"):
            code = self.expr(body, inner)
            em.line(f"return {code}")
        return name

    # -- calls --
    def bind_args(
        self,
        node: ast.Call | ast.MethodCall,
        params: tuple[Param, ...],
        variadic: bool,
        what: str,
    ) -> list[tuple[Param | None, ast.Node | None]]:
        bound: list[tuple[Param | None, ast.Node | None]] = []
        if len(node.args) > len(params) and not variadic:
            raise self.error(
                node.pos, f"{what}: wrong number of arguments, expected at most "
                f"{len(params)}, got {len(node.args)}",
            )  # fmt: skip
        names = {p.name for p in params}
        for key in node.kwargs:
            if key not in names:
                hint = _did_you_mean(key, names)
                raise self.error(node.pos, f"{what}: unknown named argument {key!r}{hint}")
        for i, p in enumerate(params):
            if i < len(node.args):
                if p.name in node.kwargs:
                    raise self.error(node.pos, f"{what}: argument {p.name!r} given twice")
                bound.append((p, node.args[i]))
            elif p.name in node.kwargs:
                bound.append((p, node.kwargs[p.name]))
            elif p.required:
                raise self.error(node.pos, f"{what}: missing required argument {p.name!r}")
            else:
                bound.append((p, None))
        for extra in node.args[len(params) :]:
            bound.append((None, extra))
        # trailing omitted optional args are passed as their defaults
        return bound

    def call_args(
        self, bound: list[tuple[Param | None, ast.Node | None]], scope: _Scope, what: str
    ) -> list[str]:
        out: list[str] = []
        for p, arg in bound:
            if arg is None:
                assert p is not None
                out.append(self.const_any(p.default))
                continue
            kind = p.kind if p is not None else "any"
            if kind == "query":
                out.append(self.query_function(arg, scope))
                continue
            if isinstance(arg, ast.Lambda):
                raise self.error(arg.pos, f"{what}: argument {p.name if p else ''!r} "
                                          "does not accept a lambda")  # fmt: skip
            if isinstance(arg, ast.Literal) and kind != "any":
                try:
                    value = check_arg(kind, arg.value, f"{what}: argument {p.name if p else ''}")
                    if p is not None and p.prepare is not None:
                        value = p.prepare(value)
                except MappingError as exc:
                    raise self.error(arg.pos, exc.reason) from None
                out.append(self.const_any(value))
                continue
            code = self.atom(self.expr(arg, scope))
            if kind != "any":
                where = self.const(f"{what}: argument {p.name if p else ''}")
                code = self.atom(f"_arg({kind!r}, {code}, {where})")
            out.append(code)
        return out

    def const_any(self, value: Any) -> str:
        if value is None or type(value) in (bool, int, float, str):
            return self.const(value)
        return self.bind(value)

    def x_Call(self, node: ast.Call, scope: _Scope) -> str:
        name = node.name
        if name in BATCH_FUNCTIONS:
            self.batch_aware = True
        if name == "deleted" and not node.args and not node.kwargs:
            return "DELETED"
        if name in ("meta", "metadata") and len(node.args) == 1 and not node.kwargs:
            arg = node.args[0]
            if isinstance(arg, ast.Literal) and type(arg.value) is str:
                read = f"_mi.get({self.const(arg.value)})"
                return f"_metastr({read})" if name == "meta" else read
        if name == "throw" and len(node.args) == 1 and not node.kwargs:
            msg = self.atom(self.expr(node.args[0], scope))
            self.em.line(f"raise _thrown({msg})")
            return "None"
        spec = functions.get(name)
        if spec is None:
            hint = _did_you_mean(name, functions)
            raise self.error(node.pos, f"unrecognised function '{name}'{hint}")
        what = f"function {name}"
        bound = self.bind_args(node, spec.params, spec.variadic, what)
        args = self.call_args(bound, scope, what)
        impl = spec.impl(self.mapping_dir()) if spec.per_call_site else spec.impl
        if hasattr(impl, "resume_state"):
            self.stateful.append(impl)
        fn = self.bind(impl, "_f")
        if spec.needs_ctx:
            self.needs_ctx = True
            if scope.top or not any(p is not None and p.kind == "query" for p, _ in bound):
                args.insert(0, "ctx")
            else:
                args.insert(0, f"_withthis(ctx, {scope.this})")
        return f"{fn}({', '.join(args)})"

    def x_MethodCall(self, node: ast.MethodCall, scope: _Scope) -> str:
        name = node.name
        if name in SPECIAL_METHODS:
            return getattr(self, "m_" + name)(node, scope)  # type: ignore[no-any-return]
        spec = methods.get(name)
        if spec is None:
            hint = _did_you_mean(name, set(methods) | SPECIAL_METHODS)
            raise self.error(node.pos, f"unrecognised method '{name}'{hint}")
        what = f"method {name}"
        target = self.atom(self.expr(node.target, scope))
        bound = self.bind_args(node, spec.params, spec.variadic, what)
        args = self.call_args(bound, scope, what)
        impl = spec.impl(self.mapping_dir()) if spec.per_call_site else spec.impl
        if hasattr(impl, "resume_state"):
            self.stateful.append(impl)
        fn = self.bind(impl, "_f")
        args.insert(0, target)
        if spec.needs_ctx:
            self.needs_ctx = True
            args.insert(0, "ctx")
        ann = self.const(self.annotation(node.target))
        result = self.tmp()
        err = self.tmp("_e")
        em = self.em
        with em.block("try"):
            em.line(f"{result} = {fn}({', '.join(args)})")
        with em.block(f"except Exception as {err}"):
            em.line(f"raise _annot({err}, {ann}) from None")
        return result

    def one_arg(self, node: ast.MethodCall, pname: str, required: bool = True) -> ast.Node | None:
        if len(node.args) + len(node.kwargs) > 1:
            raise self.error(node.pos, f"method {node.name}: expected one argument")
        if node.kwargs and pname not in node.kwargs:
            key = next(iter(node.kwargs))
            raise self.error(node.pos, f"method {node.name}: unknown named argument {key!r}")
        arg = node.args[0] if node.args else node.kwargs.get(pname)
        if arg is None and required:
            raise self.error(node.pos, f"method {node.name}: missing required argument {pname!r}")
        return arg

    def m_catch(self, node: ast.MethodCall, scope: _Scope) -> str:
        fallback = self.one_arg(node, "fallback")
        assert fallback is not None
        em = self.em
        result = self.tmp()
        err = self.tmp("_e")
        with em.block("try"):
            code = self.expr(node.target, scope)
            em.line(f"{result} = {code}")
        with em.block(f"except Exception as {err}"):
            etext = self.tmp()
            em.line(f"{etext} = _errtext({err})")
            if isinstance(fallback, ast.Lambda) and fallback.param is not None:
                inner = replace(scope, names={**scope.names, fallback.param: etext})
                body = fallback.body
            else:
                body = fallback.body if isinstance(fallback, ast.Lambda) else fallback
                inner = replace(scope, this=etext, this_bad=False, top=False, this_dict=None)
            code = self.expr(body, inner)
            em.line(f"{result} = {code}")
        return result

    def m_or(self, node: ast.MethodCall, scope: _Scope) -> str:
        fallback = self.one_arg(node, "fallback")
        assert fallback is not None
        if isinstance(fallback, ast.Lambda):
            raise self.error(fallback.pos, "method or: argument does not accept a lambda")
        return self.coalesce(node.target, fallback, scope, catch_all=True)

    def m_apply(self, node: ast.MethodCall, scope: _Scope) -> str:
        arg = self.one_arg(node, "mapping")
        assert arg is not None
        if isinstance(arg, ast.Literal):
            if type(arg.value) is not str:
                raise self.error(arg.pos, "method apply: expected string value for mapping")
            if arg.value not in self.map_defs:
                hint = _did_you_mean(arg.value, self.map_defs)
                raise self.error(arg.pos, f"map {arg.value!r} was not found{hint}")
        target = self.atom(self.expr(node.target, scope))
        name = self.atom(self.expr(arg, scope))
        ann = self.const(self.annotation(node.target))
        result = self.tmp()
        err = self.tmp("_e")
        with self.em.block("try"):
            self.em.line(f"{result} = _maps.apply({name}, {target}, ctx, _mi, _mo, _depth)")
        with self.em.block(f"except Exception as {err}"):
            self.em.line(f"raise _annot({err}, {ann}) from None")
        return result

    def from_target(self, node: ast.MethodCall, scope: _Scope) -> str:
        """The method target as a function of a context (another message of the batch)."""
        self.needs_ctx = True
        name = self.tmp("_fr")
        em = self.em
        with em.function(f"def {name}(ctx)"):
            em.line("_this = ctx.this")
            em.line("_mi = ctx.meta_in")
            inner = replace(scope, this="_this", this_bad=True, top=False, this_dict=None)
            code = self.expr(node.target, inner)
            em.line(f"return {code}")
        return name

    def m_from(self, node: ast.MethodCall, scope: _Scope) -> str:
        self.batch_aware = True
        arg = self.one_arg(node, "index")
        assert arg is not None
        fn = self.from_target(node, scope)
        index = self.atom(self.expr(arg, scope))
        return f"_from(ctx, {fn}, {index})"

    def m_from_all(self, node: ast.MethodCall, scope: _Scope) -> str:
        self.batch_aware = True
        if node.args or node.kwargs:
            raise self.error(node.pos, "method from_all: expected no arguments")
        fn = self.from_target(node, scope)
        return f"_fromall(ctx, {fn})"


_SIMPLE = (ast.Literal, ast.This, ast.Root, ast.Var, ast.MetaGet, ast.Name)
_SCALAR_OPS = frozenset({"+", "-", "*", "/", "%", "==", "!=", ">", ">=", "<", "<=", "&&", "||"})


def _may_be(node: ast.Node) -> tuple[bool, bool]:
    """Whether a node's value may be (a container shared with the input, DELETED/NOTHING)."""
    if isinstance(node, ast.Literal):
        return False, False
    if isinstance(node, (ast.ObjectLit, ast.ArrayLit)):
        return False, False
    if isinstance(node, (ast.Not, ast.Neg)):
        return False, False
    if isinstance(node, ast.BinOp):
        if node.op in _SCALAR_OPS:
            return False, False
        lc, ls = _may_be(node.left)
        rc, rs = _may_be(node.right)
        return lc or rc, ls or rs
    if isinstance(node, (ast.Path, ast.Name, ast.Var, ast.This)):
        return True, isinstance(node, ast.This)
    if isinstance(node, ast.MetaGet):
        return node.key is not None, False
    if isinstance(node, ast.Match):
        results = [_may_be(body) for _, body in node.cases]
        exhaustive = any(p is None for p, _ in node.cases)
        return any(c for c, _ in results), (not exhaustive) or any(s for _, s in results)
    if isinstance(node, ast.IfExpr):
        bodies = [b for _, b in node.branches] + ([node.otherwise] if node.otherwise else [])
        results = [_may_be(b) for b in bodies]
        return (
            any(c for c, _ in results),
            node.otherwise is None or any(s for _, s in results),
        )
    return True, True


def _static_value(node: ast.Node) -> tuple[bool, Any]:
    """The value of a literal made only of constants (object and array literals included)."""
    if isinstance(node, ast.Literal):
        return True, node.value
    if isinstance(node, ast.ArrayLit):
        items = []
        for item in node.items:
            ok, value = _static_value(item)
            if not ok:
                return False, None
            items.append(value)
        return True, items
    if isinstance(node, ast.ObjectLit):
        obj: dict[str, Any] = {}
        for key, item in node.items:
            if not (isinstance(key, ast.Literal) and type(key.value) is str):
                return False, None
            ok, value = _static_value(item)
            if not ok:
                return False, None
            obj[key.value] = value
        return True, obj
    return False, None


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _did_you_mean(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f", did you mean '{close[0]}'?" if close else ""


def _program(
    text: str,
    mapping: ast.Mapping | None,
    query: ast.Node | None,
    import_paths: Sequence[str],
    base_dir: str | None = None,
) -> CompiledProgram:
    compiler = Compiler(text, import_paths)
    compiler.base_dir = base_dir
    try:
        main, source = compiler.compile_program(mapping, query)
    except RecursionError:
        raise ParseError("mapping is nested too deeply", text, 1, 1) from None
    return CompiledProgram(
        main,
        compiler.uses_this,
        compiler.needs_ctx,
        source,
        query is not None,
        tuple(compiler.stateful),
        compiler.batch_aware,
        _uses_meta_out(source),
    )


_META_OUT = re.compile(r"\b_mo\b")


def _uses_meta_out(source: str) -> bool:
    """Whether generated code touches `_mo` anywhere but in function signatures."""
    return any(
        _META_OUT.search(line)
        for line in source.splitlines()
        if not line.lstrip().startswith("def ")
    )


def _from_file_target(text: str) -> tuple[str, int] | None:
    """The path of a mapping written as `from "<path>"` (the whole mapping lives in a file)."""
    try:
        tokens = tokenize(text)
    except ParseError:
        return None
    kinds = [t for t in tokens if t.kind != NL]
    if (
        len(kinds) == 3
        and kinds[0].kind == IDENT
        and kinds[0].value == "from"
        and kinds[1].kind == STR
        and kinds[2].kind == EOF
    ):
        return kinds[1].value, kinds[0].pos
    return None


def compile_mapping(text: str, import_paths: Sequence[str] = ()) -> CompiledProgram:
    """Parse and compile a mapping (or the mapping file named by `from "<path>"`)."""
    target = _from_file_target(text)
    if target is None:
        return _program(text, parse_mapping(text), None, import_paths)
    name, pos = target
    path = Compiler(text, import_paths).resolve_import(name, None)
    if path is None:
        raise error_at(text, pos, f"failed to read import: {name}: no such file")
    try:
        with open(path, encoding="utf-8") as fh:
            sub_text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise error_at(text, pos, f"failed to read import: {name}: {exc}") from None
    try:
        mapping = parse_mapping(sub_text)
    except ParseError as exc:
        raise error_at(
            text, pos, f"failed to import {name!r}: {exc.reason} "
            f"(line {exc.line} char {exc.column} of the imported file)",
        ) from None  # fmt: skip
    try:
        return _program(sub_text, mapping, None, import_paths, os.path.dirname(path))
    except ParseError as exc:
        raise error_at(text, pos, f"failed to import {name!r}: {exc.reason}") from None


def compile_query(text: str) -> CompiledProgram:
    """Parse and compile one query expression."""
    from streamforge.bloblang.parser import parse_query_ast

    return _program(text, None, parse_query_ast(text), ())
