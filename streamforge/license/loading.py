"""Find, read and verify the deployment's licence; problems fall back to the base features."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from streamforge.license.claims import License, LicenseError
from streamforge.license.settings import ENV_LICENSE, ENV_PUBLIC_KEY_FILE, LicenseSettings
from streamforge.license.token import (
    format_time,
    read_key_file,
    read_licensing_file,
    verify_token,
)

__all__ = ["LicenseStatus", "load_license", "read_license_file"]

logger = logging.getLogger("streamforge.license")

_NO_LICENCE = "no licence configured"
_NO_PUBLIC_KEY = f"no public key configured (license.public_key_file or {ENV_PUBLIC_KEY_FILE})"


@dataclass(frozen=True)
class LicenseStatus:
    """The licence in effect (None: the base defaults), where it came from, and why not."""

    license: License | None
    source: str
    reason: str | None
    checked_at: datetime

    @property
    def defaults_apply(self) -> bool:
        """True when no licence is in effect, so the policies' base defaults apply."""
        return self.license is None


def read_license_file(path: str | Path) -> str:
    """The token in a licence file; LicenceError "licence file X: not found" and the like."""
    data = read_licensing_file(path, "licence")
    token = data.decode("utf-8", errors="replace").strip()
    if not token:
        raise LicenseError(f"licence file {path}: empty")
    return token


def load_license(settings: LicenseSettings, now: datetime | None = None) -> LicenseStatus:
    """The licence the settings point at, verified; never raises for licence problems.

    A token in STREAMFORGE_LICENSE is used before a licence file. Logs one line on the
    "streamforge.license" logger: INFO for a valid licence or none configured, WARNING
    naming the source and the reason when a configured licence cannot be used.
    """
    checked_at = now if now is not None else datetime.now(timezone.utc)
    if settings.token:
        source = ENV_LICENSE
    elif settings.file:
        source = f"file {settings.file}"
    else:
        logger.info("no licence: base features apply")
        return LicenseStatus(None, "none", _NO_LICENCE, checked_at)
    try:
        token = settings.token or read_license_file(str(settings.file))
        if not settings.public_key_file:
            raise LicenseError(_NO_PUBLIC_KEY)
        public_key = read_key_file(settings.public_key_file)
        license = verify_token(
            token, public_key, issuer=settings.issuer, leeway=settings.leeway, now=now
        )
    except LicenseError as exc:
        reason = str(exc)
        logger.warning("licence from %s cannot be used: %s; base features apply", source, reason)
        return LicenseStatus(None, source, reason, checked_at)
    expiry = format_time(license.expires_at) if license.expires_at else "never"
    logger.info("licence for %s from %s, valid until %s", license.subject, source, expiry)
    return LicenseStatus(license, source, None, checked_at)
