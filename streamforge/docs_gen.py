"""Render docs/components.md from the built-in component specs, so docs never drift.

python -m streamforge.docs_gen             # rewrite docs/components.md
python -m streamforge.docs_gen --check     # exit 1 when the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streamforge.plugin import KINDS, ComponentSpec, Field, load_builtins, registry
from streamforge.plugin.benthos_names import origin

__all__ = ["BUILTIN_PACKAGES", "builtin_specs", "main", "render_components_markdown"]

#: components whose factories live in these packages are documented here
BUILTIN_PACKAGES = (
    "streamforge.inputs.",
    "streamforge.processors.",
    "streamforge.outputs.",
    "streamforge.caches.",
)
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "components.md"

_TITLES = {
    "input": "Inputs",
    "processor": "Processors",
    "output": "Outputs",
    "cache": "Caches",
    "rate_limit": "Rate limits",
}
_PLACEHOLDER = {
    "string": '""', "int": "0", "float": "0", "bool": "false", "duration": '""',
    "mapping": '""', "query": '""', "object": "{}", "array": "[]", "map": "{}",
    "any": "null", "input": "{}", "output": "{}", "processor": "{}", "cache": "{}",
    "rate_limit": "{}",
}  # fmt: skip


def builtin_specs(kind: str) -> list[ComponentSpec]:
    """Built-in specs of one kind, by name (plugins loaded in the process are left out)."""
    return [
        s
        for s in registry.specs(kind)  # type: ignore[arg-type]
        if s.plugin.startswith(BUILTIN_PACKAGES)
    ]


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str):
        return (
            json.dumps(value, ensure_ascii=False) if value == "" or _needs_quotes(value) else value
        )
    return json.dumps(value, ensure_ascii=False)


def _needs_quotes(text: str) -> bool:
    special = ":#{}[],&*!|>'\"%@`"
    return (
        text != text.strip()
        or "\n" in text
        or text[0] in special + "-?"
        or ": " in text
        or " #" in text
        or text.lower() in ("true", "false", "null", "yes", "no", "on", "off", "~")
        or _looks_numeric(text)
    )


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _yaml_lines(f: Field, indent: int) -> Iterator[str]:
    """`name: default` lines for a field, nested objects expanded."""
    pad = "  " * indent
    if f.type == "object" and f.fields:
        yield f"{pad}{f.name}:"
        for child in f.fields:
            yield from _yaml_lines(child, indent + 1)
        return
    if f.required:
        yield f"{pad}{f.name}: {_PLACEHOLDER[f.type]} # No default (required)"
        return
    default = f.default
    if isinstance(default, str) and "\n" in default:
        yield f"{pad}{f.name}: |"
        yield from (f"{pad}  {line}" for line in default.splitlines())
        return
    if isinstance(default, (dict, list)) and default:
        rendered = json.dumps(default, ensure_ascii=False)
    else:
        rendered = _yaml_scalar(default)
    yield f"{pad}{f.name}: {rendered}"


def _config_example(spec: ComponentSpec) -> str:
    """The component's config with defaults, as it sits in a stream (processors as list items)."""
    conf = spec.config
    if conf.type == "object" and conf.fields:
        body = [f"{spec.name}:"]
        for f in conf.fields:
            body.extend(_yaml_lines(f, 1))
    elif conf.type == "object":
        body = [f"{spec.name}: {{}}"]
    else:
        body = list(_yaml_lines(Field(spec.name, conf.type, default=conf.default), 0))
    body.insert(0, 'label: ""')
    if spec.kind == "processor":
        lines = ["pipeline:", "  processors:"]
        lines += [("    - " if i == 0 else "      ") + line for i, line in enumerate(body)]
    elif spec.kind in ("cache", "rate_limit"):
        lines = [f"{spec.kind}_resources:"]
        lines += [("  - " if i == 0 else "    ") + line for i, line in enumerate(body)]
    else:
        lines = [f"{spec.kind}:"] + ["  " + line for line in body]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _type_label(f: Field) -> str:
    if f.type == "array" and f.item is not None:
        return f"array of {f.item.type}"
    if f.references:
        return f"{f.references} label"
    return f.type


