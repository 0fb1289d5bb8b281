"""The `redpanda:` section of a stream config, registered with config validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamforge.config.sections import SectionError, register_section
from streamforge.connectors.redpanda_common import SECTION, check_section, section_fields
from streamforge.plugin.spec import Field

__all__ = ["check_redpanda_section"]


def check_redpanda_section(section: dict[str, Any], base_dir: Path | None) -> None:
    """Values the shared Redpanda client cannot use (a logs topic, a size that is not one)."""
    problem = check_section(section)
    if problem is not None:
        raise SectionError(*problem)


register_section(
    Field(
        SECTION, "object", default={}, fields=tuple(section_fields()),
        description="The Redpanda (Kafka) cluster `redpanda_common` inputs and outputs share: "
                    "brokers, TLS and SASL once, and the settings of their producer.",
    ),
    check_redpanda_section,
)  # fmt: skip
