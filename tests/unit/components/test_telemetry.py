"""The `telemetry` processor: the envelope a user gets from modbus, opcua and other messages."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest
import yaml
from component_helpers import Ctx, build

from streamforge.message import Message
from streamforge.plugin import registry
from streamforge.timefmt.timestamps import format_nanos, time_nanos

T0 = "2024-05-01T12:00:00Z"


def now_text(offset_s: float = 0.0) -> str:
    """A device time `offset_s` seconds from now (negative: the device is behind)."""
    return format_nanos(time.time_ns() + int(offset_s * 1e9))


def telemetry(conf: dict[str, Any] | None = None, ctx: Ctx | None = None) -> Any:
    return build("processor", "telemetry", conf or {}, ctx)


def run(conf: dict[str, Any] | None, *messages: Message) -> list[Message]:
    return telemetry(conf).process_batch(list(messages))  # type: ignore[no-any-return]


def one(conf: dict[str, Any] | None, payload: bytes | str, **meta: Any) -> dict[str, Any]:
    """The envelope for one message (the message must not fail)."""
    (out,) = run(conf, Message(payload, meta))
    assert out.error is None, out.error
    return json.loads(out.payload)  # type: ignore[no-any-return]


def opcua(status: str = "Good", **extra: Any) -> dict[str, Any]:
    meta = {
        "opcua_tag_name": "Temperature",
        "opcua_tag_path": "Boiler.Temperature",
        "opcua_attr_nodeid": "ns=2;s=Plant.Boiler.Temperature",
        "opcua_attr_statuscode": status,
        "opcua_source_timestamp": now_text(),
    }
    return {**meta, **extra}


def modbus(**extra: Any) -> dict[str, Any]:
    meta = {
        "modbus_tag_name": "boiler_temp",
        "modbus_tag_datatype": "FLOAT32",
        "modbus_tag_address": 100,
        "modbus_tag_register": "holding",
        "modbus_tag_slaveid": 1,
        "modbus_read_time": now_text(),
    }
    return {**meta, **extra}


MODBUS_CONF = {"asset_id": "boiler-${! @modbus_tag_slaveid }", "device_time": "@modbus_read_time"}


# -- the envelope ------------------------------------------------------------------------------


def test_opcua_reading_becomes_a_good_envelope_with_both_times() -> None:
    source = now_text(-0.25)
    env = one(
        {"asset_id": "boiler-1", "unit": "degC"}, "21.5", **opcua(opcua_source_timestamp=source)
    )
    assert list(env) == [
        "asset_id", "classification", "clock_skew_ms", "metadata", "parameter", "quality",
        "timestamps", "unit", "value",
    ]  # fmt: skip
    assert env["asset_id"] == "boiler-1"
    assert env["parameter"] == "Temperature"
    assert env["value"] == 21.5
    assert env["unit"] == "degC"
    assert env["quality"] == "GOOD"
    assert env["classification"] == "TELEMETRY"
    assert env["timestamps"]["device_time"] == source
    gateway = env["timestamps"]["gateway_time"]
    assert gateway.endswith("Z") and gateway > source
    skew = env["clock_skew_ms"]
    assert skew == pytest.approx((time_nanos(gateway) - time_nanos(source)) / 1e6, abs=0.001)
    assert skew > 0
    assert "quality_reasons" not in env["metadata"]
    assert "clock_skew_exceeded" not in env["metadata"]


def test_modbus_reading_needs_only_the_asset() -> None:
    env = one(MODBUS_CONF, "71.25", **modbus())
    assert (env["asset_id"], env["parameter"], env["value"]) == ("boiler-1", "boiler_temp", 71.25)
    assert env["quality"] == "GOOD"
    assert env["unit"] is None


def test_times_in_the_envelope_are_utc_with_nanoseconds() -> None:
    env = one(
        {"asset_id": "a"},
        "1",
        **opcua(opcua_source_timestamp="2024-05-01T14:00:00.123456789+02:00"),
    )
    assert env["timestamps"]["device_time"] == "2024-05-01T12:00:00.123456789Z"


def test_output_message_keeps_its_metadata_and_gains_routing_keys() -> None:
    (out,) = run(MODBUS_CONF, Message("3", modbus(kafka_key="k1")))
    assert out.metadata["kafka_key"] == "k1"
    assert out.metadata["modbus_tag_name"] == "boiler_temp"
    assert out.metadata["asset_id"] == "boiler-1"
    assert out.metadata["parameter"] == "boiler_temp"
    assert out.metadata["quality"] == "GOOD"
    assert out.metadata["classification"] == "TELEMETRY"


# -- quality from the source -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "payload", "quality", "reason"),
    [
        ("Good", "1.5", "GOOD", None),
        ("GoodClamped", "1.5", "GOOD", None),
        ("UncertainLastUsableValue", "1.5", "UNCERTAIN", "OPC UA status UncertainLastUsableValue"),
        ("UncertainSubNormal", "1.5", "UNCERTAIN", "OPC UA status UncertainSubNormal"),
        ("BadNodeIdUnknown", "null", "BAD", "OPC UA status BadNodeIdUnknown"),
        ("BadCommunicationError", "1.5", "BAD", "OPC UA status BadCommunicationError"),
        ("SomethingNew", "1.5", "UNCERTAIN", "unknown OPC UA status SomethingNew"),
        ("Good", "null", "GOOD", None),
    ],
)  # fmt: skip
def test_opcua_status_codes_map_to_quality(
    status: str, payload: str, quality: str, reason: str | None
) -> None:
    env = one({"asset_id": "a"}, payload, **opcua(status))
    assert env["quality"] == quality
    assert env["metadata"].get("quality_reasons") == ([reason] if reason else None)


def test_opcua_error_without_status_is_bad() -> None:
    meta = opcua(opcua_error="node ns=2;s=X: BadNodeIdUnknown")
    del meta["opcua_attr_statuscode"]
    env = one({"asset_id": "a"}, "null", **meta)
    assert env["quality"] == "BAD"
    assert env["metadata"]["quality_reasons"] == ["opcua: node ns=2;s=X: BadNodeIdUnknown"]


@pytest.mark.parametrize(
    ("code", "quality", "reason"),
    [
        (2, "BAD", "modbus: illegal data address 4000"),
        (None, "BAD", "modbus: illegal data address 4000"),
        (5, "UNCERTAIN", "modbus exception 5 (acknowledge): illegal data address 4000"),
        (6, "UNCERTAIN", "modbus exception 6 (device busy): illegal data address 4000"),
        ("6", "UNCERTAIN", "modbus exception 6 (device busy): illegal data address 4000"),
    ],
)
def test_modbus_errors_map_to_quality(code: Any, quality: str, reason: str) -> None:
    extra: dict[str, Any] = {"modbus_error": "illegal data address 4000"}
    if code is not None:
        extra["modbus_exception_code"] = code
    env = one(MODBUS_CONF, "null", **modbus(**extra))
    assert env["value"] is None
    assert env["quality"] == quality
    assert env["metadata"]["quality_reasons"] == [reason]
    assert env["metadata"]["modbus_error"] == "illegal data address 4000"


def test_null_value_without_any_status_is_bad() -> None:
    env = one({"asset_id": "a", "parameter": "p", "device_time": f'"{now_text()}"'}, "null")
    assert env["quality"] == "BAD"
    assert env["metadata"]["quality_reasons"] == ["no value"]


# -- time rules --------------------------------------------------------------------------------


def test_missing_device_time_uses_gateway_time_and_is_uncertain() -> None:
    meta = opcua()
    del meta["opcua_source_timestamp"]
    env = one({"asset_id": "a"}, "1", **meta)
    assert env["timestamps"]["device_time"] == env["timestamps"]["gateway_time"]
    assert env["clock_skew_ms"] == 0
    assert env["quality"] == "UNCERTAIN"
    assert env["metadata"]["quality_reasons"] == ["no device time; gateway time used"]


def test_missing_device_time_does_not_hide_worse_source_quality() -> None:
    env = one({"asset_id": "a", "parameter": "p"}, "null", modbus_error="timeout after 1s")
    assert env["quality"] == "BAD"
    assert env["metadata"]["quality_reasons"] == [
        "modbus: timeout after 1s",
        "no device time; gateway time used",
    ]


@pytest.mark.parametrize(("offset", "sign"), [(-60.0, 1), (60.0, -1)])
def test_clock_skew_beyond_the_limit_is_suspect_in_either_direction(
    offset: float, sign: int
) -> None:
    env = one({"asset_id": "a"}, "1", **opcua(opcua_source_timestamp=now_text(offset)))
    assert env["quality"] == "SUSPECT"
    assert env["metadata"]["clock_skew_exceeded"] is True
    assert sign * env["clock_skew_ms"] > 59_000
    (reason,) = env["metadata"]["quality_reasons"]
    assert reason.startswith("clock skew " + ("" if sign > 0 else "-"))
    assert reason.endswith("s exceeds max_clock_skew 10s")


def test_clock_skew_within_the_limit_is_not_flagged() -> None:
    env = one(
        {"asset_id": "a", "max_clock_skew": "1m"},
        "1",
        **opcua(opcua_source_timestamp=now_text(-30)),
    )
    assert env["quality"] == "GOOD"
    assert 29_000 < env["clock_skew_ms"] < 60_000
    assert "clock_skew_exceeded" not in env["metadata"]


def test_zero_max_clock_skew_turns_the_check_off() -> None:
    env = one({"asset_id": "a", "max_clock_skew": "0s"}, "1", **opcua(opcua_source_timestamp=T0))
    assert env["quality"] == "GOOD"
    assert env["clock_skew_ms"] > 0


def test_skew_does_not_improve_a_bad_reading() -> None:
    env = one({"asset_id": "a"}, "null", **opcua("BadTimeout", opcua_source_timestamp=T0))
    assert env["quality"] == "BAD"
    assert env["metadata"]["clock_skew_exceeded"] is True
    assert len(env["metadata"]["quality_reasons"]) == 2


@pytest.mark.parametrize(
    ("query", "device_time"),
    [
        ("1714564800", "2024-05-01T12:00:00Z"),
        ("1714564800.5", "2024-05-01T12:00:00.5Z"),
        ("1714564800123", "2024-05-01T12:00:00.123Z"),
        ("1714564800123456", "2024-05-01T12:00:00.123456Z"),
        ("1714564800123456789", "2024-05-01T12:00:00.123456789Z"),
        ('"1714564800"', "2024-05-01T12:00:00Z"),
        ('"2024-05-01T12:00:00.000000001Z"', "2024-05-01T12:00:00.000000001Z"),
        ('"2024-05-01 12:00:00".ts_parse("2006-01-02 15:04:05")', "2024-05-01T12:00:00Z"),
    ],
)
def test_device_time_from_strings_numbers_and_datetimes(query: str, device_time: str) -> None:
    env = one({"asset_id": "a", "parameter": "p", "device_time": query}, "1")
    assert env["timestamps"]["device_time"] == device_time


@pytest.mark.parametrize(
    ("text", "unix_ns"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2024-02-29T23:59:59.999999999Z", 1_709_251_199_999_999_999),
        ("2024-05-01T12:00:00.5Z", 1_714_564_800_500_000_000),
    ],
)
def test_source_timestamps_keep_their_instant(text: str, unix_ns: int) -> None:
    env = one({"asset_id": "a", "max_clock_skew": "0s"}, "1", **opcua(opcua_source_timestamp=text))
    assert env["timestamps"]["device_time"] == text
    gateway_ns = time_nanos(env["timestamps"]["gateway_time"])
    assert env["clock_skew_ms"] == pytest.approx((gateway_ns - unix_ns) / 1e6, abs=0.001)


def test_impossible_date_fails_the_message_naming_it() -> None:
    (out,) = run(
        {"asset_id": "a"}, Message("1", opcua(opcua_source_timestamp="2023-02-29T00:00:00Z"))
    )
    assert out.error is not None
    assert out.error.startswith("telemetry: device_time: '2023-02-29T00:00:00Z' is not a time")


def test_device_time_as_a_datetime_in_metadata() -> None:
    when = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
    env = one({"asset_id": "a"}, "1", opcua_tag_name="t", opcua_source_timestamp=when)
    assert env["timestamps"]["device_time"] == "2024-05-01T12:00:00.25Z"


def test_device_time_that_is_no_time_fails_the_message_naming_it() -> None:
    (out,) = run({"asset_id": "a"}, Message("1", opcua(opcua_source_timestamp="yesterday")))
    assert out.error is not None
    assert out.error.startswith("telemetry: device_time: 'yesterday' is not a time")


def test_device_time_query_that_yields_null_counts_as_missing() -> None:
    env = one({"asset_id": "a", "parameter": "p", "device_time": "this.ts"}, '{"ts": null}')
    assert env["quality"] == "UNCERTAIN"


# -- overrides ---------------------------------------------------------------------------------


def test_quality_field_overrides_the_source_mapping() -> None:
    env = one({"asset_id": "a", "quality": "good"}, "1", **opcua("BadSensorFailure"))
    assert env["quality"] == "GOOD"
    assert "quality_reasons" not in env["metadata"]
    env = one({"asset_id": "a", "quality": "SUSPECT"}, "1", **opcua())
    assert env["quality"] == "SUSPECT"
    assert env["metadata"]["quality_reasons"] == ["quality field: SUSPECT"]


def test_quality_field_does_not_override_the_time_rules() -> None:
    env = one({"asset_id": "a", "parameter": "p", "quality": "GOOD"}, "1")
    assert env["quality"] == "UNCERTAIN"


def test_interpolated_quality_applies_per_message_and_falls_back_when_empty() -> None:
    conf = {"asset_id": "a", "quality": '${! if this > 100 { "SUSPECT" } }'}
    low, high = run(conf, Message("5", opcua()), Message("500", opcua()))
    assert json.loads(low.payload)["quality"] == "GOOD"
    assert json.loads(high.payload)["quality"] == "SUSPECT"


def test_rendered_quality_outside_the_codes_fails_only_that_message() -> None:
    conf = {"asset_id": "a", "quality": "${! this.q }"}
    ok, bad = run(conf, Message('{"q": "BAD"}', opcua()), Message('{"q": "MEH"}', opcua()))
    assert ok.error is None and json.loads(ok.payload)["quality"] == "BAD"
    assert bad.error == 'telemetry: quality: "MEH" is not one of GOOD, SUSPECT, UNCERTAIN, BAD'


def test_static_quality_outside_the_codes_is_a_config_error() -> None:
    with pytest.raises(ValueError, match='quality: "PERFECT" is not one of GOOD'):
        telemetry({"quality": "PERFECT"})


def test_fields_from_metadata_by_interpolation() -> None:
    conf = {
        "asset_id": '${! @opcua_tag_path.split(".").index(0).lowercase() }',
        "parameter": "${! @opcua_tag_path }",
        "unit": "degC",
        "adapter_id": 'gw-${! @opcua_attr_nodeid.split(";").index(0) }',
    }
    env = one(conf, "1", **opcua())
    assert (env["asset_id"], env["parameter"]) == ("boiler", "Boiler.Temperature")
    assert env["metadata"]["adapter_id"] == "gw-ns=2"


# -- classification ----------------------------------------------------------------------------


def test_classification_default_static_and_rendered() -> None:
    assert one({"asset_id": "a"}, "1", **opcua())["classification"] == "TELEMETRY"
    assert (
        one({"asset_id": "a", "classification": "event"}, "1", **opcua())["classification"]
        == "EVENT"
    )
    conf = {"asset_id": "a", "classification": '${! if this > 90 { "alarm" } }'}
    cold, hot = run(conf, Message("20", opcua()), Message("95", opcua()))
    assert json.loads(cold.payload)["classification"] == "TELEMETRY"
    assert json.loads(hot.payload)["classification"] == "ALARM"
    assert hot.metadata["classification"] == "ALARM"


def test_rendered_classification_outside_the_set_fails_that_message_naming_it() -> None:
    conf = {"asset_id": "a", "classification": "${! this.kind }"}
    ok, bad = run(
        conf, Message('{"kind": "EVENT"}', opcua()), Message('{"kind": "WARNING"}', opcua())
    )
    assert ok.error is None
    assert bad.error == 'telemetry: classification: "WARNING" is not one of TELEMETRY, EVENT, ALARM'


def test_static_classification_outside_the_set_is_a_config_error() -> None:
    with pytest.raises(ValueError, match='classification: "WARNING" is not one of TELEMETRY'):
        telemetry({"classification": "WARNING"})


# -- metadata ----------------------------------------------------------------------------------


def test_envelope_metadata_keeps_protocol_keys_with_their_types_by_default() -> None:
    env = one(MODBUS_CONF, "1", **modbus(kafka_key="k", path="/tmp/x"))
    meta = env["metadata"]
    assert meta["adapter_id"] == "test"  # the stream name
    assert meta["modbus_tag_address"] == 100
    assert meta["modbus_tag_slaveid"] == 1
    assert meta["modbus_tag_register"] == "holding"
    assert "kafka_key" not in meta and "path" not in meta


def test_metadata_filter_chooses_the_keys() -> None:
    conf = {
        **MODBUS_CONF,
        "metadata": {"include_prefixes": [], "include_patterns": ["^kafka_", "_register$"]},
    }
    env = one(conf, "1", **modbus(kafka_key="k"))
    assert env["metadata"] == {
        "adapter_id": "test",
        "kafka_key": "k",
        "modbus_tag_register": "holding",
    }


def test_metadata_patterns_add_to_the_default_prefixes() -> None:
    conf = {**MODBUS_CONF, "metadata": {"include_patterns": ["^kafka_key$"]}}
    meta = one(conf, "1", **modbus(kafka_key="k", kafka_topic="t"))["metadata"]
    assert meta["kafka_key"] == "k" and meta["modbus_tag_name"] == "boiler_temp"
    assert "kafka_topic" not in meta


def test_empty_metadata_filter_copies_nothing() -> None:
    conf = {**MODBUS_CONF, "metadata": {"include_prefixes": [], "include_patterns": []}}
    assert one(conf, "1", **modbus())["metadata"] == {"adapter_id": "test"}


def test_adapter_id_defaults_to_the_stream_name() -> None:
    ctx = Ctx()
    ctx.stream = "plant-north"
    (out,) = telemetry({"asset_id": "a"}, ctx).process_batch([Message("1", opcua())])
    assert json.loads(out.payload)["metadata"]["adapter_id"] == "plant-north"


# -- payloads ----------------------------------------------------------------------------------


def test_payload_that_is_not_json_becomes_a_string_value() -> None:
    env = one(MODBUS_CONF, "RUNNING mode 3", **modbus())
    assert env["value"] == "RUNNING mode 3"
    assert env["quality"] == "GOOD"


def test_empty_payload_is_a_missing_value() -> None:
    env = one(MODBUS_CONF, "", **modbus())
    assert env["value"] is None
    assert env["quality"] == "BAD"


def test_value_query_picks_and_computes() -> None:
    env = one({**MODBUS_CONF, "value": "this.raw * 0.5"}, '{"raw": 41}', **modbus())
    assert env["value"] == 20.5
    env = one({**MODBUS_CONF, "value": "content().string().uppercase()"}, "on", **modbus())
    assert env["value"] == "ON"


def test_value_query_on_a_payload_that_is_not_json_fails_naming_the_field() -> None:
    (out,) = run({**MODBUS_CONF, "value": "this.raw"}, Message("not json", modbus()))
    assert out.error is not None and out.error.startswith("telemetry: value: ")
    assert "json" in out.error


def test_structured_values_stay_structured() -> None:
    env = one(MODBUS_CONF, '{"x": 1, "y": [2, 3]}', **modbus())
    assert env["value"] == {"x": 1, "y": [2, 3]}


def test_envelope_payload_is_restamped_keeping_its_fields() -> None:
    first = one(
        {"asset_id": "press-01", "unit": "bar", "classification": "EVENT"},
        "5.5",
        **opcua("UncertainInitialValue"),
    )
    second = one({}, json.dumps(first))
    for key in ("asset_id", "parameter", "value", "unit", "quality", "classification"):
        assert second[key] == first[key]
    assert second["timestamps"]["device_time"] == first["timestamps"]["device_time"]
    assert second["metadata"]["quality_reasons"] == ["OPC UA status UncertainInitialValue"]
    assert second["metadata"]["opcua_tag_name"] == "Temperature"


def test_asset_id_from_metadata_when_the_field_is_empty() -> None:
    env = one({}, "1", **opcua(asset_id="oven-7"))
    assert env["asset_id"] == "oven-7"


# -- errors ------------------------------------------------------------------------------------


def test_failing_value_query_fails_only_that_message() -> None:
    conf = {**MODBUS_CONF, "value": "this.raw.number()"}
    good, bad = run(conf, Message('{"raw": "7"}', modbus()), Message('{"raw": "seven"}', modbus()))
    assert good.error is None and json.loads(good.payload)["value"] == 7
    assert bad.error is not None and bad.error.startswith("telemetry: value: ")
    assert json.loads(bad.payload) == {"raw": "seven"}


def test_message_without_asset_or_parameter_fails_saying_what_to_set() -> None:
    no_asset, no_param = run(
        {}, Message("1", {"opcua_tag_name": "t"}), Message("1", {"asset_id": "a"})
    )
    assert no_asset.error is not None and "set the asset_id field" in no_asset.error
    assert no_param.error is not None and no_param.error.startswith("telemetry: parameter: empty")


def test_failing_interpolation_names_the_field() -> None:
    (out,) = run({"asset_id": "${! this.site.uppercase() }"}, Message("{}", opcua()))
    assert out.error is not None and out.error.startswith("telemetry: asset_id: ")


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"value": "this.(("}, "value: bad Bloblang"),
        ({"device_time": "this."}, "device_time: bad Bloblang"),
        ({"asset_id": "${! this. }"}, "asset_id: bad interpolation"),
        ({"max_clock_skew": "ten seconds"}, "max_clock_skew: invalid duration"),
        ({"max_clock_skew": "-1s"}, "max_clock_skew: '-1s' must not be negative"),
    ],
)
def test_config_mistakes_name_the_field(conf: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        telemetry(conf)


# -- the documented examples -------------------------------------------------------------------


def test_spec_examples_build_and_make_envelopes() -> None:
    spec = registry.get("processor", "telemetry")
    assert spec is not None
    modbus_ex, opcua_ex = (yaml.safe_load(e)["telemetry"] for e in spec.examples)
    env = one(modbus_ex, "80.5", **modbus(modbus_tag_name="inlet_temp", modbus_tag_slaveid=3))
    assert (env["asset_id"], env["unit"], env["quality"]) == ("boiler-3", "degC", "GOOD")
    assert env["metadata"]["adapter_id"] == "modbus-gateway-1"
    fault = opcua(opcua_tag_name="Fault", opcua_tag_path="Pump1.Fault")
    env = one(opcua_ex, "true", **fault)
    assert (env["asset_id"], env["classification"]) == ("Pump1", "ALARM")
    assert set(env["metadata"]) == {
        "adapter_id", "opcua_tag_name", "opcua_tag_path", "opcua_attr_nodeid",
        "opcua_attr_statuscode",
    }  # fmt: skip
