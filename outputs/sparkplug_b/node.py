"""An edge node's Sparkplug state: its metrics and their aliases, sequence numbers, bdSeq, and
the BIRTH, DATA and DEATH payloads made from them.

Every metric of the node and of each of its devices has a name, an alias and a datatype, fixed
by its BIRTH. Aliases of configured metrics are the configured ones; every other metric gets
the next free alias above them. The NBIRTH carries sequence number 0 and the session's bdSeq;
each later payload of the node (DBIRTH, NDATA, DDATA) the next number, 0..255 wrapping. The
NDEATH (the MQTT will) carries the bdSeq of the connection it belongs to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from streamforge.connectors.sparkplug_proto import Metric, Payload
from streamforge.connectors.sparkplug_types import infer_datatype
from streamforge.outputs.sparkplug_b.samples import ConfiguredMetric, Sample

__all__ = ["BDSEQ", "REBIRTH", "EdgeNode", "MetricDef"]

BDSEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
DEVICE_REBIRTH = "Device Control/Rebirth"
_INT64, _BOOLEAN = 4, 11


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class MetricDef:
    """One metric of the node or of a device, and its last value (as encoded)."""

    name: str
    alias: int
    datatype: int
    kind: str | None = None
    raw: Any = None
    timestamp: int | None = None

    def remember(self, kind: str, raw: Any, timestamp: int | None) -> None:
        self.kind, self.raw, self.timestamp = kind, raw, timestamp

    def birth_metric(self, with_value: bool) -> Metric:
        metric = Metric(
            name=self.name, alias=self.alias, datatype=self.datatype, timestamp=self.timestamp
        )
        if with_value and self.kind is not None:
            metric.kind, metric.value = self.kind, self.raw
        else:
            metric.is_null = True
        return metric


class EdgeNode:
    """The metrics, aliases and sequence numbers of one edge node (callers hold a lock)."""

    def __init__(
        self,
        configured: dict[str, ConfiguredMetric],
        *,
        retain_last_values: bool = True,
        bdseq: int = 0,
        configured_device: str = "",
    ) -> None:
        self.configured = configured
        self.retain_last_values = retain_last_values
        self.bdseq = bdseq % 256
        self.seq = 0
        #: device id ('' for the node itself) -> metric name -> definition
        self.devices: dict[str, dict[str, MetricDef]] = {"": {}}
        #: devices whose BIRTH was published since the last NBIRTH
        self.born: set[str] = set()
        self._next_alias = max([m.alias for m in configured.values()] + [0]) + 1
        for metric in configured.values():
            self.add(self.new_def(configured_device, Sample(metric.name, None, None, None)),
                     configured_device)  # fmt: skip

    # -- definitions -----------------------------------------------------------------------

    def get(self, device: str, name: str) -> MetricDef | None:
        return self.devices.get(device, {}).get(name)

    def new_def(self, device: str, sample: Sample) -> MetricDef:
        """A definition for a metric not seen yet (alias given when added)."""
        known = self.configured.get(sample.name)
        if known is not None:
            return MetricDef(sample.name, known.alias, known.datatype)
        datatype = sample.datatype or infer_datatype(sample.value)
        return MetricDef(sample.name, -1, datatype)

    def add(self, defn: MetricDef, device: str) -> None:
        if defn.alias < 0:
            defn.alias = self._next_alias
            self._next_alias += 1
        self.devices.setdefault(device, {})[defn.name] = defn

    def alias_name(self, device: str, alias: int) -> str | None:
        for defn in self.devices.get(device, {}).values():
            if defn.alias == alias:
                return defn.name
        return None

    # -- payloads --------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def nbirth(self) -> Payload:
        """The NBIRTH of a (re)birth: sequence 0, bdSeq, the rebirth control, node metrics."""
        self.seq = 0
        self.born = {""}
        now = _now_ms()
        metrics = [
            Metric(name=BDSEQ, datatype=_INT64, timestamp=now, kind="long_value",
                   value=self.bdseq),
            Metric(name=REBIRTH, datatype=_BOOLEAN, timestamp=now, kind="boolean_value",
                   value=False),
        ]  # fmt: skip
        metrics += [d.birth_metric(self.retain_last_values) for d in self.devices[""].values()]
        return Payload(timestamp=now, metrics=metrics, seq=0)

    def dbirth(self, device: str) -> Payload:
        self.born.add(device)
        metrics = [
            d.birth_metric(self.retain_last_values) for d in self.devices.get(device, {}).values()
        ]
        return Payload(timestamp=_now_ms(), metrics=metrics, seq=self._next_seq())

    def data(self, items: list[tuple[MetricDef, str, Any, int | None]]) -> Payload:
        """An NDATA/DDATA of (definition, value field, raw value, timestamp) by alias; the
        values become the metrics' last values."""
        now = _now_ms()
        metrics = []
        for defn, kind, raw, stamp in items:
            when = stamp if stamp is not None else now
            metrics.append(
                Metric(alias=defn.alias, datatype=defn.datatype, timestamp=when, kind=kind,
                       value=raw)
            )  # fmt: skip
            defn.remember(kind, raw, when)
        return Payload(timestamp=now, metrics=metrics, seq=self._next_seq())

    def ndeath(self, bdseq: int | None = None) -> Payload:
        """The NDEATH: the bdSeq of its connection, no sequence number."""
        value = self.bdseq if bdseq is None else bdseq % 256
        return Payload(
            timestamp=_now_ms(),
            metrics=[Metric(name=BDSEQ, datatype=_INT64, kind="long_value", value=value)],
        )

    def known_devices(self) -> list[str]:
        """Devices with metrics (each gets a DBIRTH after an NBIRTH)."""
        return [d for d, defs in self.devices.items() if d and defs]
