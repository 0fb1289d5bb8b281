"""The JSON Schema generated from the component specs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from streamforge.config import dump_yaml, load_stream, stream_schema, stream_to_dict


def test_schema_is_valid_and_accepts_echoed_configs(write: Callable[..., Path]) -> None:
    schema = stream_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    path = write(
        """
        input:
          label: gen
          test_only_gen: {count: 2}
        pipeline:
          processors:
            - test_only_cases:
                - check: ""
                  processors: [{test_only_upper: {}}]
        output:
          test_only_fan:
            outputs: [{test_only_sink: {path: x}}]
        """
    )
    echoed = yaml.safe_load(dump_yaml(stream_to_dict(load_stream(path))))
    jsonschema.validate(echoed, schema)


@pytest.mark.parametrize(
    "doc",
    [
        {"input": {"test_only_gen": {"count": "x"}}},
        {"input": {"no_such_input": {}}},
        {"input": {"test_only_gen": {}, "test_only_gen2": {}}},
        {"output": {"test_only_sink": {}}},
        {"inptu": {}},
    ],
)
def test_schema_rejects_what_lint_rejects(doc: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, stream_schema())
