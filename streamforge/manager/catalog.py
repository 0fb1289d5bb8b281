"""/processors (specs, JSON Schema, trial runs) and /templates (binding templates)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, Field, field_validator

from streamforge.config.schema import field_schema
from streamforge.config.templates import parse_template, register_template, template_of
from streamforge.config.yamlpos import load_yaml
from streamforge.manager.benthos_api import shallow
from streamforge.manager.checks import ConfigPolicy, lint_errors, policy_problems
from streamforge.manager.trial import TrialRunner
from streamforge.plugin.registry import registry

__all__ = ["Refused", "add_catalog_routes"]

PREFIX = "/wot/binding"


class ProcessorInfo(BaseModel):
    name: str
    summary: str
    status: str
    plugin: str


class ProcessorList(BaseModel):
    processors: list[ProcessorInfo]


class ProcessorDetail(BaseModel):
    name: str
    summary: str
    description: str
    status: str
    plugin: str
    fields: dict[str, Any] = Field(description="The spec's fields (names, types, defaults)")
    json_schema: dict[str, Any] = Field(description="JSON Schema of the processor's config")
    examples: list[str]


class SampleMessage(BaseModel):
    content: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    _shallow = field_validator("metadata")(shallow)


class TrialRequest(BaseModel):
    """Processors (a list, or YAML text of a list) and the messages to run through them."""

    processors: list[dict[str, Any]] | str
    messages: list[SampleMessage] = Field(max_length=100)

    _shallow = field_validator("processors")(shallow)


class TrialOutput(BaseModel):
    content: str
    metadata: dict[str, Any]
    error: str | None


class TrialResult(BaseModel):
    outputs: list[TrialOutput]
    took_ms: float


class TrialAnswer(BaseModel):
    results: list[TrialResult]


class TemplateField(BaseModel):
    name: str
    type: str
    kind: str
    description: str
    required: bool


class TemplateInfo(BaseModel):
    name: str
    type: str
    status: str
    summary: str
    fields: list[TemplateField]
    source: str


class TemplateList(BaseModel):
    templates: list[TemplateInfo]


class TemplateCreate(BaseModel):
    """A template file's YAML text."""

    template: str


def _template_info(spec: Any) -> TemplateInfo:
    template = template_of(spec)
    assert template is not None
    return TemplateInfo(
        name=template.name,
        type=template.type,
        status=template.status,
        summary=template.summary,
        fields=[
            TemplateField(
                name=f.name,
                type=f.type,
                kind=f.kind,
                description=f.description,
                required=f.spec_field().required,
            )
            for f in template.fields
        ],
        source=template.doc.source if template.doc is not None else "",
    )


def _templates() -> list[Any]:
    kinds = ("input", "processor", "output", "cache")
    return [s for k in kinds for s in registry.specs(k) if template_of(s) is not None]  # type: ignore[arg-type]


def _trial_text(processors: list[dict[str, Any]] | str) -> tuple[str, int, int]:
    """The processors as a config to check, and the (lines, columns) it shifts them by."""
    text = (
        processors if isinstance(processors, str) else yaml.safe_dump(processors, sort_keys=False)
    )
    return "pipeline:\n  processors:\n" + textwrap.indent(text, "    "), 2, 4


def add_catalog_routes(
    app: FastAPI,
    secured: list[Any],
    responses: dict[int | str, dict[str, Any]],
    policy: ConfigPolicy,
    trials: TrialRunner,
    templates_dir: Path,
) -> None:
    """Register the catalog's routes on `app`; `responses` documents the error answers."""

    def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
        return {code: responses[code] for code in sorted({401, 403, 422, *codes})}

    missing = {"description": "No such processor or template"}

    @app.get(f"{PREFIX}/processors", dependencies=secured, tags=["processors"],
             responses=errors())  # fmt: skip
    def list_processors() -> ProcessorList:
        return ProcessorList(
            processors=[
                ProcessorInfo(name=s.name, summary=s.summary, status=s.status, plugin=s.plugin)
                for s in registry.specs("processor")
            ]
        )

    @app.get(f"{PREFIX}/processors/{{name}}", dependencies=secured, tags=["processors"],
             responses={**errors(404), 404: {**responses[404], **missing}})  # fmt: skip
    def get_processor(name: str) -> ProcessorDetail:
        spec = registry.get("processor", name)
        if spec is None:
            raise HTTPException(404, f"no processor {name!r}")
        return ProcessorDetail(
            name=spec.name,
            summary=spec.summary,
            description=spec.description,
            status=spec.status,
            plugin=spec.plugin,
            fields=spec.config.to_dict(),
            json_schema=field_schema(spec.config),
            examples=list(spec.examples),
        )

    @app.post(f"{PREFIX}/processors/test", dependencies=secured, tags=["processors"],
              responses=errors(400))  # fmt: skip
    def try_processors(body: TrialRequest) -> TrialAnswer:
        raw = body.processors if isinstance(body.processors, str) else None
        if raw is not None:
            refused = policy_problems(raw, policy)
            if refused:
                raise Refused(lint_errors(refused))
        text, lines, columns = _trial_text(body.processors)
        if raw is None:
            refused = policy_problems(text, policy)
            if refused:
                raise Refused(lint_errors(refused))
        answer = trials.run(text, [m.model_dump() for m in body.messages])
        if "lint_errors" in answer:
            errors = answer["lint_errors"]
            if raw is not None:
                for error in errors:
                    error["line"] = max(error["line"] - lines, 1)
                    error["column"] = max(error["column"] - columns, 1)
            raise Refused(errors)
        if "error" in answer:
            raise HTTPException(422, answer["error"])
        return TrialAnswer(**answer)

    @app.get(f"{PREFIX}/templates", dependencies=secured, tags=["templates"],
             responses=errors())  # fmt: skip
    def list_templates() -> TemplateList:
        return TemplateList(templates=[_template_info(s) for s in _templates()])

    @app.get(f"{PREFIX}/templates/{{name}}", dependencies=secured, tags=["templates"],
             responses={**errors(404), 404: {**responses[404], **missing}})  # fmt: skip
    def get_template(name: str) -> TemplateInfo:
        for spec in _templates():
            if spec.name == name:
                return _template_info(spec)
        raise HTTPException(404, f"no template {name!r}")

    @app.post(f"{PREFIX}/templates", status_code=201, dependencies=secured,
              tags=["templates"], responses=errors(400))  # fmt: skip
    def create_template(body: TemplateCreate, response: Response) -> TemplateInfo:
        doc = load_yaml(body.template, "template.yaml")
        template, problems = parse_template(doc)
        if template is None or problems:
            raise Refused(lint_errors(problems))
        problems = register_template(template)
        if problems:
            raise Refused(lint_errors(problems))
        templates_dir.mkdir(parents=True, exist_ok=True)
        (templates_dir / f"{template.name}.yaml").write_text(body.template, encoding="utf-8")
        response.headers["Location"] = f"{PREFIX}/templates/{template.name}"
        return _template_info(registry.get(template.type, template.name))


class Refused(Exception):
    """A 400 with lint errors."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e.get("message")) for e in errors))
        self.errors = errors
