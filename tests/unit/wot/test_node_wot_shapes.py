"""TDs shaped like those Eclipse Thingweb node-wot (0.8) serves for an exposed Thing.

node-wot writes every HTTP operation once per content type it offers (JSON, then CBOR),
`observeproperty` as a `longpoll` form of its own, absolute hrefs, and MQTT hrefs whose path is
the percent-encoded Thing title, which is also the topic it publishes to, as written.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from streamforge.message import Message
from streamforge.wot import check_td
from streamforge.wot.generate import GenerateOptions, generate_stream

from .test_generate import linted, run

HTTP = "http://10.1.2.3:8080/lab-scale"
MQTT = "mqtt://10.1.2.9:1883/Lab%20Scale/properties"


def _http_forms(name: str, content_type: str) -> list[dict[str, Any]]:
    return [
        {
            "href": f"{HTTP}/properties/{name}",
            "contentType": content_type,
            "op": ["readproperty"],
            "htv:methodName": "GET",
        },
        {
            "href": f"{HTTP}/properties/{name}/observable",
            "contentType": content_type,
            "op": ["observeproperty", "unobserveproperty"],
            "subprotocol": "longpoll",
        },
    ]


SCALE: dict[str, Any] = {
    "@context": [
        "https://www.w3.org/2019/wot/td/v1",
        "https://www.w3.org/2022/wot/td/v1.1",
        {"@language": "en"},
    ],
    "@type": "Thing",
    "id": "urn:dev:ops:lab-scale-7",
    "title": "Lab Scale",
    "securityDefinitions": {"nosec": {"scheme": "nosec"}},
    "security": ["nosec"],
    "properties": {
        "mass": {
            "type": "number",
            "unit": "g",
            "minimum": 0,
            "maximum": 500,
            "readOnly": True,
            "writeOnly": False,
            "observable": True,
            # CBOR first, as a servient whose codecs list CBOR first writes them
            "forms": _http_forms("mass", "application/cbor")
            + _http_forms("mass", "application/json")
            + [
                {
                    "href": f"{MQTT}/mass",
                    "contentType": "application/json",
                    "op": ["readproperty", "observeproperty", "unobserveproperty"],
                }
            ],
        },
        "tare": {
            "type": "boolean",
            "readOnly": True,
            "writeOnly": False,
            "observable": True,
            "forms": [
                {
                    "href": f"{MQTT}/tare",
                    "contentType": "application/json",
                    "op": ["readproperty", "observeproperty", "unobserveproperty"],
                }
            ],
        },
    },
    "forms": [
        {
            "href": f"{HTTP}/properties",
            "contentType": "application/json",
            "op": ["readallproperties", "readmultipleproperties"],
        }
    ],
}


def test_node_wots_td_shape_passes_the_checker() -> None:
    assert check_td(SCALE) == []


def test_mqtt_topics_from_percent_encoded_hrefs_are_subscribed_as_written_too(
    tmp_path: Path,
) -> None:
    g = generate_stream(SCALE, "mqtt")
    use = g.config["input"]["td_mqtt"]
    assert use["broker"] == "mqtt://10.1.2.9:1883"
    assert use["topics"] == [
        "Lab Scale/properties/mass",
        "Lab%20Scale/properties/mass",  # what node-wot publishes to
        "Lab Scale/properties/tare",
        "Lab%20Scale/properties/tare",
    ]
    stream = linted(g, tmp_path)
    out = run(
        stream,
        [
            Message(b"120.5", metadata={"mqtt_topic": "Lab%20Scale/properties/mass"}),
            Message(b"true", metadata={"mqtt_topic": "Lab%20Scale/properties/tare"}),
            Message(b"7", metadata={"mqtt_topic": "Lab Scale/properties/mass"}),
        ],
    )
    assert [(m.value["parameter"], m.value["value"], m.error) for m in out] == [
        ("mass", 120.5, None), ("tare", True, None), ("mass", 7, None),
    ]  # fmt: skip
    assert out[0].value["unit"] == "g"


def test_http_long_polls_the_observable_form_with_cbor_twins_listed_first(
    tmp_path: Path,
) -> None:
    # node-wot's CBOR and JSON forms share an href; the JSON one is the form read
    g = generate_stream(SCALE, "http", GenerateOptions(properties=["mass"]))
    use = g.config["input"]["td_http_poll"]
    assert use["url"] == f"{HTTP}/properties/mass/observable"
    assert (use["mode"], use["method"]) == ("longpoll", "GET")
    assert g.warnings == []
    linted(g, tmp_path)


def test_http_polls_json_rather_than_observing_cbor() -> None:
    td = copy.deepcopy(SCALE)
    mass = td["properties"]["mass"]
    mass["forms"] = _http_forms("mass", "application/cbor")[1:] + [
        _http_forms("mass", "application/json")[0]
    ]
    use = generate_stream(td, "http", GenerateOptions(properties=["mass"], interval="1s"))
    assert use.config["input"]["td_http_poll"]["url"] == f"{HTTP}/properties/mass"
    assert use.config["input"]["td_http_poll"]["mode"] == "poll"


def test_only_a_cbor_form_is_used_with_a_warning() -> None:
    td = copy.deepcopy(SCALE)
    td["properties"]["mass"]["forms"] = _http_forms("mass", "application/cbor")
    g = generate_stream(td, "http", GenerateOptions(properties=["mass"]))
    assert g.config["input"]["td_http_poll"]["url"] == f"{HTTP}/properties/mass/observable"
    assert len(g.warnings) == 1
    assert "application/cbor" in g.warnings[0] and "cannot decode" in g.warnings[0]
