"""`group_by` and `group_by_value` processors: a batch becomes one batch per group."""

from __future__ import annotations

from typing import Any

from streamforge.bloblang.errors import describe
from streamforge.interpolation import InterpolatedString
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.batches import Batches, parts_of
from streamforge.plugin.chain import ProcessorChain
from streamforge.plugin.errors import describe_error

__all__ = ["GroupByProcessor", "GroupByValueProcessor"]


@register_processor(
    "group_by",
    config=Field(
        "group_by",
        "array",
        description="Groups, tested in order for each message.",
        item=Field(
            "group",
            "object",
            fields=(
                Field(
                    "check",
                    "query",
                    description="A Bloblang query returning a bool: whether a message "
                    "belongs to the group.",
                    examples=('this.type == "foo"', 'content().contains("this is a foo")'),
                ),
                Field(
                    "processors",
                    "array",
                    default=[],
                    item=Field("processor", "processor"),
                    description="Processors run on the group's batch.",
                ),
            ),
        ),
    ),
    summary="Splits a batch into one batch per group of messages whose check passes.",
    description=(
        "Each message joins the first group whose `check` passes; messages no group takes "
        "form a last batch of their own. Each group's processors run on its batch (e.g. to "
        "archive it or label it), and the groups go on as separate batches in the order of "
        "the config. A check that fails or returns no bool flags the message, which then "
        "joins the last batch."
    ),
    examples=(
        'group_by:\n  - check: content().contains("this is a foo")\n    processors:\n'
        "      - archive:\n          format: tar\n      - compress:\n          algorithm: gzip\n"
        "      - mapping: 'meta grouping = \"foo\"'",
    ),
)
class GroupByProcessor(Processor):
    """Splits a batch into one batch per group of messages whose check passes."""

    batch_aware = True
    handles_errors = True

    def __init__(self, conf: list[dict[str, Any]], ctx: BuildContext) -> None:
        from streamforge.bloblang import parse_query

        self.groups: list[tuple[Any, ProcessorChain]] = []
        for group in conf or []:
            check = parse_query(str(group.get("check") or ""))
            chain = ProcessorChain(ctx.build_processors(list(group.get("processors") or [])))
            self.groups.append((check, chain))

    def process_batch(self, batch: list[Message]) -> list[Message]:
        members: list[list[Message]] = [[] for _ in self.groups]
        rest: list[Message] = []
        for i, m in enumerate(batch):
            if m.error is not None:
                rest.append(m)
                continue
            for g, (check, _) in enumerate(self.groups):
                try:
                    res = check.query_message(m, batch, i)
                except Exception as exc:  # noqa: BLE001 - flags the message, as Benthos
                    m.error = describe_error(exc)
                    rest.append(m)
                    break
                if res is True:
                    members[g].append(m)
                    break
                if res is not False:
                    m.error = f"expected bool value, got {describe(res)}"
                    rest.append(m)
                    break
            else:
                rest.append(m)
        parts: list[list[Message]] = []
        for (_, chain), group in zip(self.groups, members):
            if group:
                parts.extend(parts_of(chain.process_batch(group)))
        if rest:
            parts.append(rest)
        return Batches(parts)

    def close(self) -> None:
        for _, chain in self.groups:
            chain.close()


@register_processor(
    "group_by_value",
    fields=[
        Field(
            "value",
            "string",
            interpolable=True,
            description="Rendered per message; messages with the same result form a batch.",
            examples=('${! meta("kafka_key") }', '${! json("foo.bar") }-${! meta("baz") }'),
        ),
    ],
    summary="Splits a batch into one batch per value an interpolated string renders to.",
    description=(
        "Groups go on as separate batches in the order their first message arrived, each "
        "keeping its messages' order; useful before an `archive` and an output whose path "
        "names the group. A message whose value fails to render is flagged and grouped "
        "with the others that failed."
    ),
    examples=('group_by_value:\n  value: ${! meta("kafka_key") }',),
)
class GroupByValueProcessor(Processor):
    """Splits a batch into one batch per value an interpolated string renders to."""

    batch_aware = True
    handles_errors = True

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.value = InterpolatedString(str(conf.get("value") or ""))

    def process_batch(self, batch: list[Message]) -> list[Message]:
        groups: dict[tuple[bool, str], list[Message]] = {}
        for i, m in enumerate(batch):
            try:
                key = (False, self.value.render(m, batch, i))
            except Exception as exc:  # noqa: BLE001 - flags the message
                m.error = f"group_by_value: {describe_error(exc)}"
                key = (True, "")
            groups.setdefault(key, []).append(m)
        if len(groups) <= 1:
            return batch
        return Batches(groups.values())
