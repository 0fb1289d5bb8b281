"""`switch` processor: runs the processors of the first case whose check passes."""

from __future__ import annotations

from typing import Any

from streamforge.bloblang.error_calls import asks_about_errors
from streamforge.bloblang.errors import describe
from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.chain import ProcessorChain
from streamforge.plugin.errors import describe_error
from streamforge.plugin.ordering import Keyed, in_order, key_results
from streamforge.plugin.spec import switch_case_field

__all__ = ["SwitchProcessor"]


@register_processor(
    "switch",
    config=Field(
        "switch",
        "array",
        description="Cases tested in order for each message.",
        item=switch_case_field(
            Field(
                "processors",
                "array",
                default=[],
                item=Field("processor", "processor"),
                description="Processors run on messages that pass the check.",
            ),
            Field(
                "fallthrough",
                "bool",
                default=False,
                description="Also run the next case's processors, without its check.",
            ),
            check_examples=('this.type == "foo"', 'this.urls.contains("https://x.io/")'),
        ),
    ),
    summary="Runs different processors on a message depending on Bloblang checks.",
    description=(
        "Each message runs the processors of the first case whose check passes; with "
        "`fallthrough` the next case runs too. A check that fails or does not return a "
        "bool flags the message, which is then not tested against other cases. The "
        "resulting batch keeps the order in which messages arrived. Messages that "
        "failed earlier are tested only when a check calls `errored()` or `error()`; "
        "the processors of such a case all run on the failed messages it takes."
    ),
    examples=(
        'switch:\n  - check: this.user.name == "George"\n    processors:\n'
        "      - mapping: root = deleted()\n  - processors:\n      - log: { message: ok }",
    ),
)
class SwitchProcessor(Processor):
    """Runs different processors on a message depending on Bloblang checks."""

    def __init__(self, conf: list[dict[str, Any]], ctx: BuildContext) -> None:
        self.cases: list[tuple[Any, ProcessorChain, bool]] = []
        for case in conf or []:
            text = str(case.get("check") or "").strip()
            check = None
            if text:
                from streamforge.bloblang import parse_query

                check = parse_query(text)
            for_errors = asks_about_errors(text)
            chain = ProcessorChain(
                ctx.build_processors(list(case.get("processors") or [])),
                skip_errored=not for_errors,
            )
            self.cases.append((check, chain, bool(case.get("fallthrough", False))))
            if chain.batch_aware or getattr(check, "batch_aware", False):
                self.batch_aware = True
            if for_errors:
                self.handles_errors = True

    def process_batch(self, batch: list[Message]) -> list[Message]:
        remaining: list[Keyed] = [(float(i), m) for i, m in enumerate(batch)]
        done: list[Keyed] = []
        carry: list[Keyed] = []
        for check, chain, fallthrough in self.cases:
            passed, carry = carry, []
            if check is None:
                passed.extend(remaining)
                remaining = []
            else:
                failed: list[Keyed] = []
                for key, msg in remaining:
                    try:
                        res = check.query_message(msg, batch, int(key))
                    except Exception as exc:  # noqa: BLE001 - flags the message, as Benthos
                        msg.error = describe_error(exc)
                        done.append((key, msg))
                        continue
                    if res is True:
                        passed.append((key, msg))
                    elif res is False:
                        failed.append((key, msg))
                    else:
                        msg.error = f"expected bool value, got {describe(res)}"
                        done.append((key, msg))
                remaining = failed
            if not passed:
                continue
            results = key_results(passed, chain.process_batch([m for _, m in passed]))
            if fallthrough:
                carry = results
            else:
                done.extend(results)
        done.extend(remaining)
        done.extend(carry)
        return in_order(done)

    def close(self) -> None:
        for _, chain, _ in self.cases:
            chain.close()
