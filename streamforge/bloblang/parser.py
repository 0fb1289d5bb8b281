"""Bloblang parser: tokens to the syntax tree of a mapping or of a single query."""

from __future__ import annotations

from typing import Any

from streamforge.bloblang import ast
from streamforge.bloblang.errors import ParseError
from streamforge.bloblang.lexer import (
    EOF,
    IDENT,
    META,
    NL,
    NUM,
    OP,
    RAW,
    STR,
    VAR,
    Token,
    error_at,
    line_col,
    tokenize,
)  # fmt: skip

__all__ = ["parse_mapping", "parse_query_ast", "MAX_DEPTH"]

#: deepest nesting of expressions and blocks accepted
MAX_DEPTH = 48

_BINARY_PREC = {
    "*": 4, "/": 4, "%": 4, "|": 4,
    "+": 3, "-": 3,
    "==": 2, "!=": 2, ">": 2, ">=": 2, "<": 2, "<=": 2,
    "&&": 1, "||": 1,
}  # fmt: skip


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- token helpers ------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, n: int = 1) -> Token:
        j = min(self.i + n, len(self.tokens) - 1)
        return self.tokens[j]

    def advance(self) -> Token:
        t = self.tokens[self.i]
        if t.kind != EOF:
            self.i += 1
        return t

    def is_op(self, value: str, tok: Token | None = None) -> bool:
        t = tok or self.tok
        return t.kind == OP and t.value == value

    def is_word(self, value: str, tok: Token | None = None) -> bool:
        t = tok or self.tok
        return t.kind == IDENT and t.value == value

    def error(self, message: str, tok: Token | None = None) -> ParseError:
        t = tok or self.tok
        pos = t.pos
        if t.kind == EOF:
            content_end = len(self.text.rstrip())
            if "\n" in self.text[content_end:]:
                pos = content_end
        return error_at(self.text, pos, message)

    def expected(self, what: str) -> ParseError:
        return self.error(f"expected {what}, got {self.tok.describe()}")

    def expect_op(self, value: str) -> Token:
        if not self.is_op(value):
            raise self.expected(f"'{value}'")
        return self.advance()

    def skip_nl(self) -> None:
        while self.tok.kind == NL:
            self.i += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"mapping is nested too deeply (more than {MAX_DEPTH} levels)")

    def leave(self) -> None:
        self.depth -= 1

    def line_of(self, pos: int) -> int:
        return line_col(self.text, pos)[0]

    # -- mapping ------------------------------------------------------------------------
    def parse_mapping(self) -> ast.Mapping:
        mapping = ast.Mapping()
        self.skip_nl()
        while self.tok.kind != EOF:
            stmt = self.parse_statement(top=True)
            if isinstance(stmt, ast.MapDef):
                if stmt.name in mapping.maps:
                    raise error_at(self.text, stmt.pos, f"map {stmt.name!r} declared twice")
                mapping.maps[stmt.name] = stmt
            mapping.statements.append(stmt)
            self.end_of_statement()
        return mapping

    def end_of_statement(self) -> None:
        if self.tok.kind == EOF:
            return
        if self.tok.kind != NL:
            raise self.expected("end of statement (a line break)")
        self.skip_nl()

    def parse_block(self) -> list[ast.Stmt]:
        self.enter()
        self.expect_op("{")
        self.skip_nl()
        body: list[ast.Stmt] = []
        while not self.is_op("}"):
            if self.tok.kind == EOF:
                raise self.expected("'}'")
            body.append(self.parse_statement(top=False))
            if not self.is_op("}"):
                if self.tok.kind != NL:
                    raise self.expected("a line break or '}'")
                self.skip_nl()
        self.advance()
        self.leave()
        return body

    def parse_statement(self, top: bool) -> ast.Stmt:
        t = self.tok
        if t.kind == IDENT:
            nxt = self.peek()
            if t.value == "import" and nxt.kind == STR:
                if not top:
                    raise self.error("import is only allowed at the top level of a mapping")
                self.advance()
                return ast.Import(t.pos, self.advance().value)
            if t.value == "map" and nxt.kind == IDENT:
                if not top:
                    raise self.error("map definitions are only allowed at the top level")
                self.advance()
                name = self.advance().value
                return ast.MapDef(t.pos, name, self.parse_block())
            if t.value == "let" and nxt.kind in (IDENT, STR):
                self.advance()
                name = self.advance().value
                return self.finish_assign(t, "var", (name,))
            if t.value == "meta" and not self.is_op(".", nxt):
                self.advance()
                if self.tok.kind in (IDENT, STR, NUM) and not self.is_op("=", self.tok):
                    key = str(self.advance().value)
                    return self.finish_assign(t, "meta", (key,))
                return self.finish_assign(t, "meta", ())
            if t.value == "if":
                return self.parse_if_statement()
        if t.kind == META:
            self.advance()
            return self.finish_assign(t, "meta", () if t.value is None else (t.value,))
        if t.kind in (IDENT, STR):
            path = self.parse_target_path()
            return self.finish_assign(t, "root", path)
        raise self.expected("a statement (an assignment, let, meta, map, import or if)")

    def parse_target_path(self) -> tuple[str | int, ...]:
        t = self.advance()
        segments: list[str | int] = []
        if not (t.kind == IDENT and t.value in ("root", "this")):
            segments.append(str(t.value))
        while self.is_op("."):
            self.advance()
            seg = self.tok
            if seg.kind in (IDENT, STR, NUM) and not isinstance(seg.value, float):
                segments.append(str(seg.value))
                self.advance()
            else:
                raise self.expected("a path segment")
        return tuple(segments)

    def finish_assign(self, start: Token, kind: str, path: tuple[str | int, ...]) -> ast.Assign:
        if not self.is_op("="):
            raise self.expected("'='")
        self.advance()
        self.skip_nl()
        value = self.parse_expr()
        return ast.Assign(start.pos, kind, path, value, self.line_of(start.pos))

    def parse_if_statement(self) -> ast.IfStmt:
        start = self.advance()
        branches: list[tuple[ast.Node, list[ast.Stmt]]] = []
        cond = self.parse_expr()
        branches.append((cond, self.parse_block()))
        otherwise: list[ast.Stmt] | None = None
        while self.is_word("else"):
            self.advance()
            if self.is_word("if"):
                self.advance()
                cond = self.parse_expr()
                branches.append((cond, self.parse_block()))
            else:
                otherwise = self.parse_block()
                break
        return ast.IfStmt(start.pos, branches, otherwise, self.line_of(start.pos))

    # -- expressions ----------------------------------------------------------------------
    def parse_expr(self) -> ast.Node:
        self.enter()
        node = self.parse_binary(0)
        self.leave()
        return node

    def parse_binary(self, min_prec: int) -> ast.Node:
        left = self.parse_unary()
        while True:
            t = self.tok
            if t.kind != OP or t.value not in _BINARY_PREC:
                return left
            prec = _BINARY_PREC[t.value]
            if prec <= min_prec:
                return left
            self.advance()
            self.skip_nl()
            right = self.parse_binary(prec)
            left = ast.BinOp(t.pos, t.value, left, right)

    def parse_unary(self) -> ast.Node:
        t = self.tok
        if self.is_op("!"):
            self.advance()
            self.enter()
            node: ast.Node = ast.Not(t.pos, self.parse_unary())
            self.leave()
            return node
        if self.is_op("-"):
            self.advance()
            self.enter()
            operand = self.parse_unary()
            self.leave()
            if isinstance(operand, ast.Literal) and type(operand.value) in (int, float):
                return ast.Literal(t.pos, -operand.value)
            return ast.Neg(t.pos, operand)
        return self.parse_postfix(self.parse_primary())

    def parse_postfix(self, node: ast.Node) -> ast.Node:
        while True:
            if self.tok.kind == NL:
                j = self.i
                while self.tokens[j].kind == NL:
                    j += 1
                if not self.is_op(".", self.tokens[j]):
                    return node
                self.i = j
            if not self.is_op("."):
                return node
            dot = self.advance()
            while self.tok.kind == NL:
                self.i += 1
            seg = self.tok
            if seg.kind == IDENT and self.is_op("(", self.peek()):
                self.advance()
                args, kwargs = self.parse_args()
                node = ast.MethodCall(seg.pos, node, seg.value, args, kwargs)
            elif seg.kind in (IDENT, STR) or (seg.kind == NUM and type(seg.value) is int):
                self.advance()
                value: str | int = seg.value
                if isinstance(node, ast.Path):
                    node = ast.Path(node.pos, node.target, node.segments + (value,))
                else:
                    node = ast.Path(dot.pos, node, (value,))
            elif self.is_op("("):
                self.advance()
                self.enter()
                self.skip_nl()
                body = self.parse_lambda_or_expr()
                self.skip_nl()
                self.expect_op(")")
                self.leave()
                if not isinstance(body, ast.Lambda):
                    body = ast.Lambda(body.pos, None, body)
                node = ast.ContextMap(dot.pos, node, body)
            else:
                raise self.expected("a field name, method or '(' after '.'")

    def parse_lambda_or_expr(self) -> ast.Node:
        t = self.tok
        if t.kind == IDENT and self.is_op("->", self.peek()):
            self.advance()
            self.advance()
            self.skip_nl()
            return ast.Lambda(t.pos, t.value, self.parse_expr())
        return self.parse_expr()

    def parse_args(self) -> tuple[list[ast.Node], dict[str, ast.Node]]:
        self.enter()
        self.expect_op("(")
        args: list[ast.Node] = []
        kwargs: dict[str, ast.Node] = {}
        self.skip_nl()
        while not self.is_op(")"):
            t = self.tok
            if t.kind == IDENT and self.is_op(":", self.peek()):
                self.advance()
                self.advance()
                self.skip_nl()
                if t.value in kwargs:
                    raise self.error(f"duplicate named argument {t.value!r}", t)
                kwargs[t.value] = self.parse_lambda_or_expr()
            else:
                if kwargs:
                    raise self.error("cannot mix named and nameless arguments")
                args.append(self.parse_lambda_or_expr())
            self.skip_nl()
            if self.is_op(","):
                self.advance()
                self.skip_nl()
            elif not self.is_op(")"):
                raise self.expected("',' or ')'")
        self.advance()
        self.leave()
        return args, kwargs

    def parse_primary(self) -> ast.Node:
        t = self.tok
        kind = t.kind
        if kind == NUM:
            self.advance()
            return ast.Literal(t.pos, t.value)
        if kind in (STR, RAW):
            self.advance()
            return ast.Literal(t.pos, t.value)
        if kind == VAR:
            self.advance()
            return ast.Var(t.pos, t.value)
        if kind == META:
            self.advance()
            return ast.MetaGet(t.pos, t.value)
        if kind == OP:
            if t.value == "(":
                self.advance()
                self.enter()
                self.skip_nl()
                node = self.parse_expr()
                self.skip_nl()
                self.expect_op(")")
                self.leave()
                return node
            if t.value == "{":
                return self.parse_object()
            if t.value == "[":
                return self.parse_array()
            raise self.expected("a query")
        if kind == IDENT:
            word = t.value
            if word == "true" or word == "false":
                self.advance()
                return ast.Literal(t.pos, word == "true")
            if word == "null":
                self.advance()
                return ast.Literal(t.pos, None)
            if word == "this":
                self.advance()
                return ast.This(t.pos)
            if word == "root":
                self.advance()
                return ast.Root(t.pos)
            if word == "if":
                return self.parse_if_expr()
            if word == "match":
                return self.parse_match()
            if self.is_op("(", self.peek()):
                self.advance()
                args, kwargs = self.parse_args()
                return ast.Call(t.pos, word, args, kwargs)
            if self.is_op("->", self.peek()):
                raise self.error("a lambda is only allowed as a method argument or in '.( )'")
            self.advance()
            return ast.Name(t.pos, word)
        raise self.expected("a query")

    def parse_object(self) -> ast.Node:
        start = self.advance()
        self.enter()
        items: list[tuple[ast.Node, ast.Node]] = []
        self.skip_nl()
        while not self.is_op("}"):
            kt = self.tok
            key: ast.Node
            if kt.kind in (STR, RAW):
                self.advance()
                key = ast.Literal(kt.pos, kt.value)
            else:
                key = self.parse_expr()
            self.skip_nl()
            self.expect_op(":")
            self.skip_nl()
            items.append((key, self.parse_expr()))
            self.skip_nl()
            if self.is_op(","):
                self.advance()
                self.skip_nl()
            elif not self.is_op("}"):
                raise self.expected("',' or '}'")
        self.advance()
        self.leave()
        return ast.ObjectLit(start.pos, items)

    def parse_array(self) -> ast.Node:
        start = self.advance()
        self.enter()
        items: list[ast.Node] = []
        self.skip_nl()
        while not self.is_op("]"):
            items.append(self.parse_expr())
            self.skip_nl()
            if self.is_op(","):
                self.advance()
                self.skip_nl()
            elif not self.is_op("]"):
                raise self.expected("',' or ']'")
        self.advance()
        self.leave()
        return ast.ArrayLit(start.pos, items)

    def parse_expr_block(self) -> ast.Node:
        self.enter()
        self.expect_op("{")
        self.skip_nl()
        node = self.parse_expr()
        self.skip_nl()
        self.expect_op("}")
        self.leave()
        return node

    def parse_if_expr(self) -> ast.Node:
        start = self.advance()
        branches: list[tuple[ast.Node, ast.Node]] = []
        cond = self.parse_expr()
        branches.append((cond, self.parse_expr_block()))
        otherwise: ast.Node | None = None
        while self.is_word("else"):
            self.advance()
            if self.is_word("if"):
                self.advance()
                cond = self.parse_expr()
                branches.append((cond, self.parse_expr_block()))
            else:
                otherwise = self.parse_expr_block()
                break
        return ast.IfExpr(start.pos, branches, otherwise)

    def parse_match(self) -> ast.Node:
        start = self.advance()
        subject: ast.Node | None = None
        if not self.is_op("{"):
            subject = self.parse_expr()
        self.enter()
        self.expect_op("{")
        self.skip_nl()
        cases: list[tuple[ast.Node | None, ast.Node]] = []
        while not self.is_op("}"):
            pattern: ast.Node | None
            if self.is_word("_") and self.is_op("=>", self.peek()):
                self.advance()
                pattern = None
            else:
                pattern = self.parse_expr()
            self.skip_nl()
            self.expect_op("=>")
            self.skip_nl()
            cases.append((pattern, self.parse_expr()))
            if self.is_op(","):
                self.advance()
                self.skip_nl()
            elif self.tok.kind == NL:
                self.skip_nl()
            elif not self.is_op("}"):
                raise self.expected("a line break, ',' or '}' after a match case")
        self.advance()
        self.leave()
        return ast.Match(start.pos, subject, cases)


def _parse(text: str, fn: Any) -> Any:
    try:
        return fn()
    except RecursionError:
        raise ParseError("mapping is nested too deeply", text, 1, 1) from None


def parse_mapping(text: str) -> ast.Mapping:
    """Parse a mapping; a text that is a single query becomes `root = <query>`."""
    p = _Parser(text)
    try:
        return _parse(text, p.parse_mapping)  # type: ignore[no-any-return]
    except ParseError as first:
        try:
            query = parse_query_ast(text)
        except ParseError:
            raise first from None
        return ast.Mapping([ast.Assign(query.pos, "root", (), query, line_col(text, query.pos)[0])])


def parse_query_ast(text: str) -> ast.Node:
    """Parse a text holding exactly one query expression."""
    p = _Parser(text)

    def run() -> ast.Node:
        p.skip_nl()
        node = p.parse_expr()
        p.skip_nl()
        if p.tok.kind != EOF:
            raise p.expected("end of query")
        return node

    return _parse(text, run)  # type: ignore[no-any-return]
