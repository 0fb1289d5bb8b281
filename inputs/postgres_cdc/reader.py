"""The partition reader of one replication slot: starts the worker on it and, once the stream
is done with every batch, joins it and drops the connection state. Batching and
acknowledgements are the shared `ChangeReader`'s."""

from __future__ import annotations

import logging

from streamforge.connectors.cdc.reader import CdcRecord, ChangeReader
from streamforge.inputs.postgres_cdc.settings import CdcSettings
from streamforge.inputs.postgres_cdc.tracker import AckTracker
from streamforge.inputs.postgres_cdc.worker import CdcWorker
from streamforge.plugin import Processor
from streamforge.plugin.batching import BatchPolicy
from streamforge.plugin.connection import connection

__all__ = ["CdcReader", "CdcRecord"]

log = logging.getLogger("streamforge.inputs.postgres_cdc")


class CdcReader(ChangeReader):
    """Reads the changes of one replication slot (see the package docs)."""

    def __init__(
        self,
        settings: CdcSettings,
        *,
        label: str,
        stream: str,
        policy: BatchPolicy | None,
        processors: Processor | None,
    ) -> None:
        tracker = AckTracker()
        super().__init__(
            f"postgres_cdc {label}",
            log,
            tracker=tracker,
            replay_nacks=settings.auto_replay_nacks,
            checkpoint_limit=settings.checkpoint_limit,
            policy=policy,
            processors=processors,
        )
        self.connection = connection(stream, label, settings.display)
        self.worker = CdcWorker(
            settings,
            label=label,
            stream=stream,
            tracker=tracker,
            put=self.put_changes,
            connection=self.connection,
            stopping=self.stopping,
        )
        self.worker.start()

    def shutdown(self) -> None:
        self.worker.join(timeout=10.0)
        self.connection.close()
