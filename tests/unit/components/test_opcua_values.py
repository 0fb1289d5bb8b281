"""OPC UA values to messages without a server: JSON forms, tag types, statuses, timestamps."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from asyncua import ua

from streamforge.inputs.opcua.values import NodeInfo, json_value, status_name, tag_type


def info(datatype: str = "Double") -> NodeInfo:
    n = NodeInfo(ua.NodeId("Plant.T", 2), "T", "Plant.T", datatype)
    n.prepare("opc.tcp://plc:4840")
    return n


def test_json_forms() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc)
    assert json_value(when) == "2024-01-02T03:04:05.6Z"
    assert json_value(b"\x00\xff") == "AP8="
    assert json_value(ua.LocalizedText("hot", "en")) == "hot"
    assert json_value(ua.QualifiedName("Temp", 2)) == "2:Temp"
    assert json_value(ua.NodeId("x", 3)) == "ns=3;s=x"
    guid = uuid.UUID("09087e75-8e5e-499b-954f-f2a9603db28a")
    assert json_value(guid) == str(guid)
    assert json_value([[1, 2], [3, 4]]) == [[1, 2], [3, 4]]
    assert json_value(ua.EUInformation(DisplayName=ua.LocalizedText("°C")))["DisplayName"] == "°C"


def test_tag_types() -> None:
    assert tag_type(True, "Boolean") == "bool"
    assert tag_type(1.5, "Double") == "number"
    assert tag_type("x", "String") == "string"
    assert tag_type([1], "Int32") == "other"
    assert tag_type(None, "Int32") == "number"
    assert tag_type(None, "") == "other"


def test_status_names_ignore_info_bits() -> None:
    assert status_name(0) == "Good"
    assert status_name(ua.StatusCodes.BadNodeIdUnknown) == "BadNodeIdUnknown"
    assert status_name(ua.StatusCodes.UncertainLastUsableValue | 0x400) == (
        "UncertainLastUsableValue"
    )


def test_message_of_a_value() -> None:
    src = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    dv = ua.DataValue(ua.Variant(21.5, ua.VariantType.Double), SourceTimestamp=src)
    m = info().message(dv)
    assert m.value == 21.5 and m.error is None
    assert m.metadata == {
        "opcua_tag_name": "T",
        "opcua_tag_path": "Plant.T",
        "opcua_attr_nodeid": "ns=2;s=Plant.T",
        "opcua_attr_datatype": "Double",
        "opcua_endpoint": "opc.tcp://plc:4840",
        "opcua_tag_type": "number",
        "opcua_attr_statuscode": "Good",
        "opcua_source_timestamp": "2024-01-02T03:04:05.123456Z",
    }


def test_bad_value_is_null_with_the_cause() -> None:
    dv = ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadDeviceFailure))
    m = info().message(dv)
    assert m.payload == b"null" and m.error is None
    assert m.metadata["opcua_attr_statuscode"] == "BadDeviceFailure"
    assert m.metadata["opcua_error"].startswith("node ns=2;s=Plant.T: BadDeviceFailure")


def test_abstract_declared_type_reports_the_value_type() -> None:
    dv = ua.DataValue(ua.Variant(7, ua.VariantType.UInt16))
    assert info("BaseDataType").message(dv).metadata["opcua_attr_datatype"] == "UInt16"
