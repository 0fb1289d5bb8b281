"""The registry of Bloblang functions and methods, and the values they pass around.

Values: null=None, bool, int, float, str, bytes, list, dict, timestamps as timezone-aware
`datetime`; `DELETED` (from `deleted()`) and `NOTHING` (no value, e.g. an unset root).

Calling convention of implementations:
  function: impl(*args)            or impl(ctx, *args) when `needs_ctx`
  method:   impl(target, *args)    or impl(ctx, target, *args) when `needs_ctx`
Arguments arrive positionally in the order of `params` (named arguments are reordered by
the compiler; missing optional ones get their default). A param of kind "query" receives
a callable `q(value) -> result` that evaluates the argument expression with `this` bound
to `value` (lambdas `x -> ...` bind `x` instead). With `per_call_site=True` the registered
callable is a factory called once per call site at compile time, returning the impl
(used by `counter()` and anything that keeps state per call site).
Implementations signal failures by raising `MappingError` (see errors.type_error).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DELETED",
    "NOTHING",
    "ExecContext",
    "FunctionSpec",
    "MethodSpec",
    "Param",
    "function",
    "method",
    "functions",
    "methods",
]


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


DELETED: Any = _Sentinel("DELETED")
NOTHING: Any = _Sentinel("NOTHING")


class _NoDefault:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED_ARG: Any = _NoDefault()

PARAM_KINDS = frozenset(
    {"any", "string", "int", "float", "number", "bool", "array", "object", "query", "timestamp"}
)


@dataclass(frozen=True)
class Param:
    """One parameter of a function or method."""

    name: str
    kind: str = "any"
    default: Any = REQUIRED_ARG
    description: str = ""
    #: applied once at compile time to a literal argument (e.g. compiles a regular
    #: expression); a MappingError it raises is a compile error at the argument
    prepare: Callable[[Any], Any] | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED_ARG


@dataclass(frozen=True)
class FunctionSpec:
    """A registered function or method: its implementation and parameters."""

    name: str
    impl: Callable[..., Any]
    params: tuple[Param, ...] = ()
    category: str = "general"
    description: str = ""
    needs_ctx: bool = False
    per_call_site: bool = False
    variadic: bool = False  # extra positional args are passed through


#: methods are described exactly like functions
MethodSpec = FunctionSpec


functions: dict[str, FunctionSpec] = {}
methods: dict[str, FunctionSpec] = {}


def _registrar(
    table: dict[str, FunctionSpec], kind: str
) -> Callable[..., Callable[[Callable[..., Any]], Callable[..., Any]]]:
    def register(
        name: str,
        params: Sequence[Param] = (),
        *,
        category: str = "general",
        description: str = "",
        needs_ctx: bool = False,
        per_call_site: bool = False,
        variadic: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(impl: Callable[..., Any]) -> Callable[..., Any]:
            table[name] = FunctionSpec(
                name, impl, tuple(params), category,
                description or (impl.__doc__ or "").strip(), needs_ctx, per_call_site, variadic,
            )  # fmt: skip
            return impl

        return deco

    register.__doc__ = f"Register a Bloblang {kind} (see the module docstring for conventions)."
    return register


#: `@function(name, params, ...)` registers a Bloblang function
function = _registrar(functions, "function")
#: `@method(name, params, ...)` registers a Bloblang method
method = _registrar(methods, "method")


class ExecContext:
    """Per-execution state a function or method may read.

    `this`: the context value; `meta_in`: metadata of the input message (read-only);
    `meta_out`: metadata being written by the mapping; `message`: the input Message
    (None for plain `Executor.query`); `batch`/`index`: the batch and the message's
    position in it; `vars`: `let` variables.
    """

    __slots__ = ("this", "root", "vars", "meta_in", "meta_out", "message", "batch", "index")

    def __init__(
        self,
        this: Any = None,
        *,
        meta_in: dict[str, Any] | None = None,
        meta_out: dict[str, Any] | None = None,
        message: Any = None,
        batch: Sequence[Any] | None = None,
        index: int = 0,
    ) -> None:
        self.this = this
        self.root: Any = NOTHING
        self.vars: dict[str, Any] = {}
        self.meta_in = meta_in if meta_in is not None else {}
        self.meta_out = meta_out if meta_out is not None else self.meta_in
        self.message = message
        self.batch = batch
        self.index = index
