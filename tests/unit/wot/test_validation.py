"""check_td: the TD 1.1 schema and the checks a schema cannot make, each at its JSON path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from streamforge.wot import TdProblem, check_td
from streamforge.wot.problems import json_path
from streamforge.wot.validation import td_schema

from .conftest import TD_DIR, td_doc, td_path

VALID = sorted(p.name.removesuffix(".td.json") for p in TD_DIR.glob("*.td.json"))


def messages(doc: Any) -> dict[str, str]:
    return {p.path: p.message for p in check_td(doc)}


@pytest.mark.parametrize("name", VALID)
def test_the_fixture_tds_are_valid(name: str) -> None:
    assert check_td(td_doc(name)) == []
    assert check_td(td_path(name).read_text(encoding="utf-8")) == []


def test_invalid_json_is_one_problem_at_the_root_with_line_and_column() -> None:
    problems = check_td(td_path("invalid/invalid-json").read_text())
    assert problems == [TdProblem("$", "invalid JSON at line 5, column 3: Expecting ',' delimiter")]


def test_misspelled_top_level_keys_get_a_did_you_mean() -> None:
    found = messages(td_doc("invalid/misspelled-keys"))
    assert found["$.securityDefinition"] == 'unknown term, did you mean "securityDefinitions"?'
    assert found["$.propertys"] == 'unknown term, did you mean "properties"?'
    assert found["$.securityDefinitions"].startswith("missing")


def test_misspelled_affordance_and_form_keys() -> None:
    doc = td_doc("http-meter")
    doc["properties"]["power"]["form"] = doc["properties"]["power"].pop("forms")
    doc["properties"]["energy"]["forms"][0]["hre"] = "x"
    found = messages(doc)
    assert found["$.properties.power.form"] == 'unknown term, did you mean "forms"?'
    assert found["$.properties.energy.forms[0].hre"] == 'unknown term, did you mean "href"?'


def test_extension_terms_are_not_misspellings() -> None:
    doc = td_doc("modbus-boiler")
    doc["ex:propertys"] = 1
    doc["properties"]["temperature"]["saref:measures"] = "Temperature"
    assert check_td(doc) == []


def test_missing_security_is_named() -> None:
    assert messages(td_doc("invalid/missing-security")) == {
        "$.security": 'missing: name the security schemes that apply (e.g. "nosec_sc")'
    }


def test_missing_title_and_context() -> None:
    doc = td_doc("modbus-boiler")
    del doc["title"], doc["@context"]
    found = messages(doc)
    assert found["$.title"].startswith("missing")
    assert found["$['@context']"].startswith("missing")


def test_undefined_scheme_names_at_the_td_and_in_forms() -> None:
    found = messages(td_doc("invalid/undefined-scheme"))
    assert found == {
        "$.security[1]": 'security scheme "bearer_sc" is not defined in securityDefinitions '
        "(defined: basic_sc)",
        "$.properties.flow.forms[0].security": 'security scheme "basic_cs" is not defined in '
        'securityDefinitions (defined: basic_sc), did you mean "basic_sc"?',
    }


def test_combo_names_its_schemes() -> None:
    doc = td_doc("opcua-line")
    doc["securityDefinitions"]["both_sc"]["allOf"] = ["channel_sc", "users_sc"]
    found = messages(doc)
    assert "$.securityDefinitions.both_sc.allOf[1]" in found
    del doc["securityDefinitions"]["both_sc"]["allOf"]
    found = messages(doc)
    assert found["$.securityDefinitions.both_sc"] == (
        "a combo scheme needs either `oneOf` or `allOf`: scheme names"
    )


def test_unknown_scheme_type() -> None:
    doc = td_doc("mqtt-secured")
    doc["securityDefinitions"]["basic_sc"]["scheme"] = "basik"
    found = messages(doc)
    assert found["$.securityDefinitions.basic_sc.scheme"].startswith('"basik" is not one of')


def test_an_affordance_without_forms_is_named() -> None:
    found = messages(td_doc("invalid/no-forms"))
    assert list(found) == ["$.properties.position.forms"]
    assert found["$.properties.position.forms"].startswith(
        "the property has no forms, and no Thing-level form reaches it"
    )


def test_thing_level_forms_reach_affordances_without_forms() -> None:
    doc = td_doc("http-thing-forms")
    assert check_td(doc) == []
    doc["forms"][0]["op"] = "writeallproperties"  # the properties are read only
    assert list(messages(doc)) == ["$.properties.co2.forms", "$.properties.temperature.forms"]


def test_empty_forms_are_refused() -> None:
    doc = td_doc("mqtt-secured")
    doc["properties"]["speed"]["forms"] = []
    assert messages(doc) == {"$.properties.speed.forms": "must have at least 1 item(s)"}


def test_a_bad_base_is_named() -> None:
    assert messages(td_doc("invalid/bad-base")) == {
        "$.base": '"fan.local/api" is not an absolute URI (it needs a scheme, e.g. '
        "mqtt://broker:1883/)"
    }


def test_relative_hrefs_need_a_base() -> None:
    doc = td_doc("modbus-boiler")
    del doc["base"]
    found = messages(doc)
    assert found["$.properties.temperature.forms[0].href"] == (
        'relative href "100?quantity=2" needs a base: give the TD a `base`'
    )
    assert "$.properties.pressure.forms[0].href" not in found  # absolute


def test_href_with_white_space() -> None:
    doc = td_doc("kafka-press")
    doc["properties"]["force"]["forms"][0]["href"] = "kafka://k:9092/press 9"
    assert messages(doc) == {
        "$.properties.force.forms[0].href": '"kafka://k:9092/press 9" contains white space'
    }


def test_wrong_types_and_ops() -> None:
    doc = td_doc("modbus-boiler")
    doc["title"] = 7
    doc["properties"]["temperature"]["type"] = "float"
    doc["properties"]["pressure"]["forms"][0]["op"] = "subscribeevent"
    doc["properties"]["temperature"]["forms"][0]["href"] = 100
    found = messages(doc)
    assert found["$.title"] == "must be a string, not a number"
    assert found["$.properties.temperature.type"].startswith('"float" is not one of "boolean"')
    assert found["$.properties.pressure.forms[0].op"].startswith(
        '"subscribeevent" is not one of "readproperty"'
    )
    assert found["$.properties.temperature.forms[0].href"] == "must be a string, not a number"


def test_a_context_without_the_td_context() -> None:
    doc = td_doc("modbus-boiler")
    doc["@context"] = ["https://example.com/other"]
    assert "$['@context']" in messages(doc)


def test_not_an_object() -> None:
    assert check_td([1]) == [TdProblem("$", "a Thing Description is a JSON object, not an array")]


def test_json_paths_quote_keys_that_are_no_names() -> None:
    assert json_path(["properties", "temperature", "forms", 0, "href"]) == (
        "$.properties.temperature.forms[0].href"
    )
    assert json_path(["properties", "Voltage L1-N"]) == "$.properties['Voltage L1-N']"


def test_the_schema_is_package_data() -> None:
    text = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    assert '"streamforge.wot" = ["schema/*.json"]' in text
    assert '"streamforge.wot",' in text
    assert td_schema()["required"] == ["@context", "title", "security", "securityDefinitions"]


def test_check_td_does_not_change_the_document() -> None:
    doc = td_doc("opcua-line")
    before = copy.deepcopy(doc)
    check_td(doc)
    assert doc == before
