"""The `license:` section of a stream config, registered with config validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamforge.config.sections import SectionError, register_section
from streamforge.license.settings import LICENSE_FIELDS, LicenseSettings, LicenseSettingsError
from streamforge.plugin.spec import Field

__all__ = ["check_license_section"]


def check_license_section(section: dict[str, Any], base_dir: Path | None) -> None:
    """Values a licence cannot use (a negative leeway, an OPA URL without http://)."""
    try:
        LicenseSettings.from_config(section, env={}, base_dir=base_dir)
    except LicenseSettingsError as exc:
        raise SectionError(exc.key, str(exc)) from None


register_section(
    Field(
        "license", "object", default={}, fields=tuple(LICENSE_FIELDS),
        description="Where the licence, its public key and the policies come from; "
                    "without it the STREAMFORGE_LICENSE* environment variables apply.",
    ),
    check_license_section,
)  # fmt: skip
