"""`branch` processor: process a request derived from each message, map the result back in.

`request_map` builds the request (empty: an exact copy, metadata included; `root =
deleted()`: skip the branch for that message), `processors` run on the requests, and
`result_map` maps each result back INTO its original message: in it `this` and
`metadata()` read the branch result, `root` is the original document and `@` / `meta`
assignments read and write the original's metadata. An empty `result_map` leaves the
original unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

from streamforge.message import Message, PayloadError
from streamforge.plugin import BuildContext, Field, Processor, register_processor
from streamforge.plugin.chain import ProcessorChain
from streamforge.plugin.errors import describe_error

__all__ = ["BRANCH_FIELDS", "BranchProcessor"]

#: the fields of a branch, of the `branch` processor and of each of `workflow`'s branches
BRANCH_FIELDS = (
    Field(
        "request_map",
        "mapping",
        default="",
        description="Builds the request from the message; empty copies it, "
        "`root = deleted()` skips the branch for that message.",
        examples=('root = ""', 'root = this.without("payload")', "root.id = this.doc.id"),
    ),
    Field(
        "processors",
        "array",
        item=Field("processor", "processor"),
        description="Processors run on the request messages.",
    ),
    Field(
        "result_map",
        "mapping",
        default="",
        description="Maps each result into its original message: `this` is the result, "
        "`root` the original document.",
        examples=(
            "root.result = this",
            'root.thing.count = this.count\nmeta status = metadata("status")',
        ),
    ),
)


def _parse(mapping: str) -> Any:
    from streamforge.bloblang import parse

    return parse(mapping)


@register_processor(
    "branch",
    fields=list(BRANCH_FIELDS),
    summary="Runs processors on a request built from each message and maps the result back in.",
    description=(
        "Useful to enrich a message without losing its contents. If `request_map` fails "
        "the processors are not run; if they fail the `result_map` is not run; if the "
        "`result_map` fails the message keeps its content. In each case the original "
        "message is flagged with the error."
    ),
    examples=(
        "branch:\n  request_map: root.id = this.doc.id\n  processors:\n"
        "    - mapping: root.score = this.id.length()\n  result_map: root.doc.score = this.score",
    ),
)
class BranchProcessor(Processor):
    """Runs processors on a request built from each message and maps the result back in."""

    def __init__(self, conf: dict[str, Any], ctx: BuildContext) -> None:
        request = str(conf.get("request_map") or "").strip()
        result = str(conf.get("result_map") or "").strip()
        self.request: Any = _parse(request) if request else None
        self.result: Any = _parse(result) if result else None
        self.chain = ProcessorChain(ctx.build_processors(list(conf.get("processors") or [])))
        self.batch_aware = self.chain.batch_aware or any(
            getattr(m, "batch_aware", False) for m in (self.request, self.result)
        )

    def process_batch(self, batch: list[Message]) -> list[Message]:
        requests: list[Message] = []
        owners: list[Message] = []
        for i, msg in enumerate(batch):
            if self.request is None:
                req: Message | None = msg.copy()
            else:
                try:
                    req = self.request.apply_message(msg, batch, i, mutate=False)
                except Exception as exc:  # noqa: BLE001 - flags the original
                    msg.error = f"request mapping failed: {describe_error(exc)}"
                    continue
            if req is not None:
                requests.append(req)
                owners.append(msg)
        if not requests:
            return batch
        results = self._results(requests, self.chain.process_batch(requests), owners)
        if results is None:
            return batch
        done = [r for r in results if r is not None]
        for k, (orig, res) in enumerate(zip(owners, results)):
            if res is None:
                continue
            if res.error is not None:
                orig.error = res.error
                continue
            if self.result is not None:
                try:
                    self._map_result(orig, res, done, k)
                except Exception as exc:  # noqa: BLE001 - the original stays as it was
                    orig.error = f"result mapping failed: {describe_error(exc)}"
        return batch

    @staticmethod
    def _results(
        requests: list[Message], outputs: list[Message], owners: list[Message]
    ) -> list[Message | None] | None:
        """One result (or None when the branch dropped it) per request, or None on mismatch."""
        if len(outputs) == len(requests):
            return list(outputs)
        index = {id(r): k for k, r in enumerate(requests)}
        if all(id(o) in index for o in outputs):
            found: list[Message | None] = [None] * len(requests)
            for o in outputs:
                found[index[id(o)]] = o
            return found
        reason = (
            f"branch processors returned {len(outputs)} messages for {len(requests)} requests;"
            " results cannot be matched to their messages"
        )
        for m in owners:
            m.error = reason
        return None

    def _map_result(self, orig: Message, res: Message, results: list[Message], k: int) -> None:
        """Apply `result_map` with `this` = result and `root` = the original document.

        Runs on copies: if the mapping fails the original keeps its content and metadata.
        """
        map_onto = getattr(self.result, "map_onto", None)
        new = (
            map_onto(orig, res, results, k)
            if map_onto
            else _map_onto(self.result, orig, res, results, k)
        )
        if new is None or new is orig:
            return
        if new.has_value:
            orig.set_value(new.value)
        else:
            orig.set_payload(new.payload)
        orig.metadata = new.metadata

    def close(self) -> None:
        self.chain.close()


def _map_onto(
    executor: Any, target: Message, source: Message, batch: list[Message], index: int
) -> Message | None:
    """Run a mapping with `this`/`metadata()` from `source` and `root`/`@` from `target`.

    Returns the new content as a message, or None when the mapping deleted the root.
    """
    from streamforge.bloblang import DELETED, NOTHING
    from streamforge.bloblang.executor import MessageContext, _this_of

    this = _this_of(source)
    meta_in = source.metadata
    meta_out = dict(target.metadata)
    try:
        root = copy.deepcopy(target.value)
    except PayloadError:
        root = NOTHING
    ctx = MessageContext(source, this, meta_in=meta_in, meta_out=meta_out, batch=batch, index=index)
    root = executor._run(ctx, this, meta_in, meta_out, root)
    if root is DELETED:
        return None
    if root is NOTHING:
        new = target.shallow_copy()
        new.metadata = meta_out
        return new
    if isinstance(root, (str, bytes)):
        return Message(root, meta_out)
    return Message(metadata=meta_out, value=root)
