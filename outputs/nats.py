"""`nats` output: publishes each message to a NATS subject, as Benthos does.

A batch counts as written once the server answered a PING sent after it (so it received
every message before). While the server is away the client buffers and reconnects; a batch
waits up to `write_timeout`, then fails.
"""

from __future__ import annotations

import time
from itertools import repeat

from streamforge.connectors.nats import (
    NatsOutputBase,
    check_nats_output,
    describe_error,
    nats_output_fields,
)
from streamforge.connectors.peer import PeerDown, fail_each
from streamforge.license.catalog import register_feature
from streamforge.message import Message
from streamforge.plugin import register_output
from streamforge.plugin.spec import offline_check

__all__ = ["NatsOutput"]

register_feature("output", "nats", "bindings", "nats")


@register_output(
    "nats",
    fields=nats_output_fields(64),
    summary="Publishes messages to a NATS subject.",
    examples=(
        "nats:\n  urls: [ nats://127.0.0.1:4222 ]\n  subject: plant.${! @asset_id }.telemetry",
    ),
)
@offline_check(check_nats_output)
class NatsOutput(NatsOutputBase):
    """Publishes messages to a NATS subject."""

    def write_batch(self, batch: list[Message]) -> list[Message]:
        failed: list[Message] = []
        items = self.prepare(batch, failed)
        if not items:
            return failed
        deadline = time.monotonic() + self.write_timeout
        why = self.wait_connected(deadline)
        if why is not None:
            return self._fail(items, failed, why)
        loop = self.client.loop
        try:
            rejected = loop.run(self._publish(items), self.write_timeout)
        except Exception as exc:  # noqa: BLE001 - connection lost while publishing
            return self._fail(items, failed, describe_error(exc))
        fail_each(self.name, (m for m, _ in rejected), (r for _, r in rejected), failed)
        try:
            self.client.link.retry_until(
                lambda: loop.run(self.client.nc.flush(timeout=5), 6.0),
                transient=self._transient,
                describe=describe_error,
                deadline=deadline,
            )
        except PeerDown as exc:
            sent = [m for m, _, _ in items if m.error is None]
            return self._fail([(m, "", None) for m in sent], failed, str(exc))
        return failed

    async def _publish(
        self, items: list[tuple[Message, str, dict[str, str] | None]]
    ) -> list[tuple[Message, str]]:
        nc = self.client.nc
        rejected: list[tuple[Message, str]] = []
        for msg, subject, headers in items:
            try:
                await nc.publish(subject, msg.payload, headers=headers)
            except self._transient:
                raise
            except Exception as exc:  # noqa: BLE001 - e.g. a payload over the server's limit
                rejected.append((msg, describe_error(exc)))
        return rejected

    def _fail(
        self,
        items: list[tuple[Message, str, dict[str, str] | None]],
        failed: list[Message],
        why: str,
    ) -> list[Message]:
        return fail_each(self.name, (m for m, _, _ in items), repeat(why), failed)
