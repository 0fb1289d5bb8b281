"""Reload the templates in the manager's home: every file checked first, then all registered.

A template file with a problem leaves every registered template as it was. Templates that came
from the home and whose file is gone are forgotten; the shipped templates stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streamforge.config.model import Problem
from streamforge.config.templates import (
    SHIPPED_PACKAGE,
    Template,
    load_template_file,
    register_template,
    template_of,
    unregister_template,
)
from streamforge.plugin import KINDS, registry

__all__ = ["TemplateReload", "check_templates"]


@dataclass
class TemplateReload:
    """The home's templates, checked; `apply()` registers them."""

    directory: Path
    templates: list[Template] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def apply(self) -> list[str]:
        """Register every template and forget home templates whose file is gone; their names."""
        names = {(t.type, t.name) for t in self.templates}
        for kind in KINDS:
            for spec in registry.specs(kind):
                template = template_of(spec)
                shipped = spec.plugin == SHIPPED_PACKAGE
                if template is not None and not shipped and (kind, spec.name) not in names:
                    unregister_template(kind, spec.name)
        for template in self.templates:
            register_template(template)
        return sorted(t.name for t in self.templates)


def check_templates(directory: Path) -> TemplateReload:
    """Read and check every `*.yaml` in `directory` without registering any."""
    checked = TemplateReload(directory)
    seen: dict[tuple[str, str], Template] = {}
    files = sorted(directory.glob("*.yaml")) if directory.is_dir() else []
    for path in files:
        template, problems = load_template_file(path)
        checked.problems.extend(problems)
        if template is None or problems:
            continue
        key = (template.type, template.name)
        existing = registry.get(template.type, template.name)
        if key in seen:
            checked.problems.append(
                Problem(template.location, f'{template.type} template "{template.name}" is '
                        f"defined twice (first in {seen[key].location})")
            )  # fmt: skip
        elif existing is not None and template_of(existing) is None:
            checked.problems.append(
                Problem(template.location, f'{template.type} "{template.name}" is already a '
                        f"component ({existing.plugin}); a template needs a name of its own")
            )  # fmt: skip
        else:
            seen[key] = template
            checked.templates.append(template)
    return checked
