"""The partition reader of the binlog: starts the checkpoint thread and the worker and, once
the stream is done with every batch, stops them (storing the last confirmed position). Batching
and acknowledgements are the shared `ChangeReader`'s."""

from __future__ import annotations

import logging

from streamforge.connectors.cdc.reader import CdcRecord, ChangeReader
from streamforge.inputs.mysql_cdc.checkpoints import Checkpoints
from streamforge.inputs.mysql_cdc.settings import CdcSettings
from streamforge.inputs.mysql_cdc.tracker import AckTracker
from streamforge.inputs.mysql_cdc.worker import CdcWorker
from streamforge.plugin import Cache, Processor
from streamforge.plugin.batching import BatchPolicy
from streamforge.plugin.connection import connection

__all__ = ["CdcReader", "CdcRecord"]

log = logging.getLogger("streamforge.inputs.mysql_cdc")


class CdcReader(ChangeReader):
    """Reads the changes of the configured tables (see the package docs)."""

    def __init__(
        self,
        settings: CdcSettings,
        cache: Cache,
        *,
        label: str,
        stream: str,
        policy: BatchPolicy | None,
        processors: Processor | None,
    ) -> None:
        name = f"mysql_cdc {label}"
        tracker = AckTracker()
        super().__init__(
            name,
            log,
            tracker=tracker,
            replay_nacks=settings.auto_replay_nacks,
            checkpoint_limit=settings.checkpoint_limit,
            policy=policy,
            processors=processors,
        )
        self.checkpoints = Checkpoints(cache, settings.checkpoint_key, tracker, name)
        self.connection = connection(stream, label, settings.display)
        self.worker = CdcWorker(
            settings,
            name=name,
            tracker=tracker,
            checkpoints=self.checkpoints,
            put=self.put_changes,
            connection=self.connection,
            stopping=self.stopping,
        )
        self.checkpoints.start()
        self.worker.start()

    def shutdown(self) -> None:
        self.worker.join(timeout=5.0)
        self.checkpoints.close()
        self.connection.close()
