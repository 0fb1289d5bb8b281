"""Row-level operations of the iceberg output: which operation a message asks for, the key
that identifies its row, column names matched with or without case, and the delete filter.

`insert` appends a row; `upsert` replaces the rows with the same identifier fields; `delete`
removes them. Within a batch the last `upsert` or `delete` of a key wins; `insert` is an
unconditional append.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin.similar import close_match

__all__ = [
    "MERGE_STRATEGIES",
    "ROW_OPERATIONS",
    "STRING_ENCODINGS",
    "Change",
    "CaseFolder",
    "check_merge_strategy",
    "check_row_operation",
    "check_string_encoding",
    "identifier_columns",
    "key_filter",
    "parse_row_operation",
    "row_key",
]

ROW_OPERATIONS = ("insert", "upsert", "delete")
MERGE_STRATEGIES = ("copy-on-write", "merge-on-read")
STRING_ENCODINGS = ("plain", "delta_length_byte_array")

#: words change feeds use for an operation, and the operation that does it
_SYNONYMS = {"update": "upsert", "create": "upsert", "remove": "delete", "append": "insert"}

_KEY_TYPES = (str, int, float, Decimal, datetime, date, time, UUID, bytes)


def parse_row_operation(text: str) -> str:
    """The operation `text` names (empty means `insert`); anything else is refused."""
    op = text.strip()
    if not op:
        return "insert"
    if op in ROW_OPERATIONS:
        return op
    hint = _SYNONYMS.get(op.lower()) or close_match(op, ROW_OPERATIONS)
    mean = f"; did you mean {hint!r}?" if hint else ""
    raise ValueError(f"row_operation: {op!r} is not one of {', '.join(ROW_OPERATIONS)}{mean}")


def check_row_operation(value: Any) -> Any:
    """A `row_operation` without interpolation must name an operation."""
    text = str(value if value is not None else "")
    interpolated = InterpolatedString(text)
    if interpolated.is_static:
        parse_row_operation(text)
    return value


def check_merge_strategy(value: Any) -> Any:
    """Only copy-on-write can be honoured: pyiceberg writes no equality-delete files."""
    text = str(value or "")
    if text == "merge-on-read":
        raise ValueError(
            "merge-on-read is not supported: it needs equality-delete files, which pyiceberg "
            "cannot write; use copy-on-write (the data files holding changed rows are rewritten)"
        )
    if text not in MERGE_STRATEGIES:
        raise ValueError(f"{text!r} is not one of {', '.join(MERGE_STRATEGIES)}")
    return value


def check_string_encoding(value: Any) -> Any:
    """pyiceberg writes strings dictionary-encoded with a PLAIN fallback, never delta-encoded."""
    text = str(value or "")
    if text == "delta_length_byte_array":
        raise ValueError(
            "delta_length_byte_array is not supported: strings are written dictionary-encoded "
            "with a PLAIN fallback, which every Parquet reader reads; use plain"
        )
    if text not in STRING_ENCODINGS:
        raise ValueError(f"{text!r} is not one of {', '.join(STRING_ENCODINGS)}")
    return value


@dataclass
class Change:
    """One message bound for a table: its operation and its row (columns as the table names
    them once `CaseFolder` has matched them)."""

    msg: Message
    op: str
    doc: dict[str, Any]


class CaseFolder:
    """Matches message field names to column names, exactly or without regard to case.

    Without case, a field takes the spelling of the column it matches; a field matching no
    column takes the first spelling seen in the batch, so one new column is added for it. A
    message with two fields that differ only in case is refused.
    """

    def __init__(self, schema: Any | None, case_sensitive: bool) -> None:
        self.case_sensitive = case_sensitive
        self.schema = schema  # the table's Arrow schema, None for a table not created yet
        self.new: dict[str, str] = {}

    def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self.case_sensitive:
            return doc
        return self._struct(doc, self.schema, top=True)

    def _struct(self, doc: dict[str, Any], fields: Any | None, *, top: bool) -> dict[str, Any]:
        known: dict[str, Any] = {}
        if fields is not None:
            for f in fields:
                known.setdefault(f.name.lower(), f)
        out: dict[str, Any] = {}
        seen: dict[str, str] = {}
        for key, value in doc.items():
            folded = key.lower()
            if folded in seen:
                raise ValueError(
                    f"fields {seen[folded]!r} and {key!r} differ only in case "
                    "(case_sensitive_columns is false)"
                )
            seen[folded] = key
            column = known.get(folded)
            if column is not None:
                out[column.name] = self._value(value, column.type)
            elif top:
                out[self.new.setdefault(folded, key)] = value
            else:
                out[key] = value
        return out

    def _value(self, value: Any, arrow_type: Any) -> Any:
        import pyarrow as pa

        if isinstance(value, dict) and pa.types.is_struct(arrow_type):
            return self._struct(value, list(arrow_type), top=False)
        if isinstance(value, list) and (
            pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)
        ):
            item = arrow_type.value_type
            return [self._value(v, item) for v in value]
        return value


def identifier_columns(schema: Any, names: Sequence[str], case_sensitive: bool) -> list[str]:
    """The table columns `identifier_fields` name, checked the way Iceberg checks identifier
    fields: top-level columns of a primitive type other than float and double."""
    from pyiceberg.types import DoubleType, FloatType

    columns: list[str] = []
    for name in names:
        try:
            column = schema.find_field(name, case_sensitive)
        except ValueError:
            column = None
        if column is None or column.field_id not in {f.field_id for f in schema.fields}:
            raise ValueError(f"identifier_fields: {name!r} is not a column of the table")
        kind = column.field_type
        if not kind.is_primitive or isinstance(kind, (FloatType, DoubleType)):
            raise ValueError(
                f"identifier_fields: column {column.name!r} is {kind}, an identifier needs a "
                "primitive type other than float and double"
            )
        columns.append(column.name)
    return columns


def row_key(doc: dict[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
    """The identifier values of a row; a missing, null or structured value is refused."""
    values = []
    for column in columns:
        value = doc.get(column)
        if value is None:
            raise ValueError(f"identifier field {column!r} is missing or null")
        if not isinstance(value, _KEY_TYPES):
            raise ValueError(f"identifier field {column!r} holds {type(value).__name__}")
        values.append(value)
    return tuple(values)


def key_filter(columns: Sequence[str], keys: Iterable[tuple[Any, ...]]) -> Any:
    """A pyiceberg expression matching the rows with any of `keys`: keys sharing a value of
    the first column are grouped under it, so the last column is one `In` per group."""
    ex = _expressions()
    keys = list(keys)
    if len(columns) == 1:
        values = {k[0] for k in keys}
        if len(values) == 1:
            return ex.EqualTo(columns[0], next(iter(values)))
        return ex.In(columns[0], values)
    groups: dict[Any, list[tuple[Any, ...]]] = {}
    for key in keys:
        groups.setdefault(key[0], []).append(key[1:])
    terms = [
        ex.And(ex.EqualTo(columns[0], first), key_filter(columns[1:], rest))
        for first, rest in groups.items()
    ]
    return _any_of(terms)


def _any_of(terms: list[Any]) -> Any:
    """`Or` of `terms` as a balanced tree, so thousands of keys stay shallow to evaluate."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return _expressions().Or(_any_of(terms[:middle]), _any_of(terms[middle:]))


def _expressions() -> Any:
    """pyiceberg's expression classes (their pydantic-made signatures do not type-check)."""
    import pyiceberg.expressions as expressions

    return expressions
