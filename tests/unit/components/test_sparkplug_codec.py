"""Sparkplug B without a broker: the codec against the protobuf runtime, datatypes, the edge
node's sequence numbers, the host's alias tables, and lint of `sparkplug_b` configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from component_helpers import lint_stream, validated_conf
from google.protobuf import message_factory

from streamforge.connectors.sparkplug_proto import Metric, Payload, decode_payload, encode_payload
from streamforge.connectors.sparkplug_types import decode_value, encode_value, float32
from streamforge.inputs.sparkplug_b.decoder import SparkplugDecoder
from streamforge.license.catalog import feature_of
from streamforge.outputs.sparkplug_b.node import EdgeNode
from streamforge.outputs.sparkplug_b.output import check_sparkplug_output
from streamforge.outputs.sparkplug_b.samples import samples_of
from streamforge.plugin import Message
from streamforge.processors.protobuf import compile_protos

PROTO_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "sparkplug"


@pytest.fixture(scope="module")
def Runtime() -> Any:  # noqa: N802 - the protobuf message class
    pool = compile_protos([str(PROTO_DIR)])
    descriptor = pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload")
    return message_factory.GetMessageClass(descriptor)


# -- the codec -------------------------------------------------------------------------------


def test_payloads_the_protobuf_runtime_writes_decode_and_encode_back_byte_for_byte(
    Runtime: Any,  # noqa: N803
) -> None:
    p = Runtime(timestamp=1714564800000, seq=17, uuid="u-1", body=b"\x00\x01")
    p.metrics.add(name="i8", alias=1, datatype=1, int_value=(1 << 32) - 128)
    p.metrics.add(name="u64", alias=2, datatype=8, long_value=(1 << 64) - 1)
    p.metrics.add(name="f", alias=3, datatype=9, float_value=0.1, timestamp=5)
    p.metrics.add(name="d", datatype=10, double_value=-2.5, is_historical=True)
    p.metrics.add(name="null", datatype=12, is_null=True)
    table = p.metrics.add(name="table", datatype=16).dataset_value
    table.num_of_columns = 2
    table.columns.extend(["n", "s"])
    table.types.extend([2, 12])
    row = table.rows.add()
    row.elements.add(int_value=(1 << 32) - 2)
    row.elements.add(string_value="x")
    tpl = p.metrics.add(name="motor", datatype=19).template_value
    tpl.template_ref = "Motor"
    tpl.metrics.add(name="rpm", datatype=3, int_value=1500)
    data = p.SerializeToString()

    decoded = decode_payload(data)
    assert (decoded.timestamp, decoded.seq, decoded.uuid, decoded.body) == (
        1714564800000, 17, "u-1", b"\x00\x01"
    )  # fmt: skip
    values = {m.name: decode_value(m) for m in decoded.metrics}
    assert values == {
        "i8": -128, "u64": (1 << 64) - 1, "f": 0.1, "d": -2.5, "null": None,
        "table": {"columns": ["n", "s"], "types": ["Int16", "String"], "rows": [[-2, "x"]]},
        "motor": {"template_ref": "Motor", "is_definition": False,
                  "metrics": [{"name": "rpm", "datatype": "Int32", "value": 1500}]},
    }  # fmt: skip
    assert decoded.metrics[3].is_historical is True
    without_template = Runtime.FromString(data)
    del without_template.metrics[-1]
    decoded.metrics.pop()
    assert encode_payload(decoded) == without_template.SerializeToString()


def test_what_the_codec_writes_the_protobuf_runtime_reads(Runtime: Any) -> None:  # noqa: N803
    ours = Payload(
        timestamp=7,
        seq=255,
        metrics=[
            Metric(name="neg", alias=9, datatype=4, kind="long_value", value=-3),
            Metric(name="ok", datatype=11, kind="boolean_value", value=True),
            Metric(alias=10, datatype=12, kind="string_value", value="héllo"),
        ],
    )
    theirs = Runtime.FromString(encode_payload(ours))
    assert theirs.seq == 255 and theirs.timestamp == 7
    assert theirs.metrics[0].long_value == (1 << 64) - 3
    assert theirs.metrics[1].boolean_value is True
    assert (theirs.metrics[2].alias, theirs.metrics[2].string_value) == (10, "héllo")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x12\x05\x0a\x01", "runs past the end"),
        (b"\x08\xff\xff", "truncated varint"),
        (b"\x0b", "unsupported wire type 3"),
        (b"\x12\x03\x0a\x01\xff", "metric name is not UTF-8"),
    ],
)
def test_malformed_payloads_are_refused_naming_the_place(data: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode_payload(data)


# -- datatypes -------------------------------------------------------------------------------


def test_values_encode_by_their_datatype_and_read_back_the_same() -> None:
    cases = [
        (1, -5), (2, -300), (3, -70000), (4, -(1 << 40)), (5, 200), (7, 4000000000),
        (8, (1 << 64) - 1), (9, 1.1), (10, 1 / 3), (11, True), (12, "s"), (13, 1714564800123),
        (22, [-1, 2]), (31, [0.5, -1.25]), (32, [True, False, True] * 4), (33, ["a", "", "c"]),
        (34, [1, 2]),
    ]  # fmt: skip
    for datatype, value in cases:
        kind, raw = encode_value(value, datatype)
        metric = Metric(datatype=datatype, kind=kind, value=raw)
        assert (
            decode_value(decode_payload(encode_payload(Payload(metrics=[metric]))).metrics[0])
            == value
        )


def test_values_that_do_not_fit_their_type_say_so() -> None:
    with pytest.raises(ValueError, match="300 does not fit Int8"):
        encode_value(300, 1)
    with pytest.raises(ValueError, match="is not a whole number for Int32"):
        encode_value(1.5, 3)
    with pytest.raises(ValueError, match="not a number for Double"):
        encode_value("warm", 10)
    assert encode_value("2024-05-01T12:00:00.250Z", 13) == ("long_value", 1714564800250)
    assert float32(1.100000023841858) == 1.1


# -- the edge node ---------------------------------------------------------------------------


def test_sequence_numbers_start_at_the_nbirth_and_wrap_after_255() -> None:
    node = EdgeNode({}, bdseq=300)
    assert node.bdseq == 44
    assert node.nbirth().seq == 0
    seqs = [node.dbirth("d").seq] + [node.data([]).seq for _ in range(300)]
    assert seqs == [(i + 1) % 256 for i in range(301)]
    assert node.nbirth().seq == 0 and node.data([]).seq == 1
    assert [(m.name, m.value) for m in node.ndeath().metrics] == [("bdSeq", 44)]


def test_messages_name_their_metrics_as_benthos_umh_reads_them() -> None:
    checked = check_sparkplug_output(
        {
            "identity": {"group_id": "g", "edge_node_id": "n"},
            "metrics": [{"name": "speed", "alias": 5, "type": "int32", "value_from": "rpm"}],
        }
    )
    umh = Message(b'{"value": 23.5, "timestamp_ms": 1700000000000}',
                  {"tag_name": "temperature", "virtual_path": "sensors.ambient"})  # fmt: skip
    (sample,) = samples_of(umh, checked.configured, True)
    assert (sample.name, sample.value, sample.timestamp) == (
        "sensors:ambient:temperature", 23.5, 1700000000000
    )  # fmt: skip
    (configured,) = samples_of(Message(b'{"rpm": 900}'), checked.configured, True)
    assert (configured.name, configured.value, configured.datatype) == ("speed", 900, 3)
    passed = Message.from_value({"name": "x", "value": 1}, {"spb_datatype": "UInt16"})
    (through,) = samples_of(passed, checked.configured, True)
    assert (through.name, through.datatype) == ("x", 6)
    with pytest.raises(ValueError, match="names no metric"):
        samples_of(Message(b'{"other": 1}'), checked.configured, True)


# -- the host --------------------------------------------------------------------------------


def _metric_payload(seq: int | None, *metrics: Metric, ts: int = 1) -> bytes:
    return encode_payload(Payload(timestamp=ts, seq=seq, metrics=list(metrics)))


def test_retained_births_in_any_order_still_name_the_data() -> None:
    host = SparkplugDecoder(requests_rebirths=True)
    dbirth = _metric_payload(1, Metric(name="T", alias=3, datatype=10, kind="double_value",
                                       value=1.0))  # fmt: skip
    nbirth = _metric_payload(0, Metric(name="bdSeq", datatype=4, kind="long_value", value=9))
    first = host.handle("spBv1.0/g/DBIRTH/n/d", dbirth)
    assert [r.reason for r in first.rebirths] == ["discovery"]
    host.handle("spBv1.0/g/NBIRTH/n", nbirth)
    data = host.handle(
        "spBv1.0/g/DDATA/n/d", _metric_payload(1, Metric(alias=3, kind="double_value", value=2.0))
    )
    (msg,) = data.messages
    assert msg.value == {"name": "T", "alias": 3, "value": 2.0} and msg.error is None
    assert msg.metadata["spb_bdseq"] == "9" and msg.metadata["spb_datatype"] == "Double"


def test_unknown_aliases_and_malformed_payloads_are_flagged_not_dropped() -> None:
    host = SparkplugDecoder(label="spb")
    out = host.handle("spBv1.0/g/NDATA/n", _metric_payload(0, Metric(alias=4, kind="int_value",
                                                                       value=1)))  # fmt: skip
    (msg,) = out.messages
    assert msg.metadata["spb_metric_name"] == "alias_4"
    assert "secondary_passive does not request a rebirth" in str(msg.error)
    (bad,) = host.handle("spBv1.0/g/NDATA/n", b"\xff").messages
    assert bad.payload == b"\xff" and "not a Sparkplug B payload" in str(bad.error)
    assert host.handle("plant/other/topic", b"x").messages == []


def test_host_state_reads_both_sparkplug_3_json_and_older_text() -> None:
    host = SparkplugDecoder()
    (new,) = host.handle("spBv1.0/STATE/scada", b'{"online": true, "timestamp": 5}').messages
    (old,) = host.handle("spBv1.0/STATE/scada", b"OFFLINE").messages
    assert (new.metadata["spb_state"], new.value["timestamp_ms"]) == ("ONLINE", 5)
    assert old.metadata["spb_state"] == "OFFLINE" and old.metadata["event_type"] == "state_change"


# -- configs and lint ------------------------------------------------------------------------


def test_defaults_follow_benthos_umh() -> None:
    conf = validated_conf("input", "sparkplug_b", {"mqtt": {}, "identity": {"group_id": "g"}})
    assert conf["role"] == "secondary_passive" and conf["request_birth_on_connect"] is True
    assert conf["mqtt"]["qos"] == 1 and conf["mqtt"]["keep_alive"] == "60s"
    out = validated_conf(
        "output", "sparkplug_b", {"mqtt": {}, "identity": {"group_id": "g", "edge_node_id": "n"}}
    )
    assert out["behaviour"]["auto_extract_tag_name"] is True and out["role"] == "edge_node"


def test_both_need_the_mqtt_binding_and_tls_counts_as_tls() -> None:
    conf = {"mqtt": {"tls": {"enabled": True}}, "identity": {"group_id": "g"}}
    for kind in ("input", "output"):
        features = feature_of(kind, "sparkplug_b", conf)
        assert ("bindings", "mqtt") in features and ("security", "tls") in features


def test_lint_points_at_bad_sparkplug_fields(tmp_path: Path) -> None:
    problems = lint_stream(
        tmp_path,
        """
        input:
          sparkplug_b:
            mqtt: { urls: [ tcp://localhost:1883 ] }
            identity: { group_id: g }
            role: primary_server
        output:
          sparkplug_b:
            mqtt: { urls: [ tcp://localhost:1883 ] }
            identity: { group_id: g }
            metrics:
              - { name: a, alias: 1, type: decimal }
        """,
    )
    text = "\n".join(problems)
    assert "stream.yaml:5:11: " in text and "primary_server" in text and "secondary_active" in text
    assert "stream.yaml:9:5: " in text and "identity.edge_node_id" in text, text
    assert "stream.yaml:11:36: " in text and "decimal" in text and "uint32" in text, text


def test_lint_reports_what_building_refuses_at_the_component(tmp_path: Path) -> None:
    problems = lint_stream(
        tmp_path,
        """
        input:
          sparkplug_b:
            mqtt: { urls: [ tcp://localhost:1883 ], qos: 3 }
            identity: { group_id: g }
        output:
          sparkplug_b:
            mqtt: { urls: [ tcp://localhost:1883 ] }
            identity: { group_id: "plant/a", edge_node_id: n }
        """,
    )
    text = "\n".join(problems)
    assert "stream.yaml:2:3: " in text and "mqtt.qos: must be 0, 1 or 2" in text, text
    assert "stream.yaml:6:3: " in text and "identity.group_id 'plant/a'" in text, text
    primary = lint_stream(
        tmp_path,
        """
        input:
          sparkplug_b:
            mqtt: {}
            identity: { group_id: g }
            role: primary
        output:
          drop: {}
        """,
    )
    assert any("role primary needs identity.edge_node_id" in p for p in primary), primary
    with pytest.raises(ValueError, match="metrics.1.alias: 1 is also the alias of 'a'"):
        check_sparkplug_output(
            {
                "identity": {"group_id": "g", "edge_node_id": "n"},
                "metrics": [{"name": "a", "alias": 1}, {"name": "b", "alias": 1}],
            }
        )


def test_earlier_benthos_umh_role_names_are_read() -> None:
    from streamforge.inputs.sparkplug_b.input import SparkplugInput

    def role(name: str) -> str:
        conf = {
            "mqtt": {"urls": ["tcp://localhost:1883"]},
            "identity": {"group_id": "g", "edge_node_id": "host-1"},
            "role": name,
        }
        return str(SparkplugInput(conf).role)

    assert role("primary_host") == "primary" and role("hybrid") == "primary"
    assert role("edge_node") == "secondary_active" and role("host") == "secondary_passive"
