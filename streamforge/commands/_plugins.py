"""The `--plugins PATH`, `--templates GLOB` and `--resources GLOB` options shared by subcommands."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from streamforge.plugin import PluginError, load_builtins, load_plugins

if TYPE_CHECKING:
    from streamforge.config.model import Problem
    from streamforge.config.yamlpos import YamlDocument

__all__ = [
    "add_plugins_option",
    "add_resources_option",
    "add_templates_option",
    "load_cli_plugins",
    "load_cli_resources",
    "load_cli_templates",
    "template_problems",
]


def add_plugins_option(parser: argparse.ArgumentParser) -> None:
    """Add a repeatable `--plugins PATH` (Python file or module) option."""
    parser.add_argument(
        "--plugins",
        action="append",
        default=[],
        metavar="PATH",
        help="Python file or module with extra components (repeatable)",
    )


def add_templates_option(parser: argparse.ArgumentParser) -> None:
    """Add a repeatable `-t/--templates GLOB` option (config templates, as `benthos -t`)."""
    parser.add_argument(
        "-t",
        "--templates",
        action="append",
        default=[],
        metavar="GLOB",
        help="config template files to load, e.g. './templates/*.yaml' (repeatable)",
    )


def load_cli_plugins(args: argparse.Namespace) -> bool:
    """Load built-ins and `--plugins`; prints the failure and returns False on error."""
    try:
        load_builtins()
        load_plugins(list(getattr(args, "plugins", None) or []))
    except PluginError as exc:
        print(f"streamforge: {exc}", file=sys.stderr)
        return False
    return True


def template_problems(args: argparse.Namespace, *, run_tests: bool = False) -> list[Problem]:
    """Load the shipped templates and `--templates`; every problem, at its file:line:col.

    With `run_tests`, each `--templates` file's own tests run too (as lint does).
    """
    from streamforge.config.templates import load_shipped_templates, load_templates

    problems = load_shipped_templates()
    patterns = list(getattr(args, "templates", None) or [])
    if patterns:
        problems += load_templates(patterns, run_tests=run_tests)
    return problems


def load_cli_templates(args: argparse.Namespace) -> bool:
    """Load the shipped templates and `--templates`; prints the problems and returns False
    when there are any."""
    problems = template_problems(args)
    for problem in problems:
        print(problem, file=sys.stderr)
    return not problems


def add_resources_option(parser: argparse.ArgumentParser) -> None:
    """Add a repeatable `-r/--resources GLOB` option (resource files, as `benthos -r`)."""
    parser.add_argument(
        "-r",
        "--resources",
        action="append",
        default=[],
        metavar="GLOB",
        help="files of resources (processor_resources, cache_resources, ...) every config "
        "may use, e.g. './resources/*.yaml' (repeatable)",
    )


def load_cli_resources(args: argparse.Namespace) -> list[YamlDocument] | None:
    """Read `--resources` files; prints their problems and returns None when there are any."""
    from streamforge.config.loader import load_resource_files, sort_problems

    patterns = list(getattr(args, "resources", None) or [])
    if not patterns:
        return []
    docs, problems = load_resource_files(patterns)
    for problem in sort_problems(problems):
        print(problem, file=sys.stderr)
    return None if problems else docs
