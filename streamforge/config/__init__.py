"""Config loading: YAML with positions, ${VAR} interpolation, validation against specs."""

from streamforge.config.dump import component_to_dict, dump_yaml, stream_to_dict
from streamforge.config.env import interpolate_env
from streamforge.config.loader import (
    expand_paths,
    lint_paths,
    load_document,
    load_stream,
    load_streams,
    sort_problems,
    stream_names,
)
from streamforge.config.model import (
    ComponentConfig,
    ConfigError,
    Location,
    Problem,
    StreamConfig,
)
from streamforge.config.schema import stream_schema
from streamforge.config.validate import validate_document
from streamforge.config.yamlpos import YamlDocument, load_yaml

__all__ = [
    "ComponentConfig",
    "ConfigError",
    "Location",
    "Problem",
    "StreamConfig",
    "YamlDocument",
    "component_to_dict",
    "dump_yaml",
    "expand_paths",
    "interpolate_env",
    "lint_paths",
    "load_document",
    "load_stream",
    "load_streams",
    "load_yaml",
    "sort_problems",
    "stream_names",
    "stream_schema",
    "stream_to_dict",
    "validate_document",
]
