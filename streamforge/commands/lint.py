"""`streamforge lint FILE...`: report every config problem as `file:line:col: message`,
including components the licence in effect does not allow."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from streamforge.commands._environment import (
    EnvFileError,
    add_env_file_option,
    add_skip_env_check_option,
    config_environment,
)
from streamforge.commands._plugins import (
    add_plugins_option,
    add_resources_option,
    add_templates_option,
    load_cli_plugins,
    template_problems,
)
from streamforge.config.env import UNSET_VARIABLE
from streamforge.config.loader import (
    empty,
    expand_paths,
    lint_stream,
    load_resource_files,
    sort_problems,
    stream_names,
)
from streamforge.config.model import Problem, StreamConfig
from streamforge.engine.instantiate import build_problems

__all__ = ["add_parser", "main"]


def add_parser(subparsers: Any, name: str) -> argparse.ArgumentParser:
    """Register the `lint` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="check stream configs and print every problem",
        description="Check stream configs, and their components against the licence in effect "
        "(the configs' `license:` section, else STREAMFORGE_LICENSE*), and the config templates "
        "of --templates with their own tests. Prints one "
        "`file:line:col: message` line per problem and exits 1 when there is any; prints "
        "nothing and exits 0 when clean. A resource that neither the file nor a -r file "
        "defines is a warning (`file:line:col: warning: ...`), as in Benthos' lint the files "
        "are checked one by one: `run` refuses it.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="config files or globs")
    add_plugins_option(parser)
    add_templates_option(parser)
    add_resources_option(parser)
    add_env_file_option(parser)
    add_skip_env_check_option(parser)
    return parser


def _load(
    patterns: list[str],
    resource_patterns: list[str],
    environ: Mapping[str, str] | None = None,
) -> tuple[list[StreamConfig], list[Problem]]:
    """The streams that validate, and the problems of those that do not (and of `-r` files)."""
    resources, problems = load_resource_files(resource_patterns, environ=environ)
    paths, found = expand_paths(patterns)
    problems.extend(found)
    streams: list[StreamConfig] = []
    for path, name in zip(paths, stream_names(paths)):
        stream, found = lint_stream(path, name=name, resources=resources, environ=environ)
        problems.extend(found)
        if stream is None:
            continue
        streams.append(stream)
        problems.extend(empty(stream))
        problems.extend(build_problems(stream))
    return streams, problems


def main(args: argparse.Namespace) -> int:
    """Lint the files; exit code 1 when any problem was found."""
    from streamforge.license.gate import gate_streams
    from streamforge.license.policy import PolicyError
    from streamforge.license.settings import LicenseSettingsError

    if not load_cli_plugins(args):
        return 1
    # templates first: a stream using one that does not load reports an unknown type
    loaded = template_problems(args, run_tests=True)
    try:
        environ = config_environment(args)
    except EnvFileError as exc:
        print(f"streamforge lint: {exc}", file=sys.stderr)
        return 1
    streams, problems = _load(args.files, list(args.resources), environ)
    problems = list(dict.fromkeys(loaded + problems))
    if streams:
        try:
            # a lint of many files is no run of them together: max_streams is checked by run
            problems += gate_streams(streams, limits=False).problems
        except (PolicyError, LicenseSettingsError) as exc:
            # a user policy that does not load: its lines name the policy file:line:col
            for problem in sort_problems(problems):
                print(problem)
            for line in str(exc).splitlines():
                print(line)
            return 1
    problems = _without_follow_ons(problems)
    if getattr(args, "skip_env_var_check", False):  # asked not to hear of them
        problems = [p for p in problems if not p.message.startswith(UNSET_VARIABLE)]
    for problem in sort_problems(problems):
        print(problem)
    return 1 if any(not problem.warning for problem in problems) else 0


def _without_follow_ons(problems: list[Problem]) -> list[Problem]:
    """An unset variable is reported once: what else is wrong at its place (the empty text it
    left, `dsn '' is not a URL`) follows from it."""
    unset = {p.location for p in problems if p.message.startswith(UNSET_VARIABLE)}
    if not unset:
        return problems
    return [p for p in problems if p.location not in unset or p.message.startswith(UNSET_VARIABLE)]
