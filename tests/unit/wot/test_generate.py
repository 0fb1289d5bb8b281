"""generate_stream: each binding's rules, through the td_* templates, to configs that lint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamforge.config.loader import empty, load_stream
from streamforge.config.model import StreamConfig
from streamforge.config.templates import load_shipped_templates
from streamforge.engine.instantiate import StreamBuilder, build_problems
from streamforge.message import Message
from streamforge.wot import TdError
from streamforge.wot.generate import (
    GeneratedStream,
    GenerateOptions,
    generate_stream,
    stream_id_for,
)
from streamforge.wot.model import parse_td

from .conftest import td_doc

CREDS = {
    "basic_sc": {"username": "mixer", "password": "s3cret"},
    "user_sc": {"username": "operator", "password": "pw"},
    "sasl_sc": {"username": "press", "password": "pw", "mechanism": "SCRAM-SHA-256"},
    "bearer_sc": {"token": "tok-123"},
    "key_sc": {"key": "k-1"},
    "channel_sc": {"certificate_dir": "/var/lib/sf/opcua"},
}


def generate(name: str, binding: str, **options: Any) -> GeneratedStream:
    options.setdefault("credentials", CREDS)
    return generate_stream(td_doc(name), binding, GenerateOptions(**options))


def linted(generated: GeneratedStream, tmp_path: Path) -> StreamConfig:
    """The generated YAML loaded as a stream, asserting lint finds nothing."""
    assert load_shipped_templates() == []
    path = tmp_path / f"{generated.name}.yaml"
    path.write_text(generated.yaml, encoding="utf-8")
    stream = load_stream(path)
    assert [str(p) for p in empty(stream) + build_problems(stream)] == []
    return stream


def run(stream: StreamConfig, messages: list[Message]) -> list[Message]:
    for proc in StreamBuilder(stream).build_processors(stream.processors):
        messages = proc.process_batch(messages)
    return messages


def use(generated: GeneratedStream, template: str) -> dict[str, Any]:
    value: dict[str, Any] = generated.config["input"][template]
    return value


# -- names -----------------------------------------------------------------------------------


def test_stream_ids_and_names() -> None:
    assert stream_id_for("urn:weather:station-1/outdoor") == "urn_weather_station-1_outdoor"
    assert stream_id_for("urn:dev:ops:32473-Lamp.1") == "urn_dev_ops_32473-Lamp.1"
    g = generate("mqtt-weather", "mqtt")
    assert g.name == "things.urn_weather_station-1_outdoor.mqtt"
    assert g.config["output"] == {
        "file": {"path": "./things/urn_weather_station-1_outdoor.jsonl", "codec": "lines"}
    }


# -- Modbus ----------------------------------------------------------------------------------


def test_modbus_base_relative_hrefs_entities_types_and_polling(tmp_path: Path) -> None:
    g = generate("modbus-boiler", "modbus")
    m = use(g, "td_modbus")
    assert m["controller"] == "tcp://10.0.0.5:502"
    assert m["slave_id"] == 1
    assert m["poll_interval"] == "500ms"  # modv:pollingTime
    assert m["byte_order"] == "CDAB"  # modv:mostSignificantWord false
    assert m["properties"] == [
        {"name": "temperature", "register": "holding", "address": 100, "type": "FLOAT32"},
        {"name": "pressure", "register": "input", "address": 102, "type": "INT16"},
        {"name": "burnerOn", "register": "coil", "address": 7, "type": "BIT"},
        {"name": "setpoint", "register": "holding", "address": 40010, "type": "FLOAT32"},
    ]  # reset is writeOnly: not read
    assert any("40010 looks like a 1-based holding reference" in w for w in g.warnings)
    stream = linted(g, tmp_path)
    assert stream.input.type == "modbus"
    assert stream.input.conf["timeBetweenReads"] == "500ms"
    assert [p.type for p in stream.processors] == ["mutation", "telemetry", "validate"]
    out = run(stream, [Message(b"180.5", metadata={"modbus_tag_name": "temperature"})])
    assert out[0].value["parameter"] == "temperature"
    assert out[0].value["unit"] == "°C"
    assert out[0].value["asset_id"] == "urn:plant:boiler:1"
    assert out[0].value["quality"] == "BAD"  # above the TD's maximum 150


def test_modbus_vocabulary_terms_under_another_prefix(tmp_path: Path) -> None:
    g = generate("modbus-terms", "modbus", interval="250ms")
    m = use(g, "td_modbus")
    assert m["controller"] == "tcp://press7.local:502"  # default port
    assert m["slave_id"] == 4  # modbus:unitId / unitID
    assert m["poll_interval"] == "250ms"  # the interval option wins over pollingTime
    assert m["byte_order"] == "BADC"  # mostSignificantByte false
    assert m["properties"] == [
        {"name": "force", "register": "input", "address": 20, "type": "FLOAT32"},
        {"name": "strokes", "register": "input", "address": 30, "type": "INT64"},
        {"name": "doorClosed", "register": "discrete", "address": 3, "type": "BIT"},
    ]
    linted(g, tmp_path)


def test_modbus_href_without_quantity_and_unit_per_property(tmp_path: Path) -> None:
    doc = td_doc("modbus-boiler")
    doc["properties"]["pressure"]["forms"][0]["href"] = "modbus+tcp://10.0.0.5:502/2/102"
    g = generate_stream(doc, "modbus", GenerateOptions(properties=["temperature", "pressure"]))
    props = use(g, "td_modbus")["properties"]
    assert props[1] == {
        "name": "pressure", "register": "input", "address": 102, "type": "INT16", "unit_id": 2,
    }  # fmt: skip
    stream = linted(g, tmp_path)
    assert stream.input.conf["addresses"][1]["slaveID"] == 2


def test_modbus_without_an_address_is_a_problem() -> None:
    doc = td_doc("modbus-terms")
    del doc["properties"]["force"]["forms"][0]["modbus:address"]
    with pytest.raises(TdError) as caught:
        generate_stream(doc, "modbus")
    assert [p.path for p in caught.value.problems] == ["$.properties.force.forms[0]"]


# -- MQTT ------------------------------------------------------------------------------------


def test_mqtt_topics_from_terms_and_hrefs_one_input(tmp_path: Path) -> None:
    g = generate("mqtt-weather", "mqtt")
    m = use(g, "td_mqtt")
    assert m["broker"] == "mqtt://broker.local:1883"
    assert m["topics"] == [
        "weather/station1/temperature",  # mqv:filter
        "weather/station1/humidity",  # the href, percent-decoded
        "weather%2Fstation1%2Fhumidity",  # and as written (node-wot publishes to that)
        "weather/station1/wind",  # an absolute href's path
        "weather/+/alerts/storm",  # mqv:topic of an event
    ]
    stream = linted(g, tmp_path)
    assert stream.input.type == "mqtt"
    assert stream.input.conf["urls"] == ["tcp://broker.local:1883"]
    out = run(
        stream,
        [
            Message(b"55.5", metadata={"mqtt_topic": "weather/station1/humidity"}),
            Message(b'"gale"', metadata={"mqtt_topic": "weather/north/alerts/storm"}),
            Message(b'"x"', metadata={"mqtt_topic": "weather/station1/temperature"}),
        ],
    )
    assert [(m.value["parameter"], m.value["classification"]) for m in out] == [
        ("humidity", "TELEMETRY"), ("storm", "EVENT"), ("temperature", "TELEMETRY"),
    ]  # fmt: skip
    assert out[0].value["unit"] == "%" and out[0].error is None
    assert out[2].error is not None and "not of type 'number'" in out[2].error  # type check


def test_mqtt_alias_prefix_tls_qos_and_basic_credentials(tmp_path: Path) -> None:
    g = generate("mqtt-secured", "mqtt")
    m = use(g, "td_mqtt")
    assert m["topics"] == ["mixers/3/speed"]
    assert m["qos"] == 2
    assert (m["user"], m["password"]) == ("mixer", "s3cret")
    stream = linted(g, tmp_path)
    assert stream.input.conf["urls"] == ["ssl://broker.plant.local:8883"]


def test_missing_credentials_name_the_scheme() -> None:
    with pytest.raises(TdError) as caught:
        generate("mqtt-secured", "mqtt", credentials={})
    (problem,) = caught.value.problems
    assert problem.path == "$.securityDefinitions.basic_sc"
    assert '"basic_sc" (basic) needs credentials' in problem.message


def test_only_chosen_events(tmp_path: Path) -> None:
    g = generate("mqtt-weather", "mqtt", properties=[], events=["storm"])
    assert use(g, "td_mqtt")["topics"] == ["weather/+/alerts/storm"]
    linted(g, tmp_path)


# -- OPC UA ----------------------------------------------------------------------------------


def test_opcua_node_ids_from_href_and_term_subscription_and_security(tmp_path: Path) -> None:
    g = generate("opcua-line", "opcua")
    o = use(g, "td_opcua")
    assert o["endpoint"] == "opc.tcp://line4.local:4840"
    assert o["node_ids"] == ["ns=2;s=Line4.Speed", "ns=2;i=1042"]
    assert o["subscribe"] is True
    assert (o["security_mode"], o["security_policy"]) == ("SignAndEncrypt", "Basic256Sha256")
    assert (o["username"], o["password"]) == ("operator", "pw")  # combo allOf with basic
    assert o["certificate_dir"] == "/var/lib/sf/opcua"
    stream = linted(g, tmp_path)
    assert stream.input.conf["subscribeEnabled"] is True
    out = run(stream, [Message(b"7", metadata={"opcua_attr_nodeid": "ns=2;i=1042"})])
    assert out[0].value["parameter"] == "count"


def test_opcua_polled_with_a_percent_encoded_id(tmp_path: Path) -> None:
    g = generate("opcua-polled", "opcua", interval="10s")
    o = use(g, "td_opcua")
    assert o["endpoint"] == "opc.tcp://tanks.local:4840/UA/Tanks"
    assert o["node_ids"] == ["ns=3;s=Tank2.Level"]
    assert o["subscribe"] is False and o["interval"] == "10s"
    stream = linted(g, tmp_path)
    assert stream.input.conf["pollInterval"] == "10s"


# -- HTTP ------------------------------------------------------------------------------------


def test_http_poll_with_method_headers_and_bearer(tmp_path: Path) -> None:
    g = generate("http-meter", "http", properties=["power"], events=[])
    h = use(g, "td_http_poll")
    assert h["url"] == "https://meter.local/api/properties/power"
    assert h["method"] == "GET" and h["mode"] == "poll" and h["interval"] == "5s"
    assert h["headers"] == {"Accept": "application/json", "Authorization": "Bearer tok-123"}
    stream = linted(g, tmp_path)
    assert stream.input.type == "http_client"
    assert stream.input.conf["interval"] == "5s"


def test_http_sse_observation(tmp_path: Path) -> None:
    g = generate("http-meter", "http", properties=["energy"], events=[])
    h = use(g, "td_http_poll")
    assert h["mode"] == "sse" and h["url"].endswith("/properties/energy/observe")
    stream = linted(g, tmp_path)
    assert stream.input.conf["stream"]["enabled"] is True
    assert stream.input.conf["stream"]["codec"] == "sse"


def test_http_longpoll_event(tmp_path: Path) -> None:
    g = generate("http-meter", "http", properties=[], events=["overload"])
    assert use(g, "td_http_poll")["mode"] == "longpoll"
    stream = linted(g, tmp_path)
    assert stream.input.conf["interval"] == 0 or stream.input.conf["interval"] in ("0s", 0.0)


def test_http_several_affordances_warn() -> None:
    g = generate("http-meter", "http")
    assert use(g, "td_http_poll")["affordance"] == "power"
    assert any("energy, overload are left out" in w for w in g.warnings)


def test_http_apikey_header() -> None:
    doc = td_doc("http-thing-forms")
    doc["properties"]["co2"]["forms"] = [{"href": "co2"}]
    g = generate_stream(doc, "http", GenerateOptions(credentials=CREDS))
    assert use(g, "td_http_poll")["headers"] == {"X-Api-Key": "k-1"}
    assert any("Thing-level forms" in w for w in g.warnings)  # temperature


def test_thing_level_forms_only_is_a_problem() -> None:
    with pytest.raises(TdError) as caught:
        generate("http-thing-forms", "http")
    assert caught.value.problems[0].path == "$"


# -- Kafka -----------------------------------------------------------------------------------


def test_kafka_topics_consumer_group_and_sasl(tmp_path: Path) -> None:
    g = generate("kafka-press", "kafka")
    k = use(g, "td_kafka")
    assert k["brokers"] == ["kafka1.local:9092"]
    assert k["topics"] == ["press9.force", "press9.events"]
    assert k["consumer_group"] == "urn_press_9"
    assert (k["sasl_mechanism"], k["user"]) == ("SCRAM-SHA-256", "press")
    stream = linted(g, tmp_path)
    assert stream.input.conf["consumer_group"] == "urn_press_9"
    out = run(stream, [Message(b'"jammed"', metadata={"kafka_topic": "press9.events"})])
    assert out[0].value["parameter"] == "jam" and out[0].value["classification"] == "EVENT"


# -- options and problems --------------------------------------------------------------------


def test_output_option(tmp_path: Path) -> None:
    g = generate("kafka-press", "kafka", output={"stdout": {}})
    assert g.config["output"] == {"stdout": {}}
    linted(g, tmp_path)


def test_unknown_property_and_wrong_binding() -> None:
    with pytest.raises(TdError) as caught:
        generate("modbus-boiler", "modbus", properties=["temprature"])
    assert caught.value.problems[0].path == "$.properties.temprature"
    with pytest.raises(TdError) as caught:
        generate("modbus-boiler", "mqtt")
    assert "no property or event has a mqtt form" in caught.value.problems[0].message
    with pytest.raises(TdError):
        generate("modbus-boiler", "coap")


def test_an_invalid_td_is_refused_with_its_problems() -> None:
    with pytest.raises(TdError) as caught:
        generate_stream(td_doc("invalid/no-forms"), "http")
    assert caught.value.problems[0].path == "$.properties.position.forms"


def test_default_ops_per_kind() -> None:
    td = parse_td(td_doc("modbus-boiler"))
    ops = {a.name: a.forms[0].ops for a in td.affordances}
    assert ops["pressure"] == ("readproperty",)  # readOnly
    assert ops["burnerOn"] == ("readproperty", "writeproperty")
    assert ops["reset"] == ("writeproperty",)  # writeOnly
    events = parse_td(td_doc("kafka-press")).of_kind("event")
    assert events[0].forms[0].ops == ("subscribeevent", "unsubscribeevent")
