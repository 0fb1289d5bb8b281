"""`streamforge test PATH...`: run config unit tests written in Benthos' format."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamforge.commands._plugins import (
    add_plugins_option,
    add_resources_option,
    add_templates_option,
    load_cli_plugins,
    load_cli_resources,
    load_cli_templates,
)
from streamforge.configtest.discover import discover
from streamforge.configtest.runner import CaseResult, run_file

if TYPE_CHECKING:
    from streamforge.config.yamlpos import YamlDocument

__all__ = ["add_parser", "format_result", "main", "run_tests"]

_LOG_LEVELS = ("none", "error", "warn", "info", "debug", "trace")


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `test` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="run config unit tests (Benthos `tests:` format)",
        description="Run the `tests:` of stream configs: inline in a config, or in "
        "foo_test.yaml / foo_benthos_test.yaml beside foo.yaml. PATH is a file, a folder "
        "(searched recursively; DIR/... works too) or a glob. Prints PASS/FAIL per test and "
        "a summary; exits 1 when any test fails or none is found.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs")
    parser.add_argument(
        "--log",
        choices=_LOG_LEVELS,
        default="none",
        help="let components log at this level while tests run (default: none)",
    )
    add_plugins_option(parser)
    add_templates_option(parser)
    add_resources_option(parser)
    return parser


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def format_result(result: CaseResult) -> str:
    """`PASS  file: name`, or `FAIL  file: name` followed by indented reasons."""
    where = _display(result.file.definition)
    line = f" (line {result.case.line})" if result.case.line and not result.passed else ""
    head = f"{'PASS' if result.passed else 'FAIL'}  {where}: {result.case.name}{line}"
    if result.passed:
        return head
    return head + "\n" + "\n".join(_indent(f) for f in result.failures)


def _configure_logging(level: str) -> None:
    if level == "none":
        logging.disable(logging.CRITICAL)
        return
    logging.disable(logging.NOTSET)
    py_level = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO}.get(
        level, logging.DEBUG
    )
    logging.basicConfig(level=py_level)
    logging.getLogger().setLevel(py_level)


def run_tests(
    paths: list[str],
    emit: Callable[[str], None] = print,
    resources: Sequence[YamlDocument] = (),
) -> tuple[int, int]:
    """Run every test under `paths`, emitting a line per test; returns (passed, failed).

    `resources` are resource files (`-r`) every tested config may use.
    """
    files, missing = discover(paths, resources)
    passed, failed = 0, len(missing)
    for arg in missing:
        emit(f"FAIL  {arg}: no such file or folder")
    for tf in files:
        if tf.error is not None:
            emit(f"FAIL  {_display(tf.definition)}\n{_indent(tf.error)}")
            failed += 1
            continue
        for result in run_file(tf):
            emit(format_result(result))
            if result.passed:
                passed += 1
            else:
                failed += 1
    return passed, failed


def main(args: argparse.Namespace) -> int:
    """Run the tests; exit code 1 when any fails or when there are none."""
    if not load_cli_plugins(args) or not load_cli_templates(args):
        return 1
    resources = load_cli_resources(args)
    if resources is None:
        return 1
    _configure_logging(args.log)
    try:
        passed, failed = run_tests(
            list(args.paths), lambda line: print(line, flush=True), resources
        )
    finally:
        if args.log == "none":
            logging.disable(logging.NOTSET)
    if passed + failed == 0:
        print("No tests were found")
        return 1
    print(f"\n{passed} passed, {failed} failed")
    return 1 if failed else 0
