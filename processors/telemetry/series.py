"""The series of a telemetry reading: the key stateful processors keep their state under."""

from __future__ import annotations

from streamforge.message import Message, PayloadError
from streamforge.plugin.keyed import KeyedProcessor

__all__ = ["SeriesKeyedProcessor", "series_key"]


def series_key(msg: Message) -> str:
    """`<asset_id>/<parameter>` from the envelope, or the same metadata; "" when neither."""
    try:
        value = msg.value
    except PayloadError:
        value = None  # not JSON: the metadata may still name the series
    if type(value) is dict:
        asset, parameter = value.get("asset_id"), value.get("parameter")
        if asset is not None or parameter is not None:
            return f"{asset if asset is not None else ''}/{parameter or ''}"
    meta = msg.metadata
    asset, parameter = meta.get("asset_id"), meta.get("parameter")
    if asset is None and parameter is None:
        return ""
    return f"{asset if asset is not None else ''}/{parameter or ''}"


class SeriesKeyedProcessor(KeyedProcessor):
    """A keyed processor whose state is kept per series of the telemetry envelope."""

    def key(self, msg: Message) -> str:
        return series_key(msg)

    def key_identity(self) -> str | None:
        """The key identity `series`, unless a subclass keys messages its own way."""
        return "series" if type(self).key is SeriesKeyedProcessor.key else None
