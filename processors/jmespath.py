"""`jmespath` processor: replaces each JSON message with the result of a JMESPath query.

The query is compiled once, when the processor is built; its function calls are checked
then too (names and argument counts), so a misspelt function is a lint error rather than a
failure on every message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from streamforge.message import Message, PayloadError, serialise_value
from streamforge.plugin import BuildContext, ParsedField, Processor, register_processor
from streamforge.plugin.optional import require
from streamforge.plugin.similar import close_match

__all__ = ["JmespathProcessor", "compile_query"]

#: longest error text a failed message carries
MAX_ERROR = 300


def _jmespath() -> Any:
    return require("jmespath", "jmespath", "the jmespath processor")


def _describe_parse_error(exc: Any, query: str) -> str:
    """The library's parse errors (several lines, quoting the query) as one line."""
    exceptions = _jmespath().exceptions
    if isinstance(exc, exceptions.EmptyExpressionError):
        return "the query is empty"
    if isinstance(exc, exceptions.IncompleteExpressionError):
        return f"incomplete expression: the query ends at column {len(query)}"
    if isinstance(exc, exceptions.LexerError):
        return f"{exc.message} at column {exc.lexer_position + 1}"
    if isinstance(exc, exceptions.ParseError) and exc.lex_position is not None:
        if exc.msg == exceptions.ParseError._ERROR_MESSAGE:
            return f"unexpected {exc.token_value!r} at column {exc.lex_position + 1}"
        return f"{exc.msg} at column {exc.lex_position + 1}"
    return str(exc).splitlines()[0]


def _calls(node: Any) -> Iterator[tuple[str, int]]:
    """Each function call in a parsed query: (name, number of arguments)."""
    if isinstance(node, dict):
        if node.get("type") == "function_expression":
            yield str(node.get("value")), len(node.get("children", ()))
        for child in node.get("children", ()):
            yield from _calls(child)


def _check_calls(parsed: Any) -> None:
    """ValueError for a call of a function JMESPath does not have, or with too few or too
    many arguments."""
    table = _jmespath().functions.Functions().FUNCTION_TABLE
    for name, count in _calls(parsed):
        if name not in table:
            match = close_match(name, table)
            hint = f"; did you mean {match}()?" if match else ""
            raise ValueError(f"unknown function {name}(){hint}")
        signature = table[name]["signature"]
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if (count < len(signature)) if variadic else (count != len(signature)):
            expected = f"at least {len(signature)}" if variadic else str(len(signature))
            raise ValueError(
                f"function {name}() takes {expected} argument"
                f"{'' if expected == '1' else 's'}, got {count}"
            )


def compile_query(query: str) -> Any:
    """The compiled query; ValueError naming the column when it does not parse, or the
    function when one is unknown or given the wrong number of arguments."""
    jmespath = _jmespath()
    try:
        compiled = jmespath.compile(query)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(_describe_parse_error(exc, query)) from None
    _check_calls(compiled.parsed)
    return compiled


def _check_query(query: Any) -> Any:
    compile_query(str(query))
    return query


def _quoted(text: str) -> bytes:
    """A string result as a JSON document (a message whose value is a string is raw text)."""
    return serialise_value([text])[1:-1]


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


@register_processor(
    "jmespath",
    fields=[
        ParsedField(
            "query",
            "string",
            parser=_check_query,
            description="The JMESPath query to apply to messages.",
            examples=("readings[?ok].value", "{asset: asset, max: max(readings[].value)}"),
        ),
    ],
    summary="Replaces each JSON message with the result of a JMESPath query.",
    description=(
        "The result becomes the message's JSON document, `null` included (a query that "
        "matches nothing gives `null`); metadata is kept. A message that is not JSON, or on "
        "which the query fails (a function given the wrong type), keeps its content and is "
        "flagged with the reason for `catch` or a `fallback` output. The query is compiled "
        "once; one that does not parse, or calls an unknown function, is a lint error. Needs "
        "the `jmespath` extra."
    ),
    examples=("jmespath:\n  query: \"sensors[?line == 'A'].name | sort(@) | {names: @}\"\n",),
)
class JmespathProcessor(Processor):
    """Replaces each JSON message with the result of a JMESPath query compiled once."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext | None = None) -> None:
        self.query = compile_query(str(conf["query"]))

    def process_batch(self, batch: list[Message]) -> list[Message]:
        for msg in batch:
            if msg.error is not None:
                continue
            try:
                result = self.query.search(msg.value)
            except PayloadError as exc:
                msg.fail(f"jmespath: {exc}")
                continue
            except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
                msg.fail(_short(f"jmespath: {exc}"))
                continue
            if isinstance(result, str):
                msg.set_payload(_quoted(result))
            else:
                msg.set_value(result)
        return batch
