"""`switch` output: routes each message to the outputs of the cases whose check passes."""

from __future__ import annotations

import threading
from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Field, Output, register_output
from streamforge.plugin.delivery import OutputGroup, deliver, retry_until_written
from streamforge.plugin.spec import switch_case_field

__all__ = ["SwitchOutput"]


@register_output(
    "switch",
    fields=[
        Field(
            "retry_until_success",
            "bool",
            default=False,
            description="Retry a failed write to a case output until it succeeds, "
            "instead of failing the message.",
        ),
        Field(
            "strict_mode",
            "bool",
            default=False,
            description="Fail messages that match no case instead of dropping them.",
            advanced=True,
        ),
        Field(
            "cases",
            "array",
            description="Cases tested in order; a message goes to the first that passes.",
            item=switch_case_field(
                Field("output", "output", description="The output for matching messages."),
                Field(
                    "continue",
                    "bool",
                    default=False,
                    description="Also test the following cases after this one passes.",
                ),
                check_examples=('this.type == "foo"', "errored()"),
            ),
        ),
    ],
    summary="Routes messages to different outputs by Bloblang checks on their contents.",
    examples=(
        'switch:\n  cases:\n    - check: this.type == "alarm"\n      output: { file: '
        "{ path: ./alarms.jsonl } }\n    - output: { drop: {} }",
    ),
)
class SwitchOutput(OutputGroup):
    """Routes messages to different outputs by Bloblang checks on their contents."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        self.retry = bool(conf.get("retry_until_success", False))
        self.strict = bool(conf.get("strict_mode", False))
        self.checks: list[Any] = []
        self.continues: list[bool] = []
        self.outputs: list[Output] = []
        for case in conf.get("cases") or []:
            text = str(case.get("check") or "").strip()
            if text:
                from streamforge.bloblang import parse_query

                self.checks.append(parse_query(text))
            else:
                self.checks.append(None)
            self.continues.append(bool(case.get("continue", False)))
            self.outputs.append(ctx.build_output(case["output"]))
        if not self.outputs:
            raise ValueError("switch output needs at least one case")
        self._stop: threading.Event = threading.Event()
        self.log = ctx.logger

    def _passes(self, case: int, msg: Message, batch: list[Message], index: int) -> bool:
        check = self.checks[case]
        if check is None:
            return True
        try:
            return check.query_message(msg, batch, index) is True
        except Exception as exc:  # noqa: BLE001 - a failing check is a non-match, as Benthos
            self.log.error("failed to test case %d: %s", case, exc)
            return False

    def write_batch(self, batch: list[Message]) -> list[Message]:
        routes: list[list[Message]] = [[] for _ in self.outputs]
        unmatched: list[Message] = []
        owners: dict[int, Message] = {}
        for i, msg in enumerate(batch):
            sent = False
            for case in range(len(self.outputs)):
                if not self._passes(case, msg, batch, i):
                    continue
                if sent:
                    dup = msg.copy()
                    owners[id(dup)] = msg
                    routes[case].append(dup)
                else:
                    routes[case].append(msg)
                    sent = True
                if not self.continues[case]:
                    break
            if not sent:
                unmatched.append(msg)
        failed: list[Message] = []
        if unmatched and self.strict:
            for m in unmatched:
                m.error = "no switch cases were matched by message"
            failed.extend(unmatched)
        for case, msgs in enumerate(routes):
            if not msgs:
                continue
            out = self.outputs[case]
            if self.retry:
                failed.extend(retry_until_written(out, msgs, self._stop, f"switch case {case}"))
            else:
                failed.extend(deliver(out, msgs))
        return _originals(failed, owners)


def _originals(failed: list[Message], owners: dict[int, Message]) -> list[Message]:
    """Failed copies reported as their original message, each message once."""
    if not owners:
        return failed
    seen: set[int] = set()
    out: list[Message] = []
    for m in failed:
        orig = owners.get(id(m), m)
        if orig is not m:
            orig.error = m.error
        if id(orig) not in seen:
            seen.add(id(orig))
            out.append(orig)
    return out
