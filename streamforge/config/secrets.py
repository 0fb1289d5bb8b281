"""Hide the secrets of a stream config when it is shown, and keep them when it comes back.

A secret is the value of any field a component spec marks `secret=True` (passwords, inline
private keys, tokens). `redact` replaces each with `REDACTED` before a config is returned or
logged; `restore` turns the placeholder in a config sent back (an edit of what was shown)
into the stored secret again, as Benthos scrubs secrets when it echoes configs.

The walk follows the same specs and the same layout as validation (`STREAM_FIELDS`, the
registered top-level sections, one type key per component, `processors` of inputs and
outputs), over the raw config as loaded from YAML, before `${VAR}` substitution. Component
types not registered in this process (plugins not loaded) cannot be walked.

What stays visible:
- an empty value: the field is unset, and the reader should see that;
- a value made only of environment references without defaults, like `${MQTT_PASSWORD}`:
  it names where the secret lives, not the secret. `${MQTT_PASSWORD:hunter2}` is hidden,
  its default is a literal secret; so is a `${! ... }` interpolation.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import yaml

from streamforge.config.dump import dump_yaml
from streamforge.config.sections import sections
from streamforge.config.validate import IGNORED_TOP_LEVEL, STREAM_FIELDS
from streamforge.config.yamlpos import path_str
from streamforge.plugin import KINDS, Field, load_builtins, registry

__all__ = ["REDACTED", "SecretPath", "redact", "redact_yaml", "restore", "secret_paths"]

#: what a shown config carries in place of a secret; sent back, it keeps the stored one
REDACTED = "!!!SECRET_SCRUBBED!!!"

#: keys into a config: object keys and list indices, from the top
SecretPath = tuple[str | int, ...]

_ENV_REFERENCES_ONLY = re.compile(r"(?:\$\{[0-9A-Za-z_.]+\})+")


def secret_paths(config: dict[str, Any]) -> list[SecretPath]:
    """The path of every secret field present (with a value other than null) in `config`.

    `config` is a whole stream as loaded from YAML: `input`, `pipeline`, `output`,
    `resources` and the `*_resources` lists, and top-level sections such as `license`.
    """
    if not isinstance(config, dict):
        return []
    load_builtins()
    top = {f.name: f for f in STREAM_FIELDS.fields}
    top.update((name, section.field) for name, section in sections().items())
    paths: list[SecretPath] = []
    for key, value in config.items():
        field = top.get(key)
        if field is not None and key not in IGNORED_TOP_LEVEL:
            paths.extend(_walk(field, value, (key,), secret=False))
    return paths


def redact(config: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `config` with each secret value replaced by `REDACTED`.

    Empty values and values made only of `${VAR}` references stay as they are (see the
    module's docstring).
    """
    out = copy.deepcopy(config)
    for path in secret_paths(out):
        parent = _parent(out, path)
        if _hides(parent[path[-1]]):
            parent[path[-1]] = REDACTED
    return out


def restore(new: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """A deep copy of `new` where each value equal to `REDACTED` is the value `stored` has
    at the same path (an edit of a shown config keeps the secrets it did not change).

    Secrets are matched by path, so a component moved to another place in the config (or
    to another list index) needs its secret sent again. Raises ValueError naming the path
    when `stored` has no value there.
    """
    out = copy.deepcopy(new)
    for path in list(_placeholders(out, ())):
        kept = _lookup(stored, path)
        if kept is None or kept == "" or kept == REDACTED:
            raise ValueError(
                f"{path_str(path)}: the placeholder {REDACTED} keeps a stored secret, "
                "but this stream has none there"
            )
        _parent(out, path)[path[-1]] = copy.deepcopy(kept)
    return out


def redact_yaml(text: str) -> str:
    """`text` (a stream's YAML) with each secret value replaced by `REDACTED`.

    The text is loaded, redacted and dumped again, so a config with something to hide loses
    its comments and layout; one with nothing to hide is returned unchanged. Raises
    yaml.YAMLError when `text` is not YAML.
    """
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        return text
    redacted = redact(data)
    if redacted == data:
        return text
    return dump_yaml(redacted)


def _walk(f: Field, value: Any, path: SecretPath, *, secret: bool) -> Iterator[SecretPath]:
    """Paths of the secret values in `value`, the value of field `f` at `path`.

    Under a secret object, array or map every scalar is a secret.
    """
    secret = secret or f.secret
    if value is None:
        return
    if f.type in KINDS:
        yield from _component(f.type, value, path)
    elif isinstance(value, dict):
        if f.type == "object":
            for child in f.fields:
                if child.name in value:
                    yield from _walk(child, value[child.name], (*path, child.name), secret=secret)
            if secret and not f.fields:
                yield from _scalars(value, path)
        elif f.type == "map" and f.item is not None:
            for key, item in value.items():
                yield from _walk(f.item, item, (*path, key), secret=secret)
        elif secret:
            yield from _scalars(value, path)
    elif isinstance(value, list):
        if f.type == "array" and f.item is not None:
            for i, item in enumerate(value):
                yield from _walk(f.item, item, (*path, i), secret=secret)
        elif secret:
            yield from _scalars(value, path)
    elif secret:
        yield path


def _component(kind: str, value: Any, path: SecretPath) -> Iterator[SecretPath]:
    """Secrets of one component config `{label, <type>: conf, processors}`."""
    if not isinstance(value, dict):
        return
    for key, conf in value.items():
        if key == "processors" and kind in ("input", "output") and isinstance(conf, list):
            for i, proc in enumerate(conf):
                yield from _component("processor", proc, (*path, key, i))
            continue
        spec = registry.get(kind, key)  # type: ignore[arg-type]
        if spec is not None:
            yield from _walk(spec.config, conf, (*path, key), secret=False)


def _scalars(value: Any, path: SecretPath) -> Iterator[SecretPath]:
    """Every scalar inside a value that is secret as a whole."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _scalars(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _scalars(item, (*path, i))
    elif value is not None:
        yield path


def _hides(value: Any) -> bool:
    """Whether a secret field's value is shown as the placeholder (see the module docstring)."""
    if value is None or value == "":
        return False
    return not (isinstance(value, str) and _ENV_REFERENCES_ONLY.fullmatch(value))


def _placeholders(value: Any, path: SecretPath) -> Iterator[SecretPath]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _placeholders(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _placeholders(item, (*path, i))
    elif value == REDACTED:
        yield path


def _lookup(data: Any, path: SecretPath) -> Any:
    """The value at `path` in `data`, or None when there is none."""
    for key in path:
        found = (isinstance(data, dict) and key in data) or (
            isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data)
        )
        if not found:
            return None
        data = data[key]
    return data


def _parent(data: Any, path: SecretPath) -> Any:
    """The dict or list holding the value at `path` (which exists)."""
    for key in path[:-1]:
        data = data[key]
    return data
