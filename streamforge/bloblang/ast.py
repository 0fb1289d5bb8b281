"""Bloblang syntax tree: query expressions and mapping statements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Node", "Literal", "ObjectLit", "ArrayLit", "This", "Root", "Var", "Name", "MetaGet",
    "Path", "Call", "MethodCall", "Lambda", "ContextMap", "BinOp", "Not", "Neg", "IfExpr",
    "Match", "Stmt", "Assign", "IfStmt", "MapDef", "Import", "Mapping",
]  # fmt: skip


@dataclass
class Node:
    pos: int


@dataclass
class Literal(Node):
    value: Any


@dataclass
class ObjectLit(Node):
    items: list[tuple[Node, Node]]


@dataclass
class ArrayLit(Node):
    items: list[Node]


@dataclass
class This(Node):
    pass


@dataclass
class Root(Node):
    pass


@dataclass
class Var(Node):
    name: str


@dataclass
class Name(Node):
    """A bare identifier: a lambda parameter when one is in scope, else a field of `this`."""

    name: str


@dataclass
class MetaGet(Node):
    key: str | None


@dataclass
class Path(Node):
    target: Node
    segments: tuple[str | int, ...]


@dataclass
class Call(Node):
    name: str
    args: list[Node]
    kwargs: dict[str, Node]


@dataclass
class MethodCall(Node):
    target: Node
    name: str
    args: list[Node]
    kwargs: dict[str, Node]


@dataclass
class Lambda(Node):
    param: str | None
    body: Node


@dataclass
class ContextMap(Node):
    """`target.(expr)` or `target.(name -> expr)`: evaluate with a new context."""

    target: Node
    body: Lambda


@dataclass
class BinOp(Node):
    op: str
    left: Node
    right: Node


@dataclass
class Not(Node):
    operand: Node


@dataclass
class Neg(Node):
    operand: Node


@dataclass
class IfExpr(Node):
    branches: list[tuple[Node, Node]]
    otherwise: Node | None


@dataclass
class Match(Node):
    subject: Node | None
    cases: list[tuple[Node | None, Node]]  # None pattern is `_`


# -- statements -------------------------------------------------------------------------
@dataclass
class Assign(Node):
    kind: str  # "root", "meta" or "var"
    path: tuple[str | int, ...]  # root path; ("key",) or () for meta; (name,) for var
    value: Node
    line: int = 0


@dataclass
class IfStmt(Node):
    branches: list[tuple[Node, list[Stmt]]]
    otherwise: list[Stmt] | None
    line: int = 0


@dataclass
class MapDef(Node):
    name: str
    body: list[Stmt]


@dataclass
class Import(Node):
    path: str


Stmt = Assign | IfStmt | MapDef | Import


@dataclass
class Mapping:
    statements: list[Stmt] = field(default_factory=list)
    maps: dict[str, MapDef] = field(default_factory=dict)
