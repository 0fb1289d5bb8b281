"""Licences activated over the manager's API: verified, kept in the home, in effect at once.

The latest activation is `<home>/license.jwt` (mode 0600); `serve` prefers it to the licence the
environment or `--license` configures. Stream children find the manager's licence through
`<home>/license-in-force.jwt` (a link to the licence file in force, or a copy of a token given
in the environment): the licence watch of a running stream follows that file, so an activation
reaches running streams at the watch's next look, and new streams start under it.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Mapping, MutableMapping
from datetime import datetime, timezone
from pathlib import Path

from streamforge.license.claims import LicenseError
from streamforge.license.settings import ENV_LICENSE, ENV_LICENSE_FILE, LicenseSettings
from streamforge.license.state import LicenseState, build_state, current, install
from streamforge.license.token import format_time, read_key_file, verify_token
from streamforge.manager.service import Manager

__all__ = [
    "ACTIVATED_FILE",
    "IN_FORCE_FILE",
    "LicenceAdmin",
    "share_with_streams",
    "startup_settings",
]

#: the latest licence activated over the API, in the manager's home
ACTIVATED_FILE = "license.jwt"
#: what stream children read as their licence file, in the manager's home
IN_FORCE_FILE = "license-in-force.jwt"


def startup_settings(home: Path, env: Mapping[str, str] = os.environ) -> LicenseSettings:
    """The environment's licence settings, with the latest activation in `home` (if any)
    instead of the configured licence. LicenseSettingsError for a bad environment variable."""
    settings = LicenseSettings.from_config(None, env=env)
    activated = home / ACTIVATED_FILE
    if activated.is_file():
        return dataclasses.replace(settings, token=None, file=str(activated))
    return settings


def share_with_streams(
    home: Path, settings: LicenseSettings, child_env: MutableMapping[str, str]
) -> None:
    """Point the stream children's environment at the licence `settings` name, through
    `<home>/license-in-force.jwt`; without a licence the children get none."""
    in_force = home / IN_FORCE_FILE
    if settings.token:
        write_private(in_force, settings.token + "\n")
    elif settings.file:
        _link(in_force, Path(settings.file))
    else:
        in_force.unlink(missing_ok=True)
        child_env.pop(ENV_LICENSE, None)
        child_env.pop(ENV_LICENSE_FILE, None)
        return
    child_env[ENV_LICENSE_FILE] = str(in_force)
    child_env.pop(ENV_LICENSE, None)


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by the owner only, synced to disk."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _link(path: Path, target: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    os.symlink(target.resolve(), temporary)
    os.replace(temporary, path)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LicenceAdmin:
    """The manager's licence: the state in force, activations and rebuilds."""

    def __init__(self, manager: Manager) -> None:
        self.manager = manager
        self.home = manager.supervisor.home
        self.activated = self.home / ACTIVATED_FILE
        self._lock = threading.Lock()

    @property
    def state(self) -> LicenseState:
        return current()

    def source(self, state: LicenseState) -> str:
        """Where the licence in force came from, as a person reads it."""
        if state.settings.file == str(self.activated) and not state.settings.token:
            return f"activated over the API ({self.activated})"
        return state.status.source

    def activate(self, token: str, now: datetime | None = None) -> LicenseState:
        """Verify `token` with the configured public key, keep it in the home and put it in
        effect; LicenseError saying why it cannot be used (nothing changes then)."""
        moment = now or datetime.now(timezone.utc)
        with self._lock:
            state = current()
            settings = state.settings
            if not settings.public_key_file:
                raise LicenseError(
                    "this manager has no licence public key configured "
                    "(STREAMFORGE_LICENSE_PUBLIC_KEY_FILE)"
                )
            public_key = read_key_file(settings.public_key_file)
            licence = verify_token(
                token, public_key, issuer=settings.issuer, leeway=settings.leeway, now=moment
            )
            if licence.expires_at is not None and licence.expires_at <= moment:
                raise LicenseError(f"expired at {format_time(licence.expires_at)}")
            write_private(self.activated, token.strip() + "\n")
            activated = dataclasses.replace(settings, token=None, file=str(self.activated))
            new = build_state(activated, engine=state.engine, now=moment)
            self.put(new)
            share_with_streams(self.home, activated, self.manager.supervisor.env)
            return new

    def rebuilt(self) -> LicenseState:
        """The licence in force read again with freshly loaded policies (not yet in effect);
        PolicyError naming the file and line of a policy that does not load."""
        from streamforge.license.policy import engine_for

        settings = current().settings
        return build_state(settings, engine=engine_for(settings))

    def put(self, state: LicenseState) -> None:
        """Put `state` in effect for this process: new streams are checked against it."""
        install(state)
        self.manager.decisions = state.decisions