def _field_rows(fields: tuple[Field, ...], prefix: str = "") -> Iterator[str]:
    for f in fields:
        name = f"{prefix}{f.name}"
        default = "required" if f.required else f"`{json.dumps(f.default, ensure_ascii=False)}`"
        notes = []
        if f.options:
            notes.append("Options: " + ", ".join(f"`{o}`" for o in f.options) + ".")
        if f.interpolable:
            notes.append("Supports `${! }` interpolation.")
        if f.secret:
            notes.append("Secret: redacted when the config is shown (e.g. by the manager's API).")
        if f.advanced:
            notes.append("Advanced.")
        if f.examples:
            shown = ", ".join(
                f"`{_cell(json.dumps(e, ensure_ascii=False))}`" for e in f.examples[:3]
            )
            notes.append(f"Examples: {shown}.")
        desc = _cell(" ".join([f.description, *notes]).strip())
        yield f"| `{name}` | {_type_label(f)} | {default} | {desc} |"
        children = f.fields or (f.item.fields if f.item is not None else ())
        if children:
            sub = f"{name}[]." if f.type == "array" else f"{name}."
            yield from _field_rows(children, sub)


def _counterpart(spec: ComponentSpec) -> str:
    """Which Benthos or benthos-umh component this one matches, if any."""
    where = origin(spec.kind, spec.name)
    what = {"rate_limit": "rate limit"}.get(spec.kind, spec.kind)
    if where is None:
        return f"Matches: none (a StreamForge {what})."
    return f"Matches: the {where} {what} `{spec.name}`."


def _component_section(spec: ComponentSpec) -> list[str]:
    out = [f"### `{spec.name}`", ""]
    if spec.status != "stable":
        out += [f"Status: {spec.status}.", ""]
    if spec.summary:
        out += [spec.summary, ""]
    out += [_counterpart(spec), ""]
    if spec.description:
        out += [spec.description.strip(), ""]
    out += ["```yaml", _config_example(spec), "```", ""]
    conf = spec.config
    fields = conf.fields if conf.type == "object" else ()
    if fields:
        out += ["| Field | Type | Default | Description |", "|---|---|---|---|"]
        out += list(_field_rows(fields))
        out.append("")
    elif conf.type != "object":
        default = "required" if conf.required else f"`{json.dumps(conf.default)}`"
        out += [f"Value: {_type_label(conf)} ({default}). {_cell(conf.description)}".rstrip(), ""]
    for i, example in enumerate(spec.examples):
        title = "Example" if len(spec.examples) == 1 else f"Example {i + 1}"
        out += [f"{title}:", "", "```yaml", example.rstrip("\n"), "```", ""]
    return out


def render_components_markdown() -> str:
    """The whole components reference as Markdown, built from the registered specs."""
    load_builtins()
    out = [
        "# Components",
        "",
        "<!-- Generated by `python -m streamforge.docs_gen` from the component specs. "
        "Do not edit by hand. -->",
        "",
        "Every built-in input, processor, output and cache with its fields and defaults. "
        "`streamforge list` prints the same information; plugins document themselves the "
        "same way (see [plugins.md](plugins.md)).",
        "",
    ]
    for kind in KINDS:
        specs = builtin_specs(kind)
        out.append(f"- {_TITLES[kind]}: " + ", ".join(f"`{s.name}`" for s in specs))
    out.append("")
    for kind in KINDS:
        out += [f"## {_TITLES[kind]}", ""]
        for spec in builtin_specs(kind):
            out += _component_section(spec)
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, verify) the components reference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render_components_markdown()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python -m streamforge.docs_gen")
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
