"""`-e/--env-file` and `--skip-env-var-check`: the environment `${VAR}` references in configs
are read from, as Benthos' `lint` and `run` take them."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from streamforge.config.env import LenientEnviron

__all__ = ["add_env_file_option", "add_skip_env_check_option", "config_environment"]


def add_env_file_option(parser: argparse.ArgumentParser) -> None:
    """Add `-e/--env-file FILE` (repeatable)."""
    parser.add_argument(
        "-e",
        "--env-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a dotenv file (KEY=value lines) whose variables configs may use, over the "
        "process' environment (repeatable; later files win)",
    )


def add_skip_env_check_option(parser: argparse.ArgumentParser) -> None:
    """Add `--skip-env-var-check`."""
    parser.add_argument(
        "--skip-env-var-check",
        action="store_true",
        help="do not report ${VAR} references to unset variables without a default (they "
        "read as empty text)",
    )


class EnvFileError(ValueError):
    """An env file that cannot be read."""


def _read_env_file(path: str) -> dict[str, str]:
    from dotenv import dotenv_values

    if not os.path.isfile(path):
        raise EnvFileError(f"{path}: no such env file")
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"{path}: cannot read it: {exc}") from None
    return {key: value or "" for key, value in values.items()}


def config_environment(args: Any) -> Mapping[str, str] | None:
    """The environment configs are read with (None: the process' own, unchanged).

    Raises EnvFileError naming a file that cannot be read."""
    files = list(getattr(args, "env_file", None) or [])
    skip = bool(getattr(args, "skip_env_var_check", False))
    if not files and not skip:
        return None
    environ: dict[str, str] = dict(os.environ)
    for path in files:
        environ.update(_read_env_file(path))
    return LenientEnviron(environ) if skip else environ
