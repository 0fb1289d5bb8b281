"""`sync_response` processor: the messages as they are at this point of the pipeline become the
answer to the input's peer (the `http_server` input answers the request with them), while the
pipeline goes on with them to the output."""

from __future__ import annotations

from typing import Any

from streamforge.message import Message
from streamforge.plugin import BuildContext, Processor, register_processor
from streamforge.plugin.delivery import current_origin, respond_to_inputs

__all__ = ["SyncResponseProcessor"]


@register_processor(
    "sync_response",
    fields=[],
    summary="Adds each message, as it is here, to the answer its input gives its peer; the "
    "pipeline goes on with it.",
    description=(
        "With the `http_server` input the request is answered with the messages this "
        "processor saw: later processors and the output do not change the answer, whatever "
        "they write to. The answer is sent once the output has written the request's "
        "messages (a failed write answers with an error instead). Each `sync_response` "
        "(processor or output) adds to the answer: several messages make a multipart body. "
        "Messages of inputs that answer nobody pass by untouched, so the processor is safe "
        "with any input. Messages flagged with an error skip it, as they skip other "
        "processors; put it in a `catch` to answer with them."
    ),
    examples=(
        "input:\n"
        "  http_server:\n"
        "    path: /readings\n"
        "pipeline:\n"
        "  processors:\n"
        "    - mapping: 'root = this.merge({\"accepted\": true})'\n"
        "    - sync_response: {}\n"
        "    - mapping: root.received_at = now()\n"
        "output:\n"
        "  file:\n"
        "    path: ./readings.jsonl\n"
        "    codec: lines",
    ),
)
class SyncResponseProcessor(Processor):
    """Adds each message, as it is here, to the answer its input gives its peer."""

    def __init__(self, conf: Any = None, ctx: BuildContext | None = None) -> None:
        self.label = getattr(ctx, "label", "") or "sync_response"

    def process_batch(self, batch: list[Message]) -> list[Message]:
        answers: list[Message] = []
        batch_origin = current_origin()
        for msg in batch:
            origin = getattr(msg, "origin", None) or batch_origin
            if origin is None:
                continue
            # serialised now: later processors may change the message's value in place
            answer = Message(msg.payload, dict(msg.metadata))
            answer.origin = origin
            answers.append(answer)
        if answers:
            respond_to_inputs(answers)
        return batch
