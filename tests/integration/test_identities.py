"""Users and API keys in the manager's database (SQLite files and PostgreSQL), and the
`streamforge users` / `streamforge keys` commands that manage them."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from sqlalchemy import create_engine, inspect, select, text, update

from streamforge.cli import main as cli_main
from streamforge.manager.db import MIGRATIONS, open_database, sqlite_url
from streamforge.manager.identities import (
    LOCK_AFTER,
    LOCK_FOR,
    DuplicateUser,
    Identities,
    IdentityError,
    UnknownKey,
    UnknownUser,
    WeakPassword,
)
from streamforge.manager.models import UserRow

#: cheap argon2 parameters, so the tests that hash often stay fast
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


class Clock:
    """A clock the tests move forward."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def identities(database_url: str, clock: Clock) -> Iterator[Identities]:
    engine = open_database(database_url)
    yield Identities(engine, hasher=FAST, clock=clock)
    engine.dispose()


# -- users and passwords ----------------------------------------------------------------------
def test_a_password_is_stored_as_argon2_and_verified(identities: Identities) -> None:
    user = identities.add_user("alice", PASSWORD, ["engineer", "operator", "engineer"])
    assert user.roles == ("engineer", "operator")
    assert identities.verify_password("alice", PASSWORD) == identities.user("alice")
    assert identities.verify_password("alice", PASSWORD + "x") is None
    assert identities.verify_password("nobody", PASSWORD) is None
    with identities._sessions() as session:
        stored = session.scalars(select(UserRow.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_hash_with_old_parameters_is_rehashed_when_its_password_is_verified(
    identities: Identities,
) -> None:
    identities.add_user("alice", PASSWORD, ["viewer"])
    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORD)
    with identities._sessions.begin() as session:
        session.execute(update(UserRow).values(password_hash=weak))
    assert FAST.check_needs_rehash(weak)
    assert identities.verify_password("alice", PASSWORD) is not None
    with identities._sessions() as session:
        stored = session.scalars(select(UserRow.password_hash)).one()
    assert stored != weak and not FAST.check_needs_rehash(stored)
    assert identities.verify_password("alice", PASSWORD) is not None


def test_duplicate_and_unknown_users_and_bad_input_are_refused(identities: Identities) -> None:
    identities.add_user("alice", PASSWORD, ["admin"])
    with pytest.raises(DuplicateUser, match="exists already"):
        identities.add_user("alice", "another password", ["viewer"])
    with pytest.raises(UnknownUser, match="no user is named 'bob'"):
        identities.set_password("bob", PASSWORD)
    with pytest.raises(UnknownUser):
        identities.remove_user("bob")
    with pytest.raises(WeakPassword, match="empty"):
        identities.add_user("bob", "   ", ["viewer"])
    with pytest.raises(WeakPassword, match="too short"):
        identities.add_user("bob", "abc", ["viewer"])
    with pytest.raises(WeakPassword, match="username"):
        identities.add_user("bobbybobby", "BobbyBobby", ["viewer"])
    with pytest.raises(IdentityError, match="unknown role 'root'"):
        identities.add_user("bob", PASSWORD, ["root"])
    with pytest.raises(IdentityError, match="invalid username"):
        identities.add_user("bob smith", PASSWORD, ["viewer"])
    assert [user.username for user in identities.users()] == ["alice"]


def test_a_changed_password_replaces_the_old_one(identities: Identities) -> None:
    identities.add_user("alice", PASSWORD, ["viewer"])
    identities.set_password("alice", "a new password")
    assert identities.verify_password("alice", PASSWORD) is None
    assert identities.verify_password("alice", "a new password") is not None


def test_repeated_failures_lock_a_user_for_a_while(identities: Identities, clock: Clock) -> None:
    identities.add_user("alice", PASSWORD, ["viewer"])
    for _ in range(LOCK_AFTER):
        assert identities.verify_password("alice", "wrong password") is None
    assert identities.user("alice").locked_until == clock.now + LOCK_FOR
    assert identities.verify_password("alice", PASSWORD) is None  # locked, right or wrong
    clock.now += LOCK_FOR + timedelta(seconds=1)
    assert identities.verify_password("alice", PASSWORD) is not None
    assert identities.user("alice").locked_until is None


def test_a_success_resets_the_count_of_failures(identities: Identities) -> None:
    identities.add_user("alice", PASSWORD, ["viewer"])
    for _ in range(LOCK_AFTER - 1):
        identities.verify_password("alice", "wrong password")
    assert identities.verify_password("alice", PASSWORD) is not None
    for _ in range(LOCK_AFTER - 1):
        identities.verify_password("alice", "wrong password")
    assert identities.verify_password("alice", PASSWORD) is not None


def test_a_password_change_lifts_a_lock(identities: Identities) -> None:
    identities.add_user("alice", PASSWORD, ["viewer"])
    for _ in range(LOCK_AFTER):
        identities.verify_password("alice", "wrong password")
    identities.set_password("alice", "a new password")
    assert identities.verify_password("alice", "a new password") is not None


# -- API keys ---------------------------------------------------------------------------------
def test_a_key_is_shown_once_stored_hashed_and_verified(identities: Identities) -> None:
    identities.add_user("plc", PASSWORD, ["operator"])
    key, secret = identities.create_key("plc", "press line 2", timedelta(days=90))
    assert secret.startswith("sfk_") and len(secret) > 40
    assert key.prefix == secret[: len(key.prefix)] and len(key.prefix) < len(secret) // 2
    with identities._sessions() as session:
        rows = session.execute(text("SELECT * FROM api_keys")).mappings().all()
    assert secret not in str(rows)
    found = identities.verify_key(secret)
    assert found is not None
    user, used = found
    assert (user.username, used.id, used.name) == ("plc", key.id, "press line 2")
    assert identities.verify_key(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert identities.verify_key("not a key") is None


def test_last_used_is_kept_to_the_minute(identities: Identities, clock: Clock) -> None:
    identities.add_user("plc", PASSWORD, ["operator"])
    key, secret = identities.create_key("plc", "k", None)
    assert identities.api_keys()[0].last_used_at is None
    identities.verify_key(secret)
    assert identities.api_keys()[0].last_used_at == clock.now
    first = clock.now
    clock.now += timedelta(seconds=10)
    identities.verify_key(secret)
    assert identities.api_keys()[0].last_used_at == first
    clock.now += timedelta(minutes=5)
    identities.verify_key(secret)
    assert identities.api_keys()[0].last_used_at == clock.now


def test_an_expired_key_stops_working(identities: Identities, clock: Clock) -> None:
    identities.add_user("plc", PASSWORD, ["operator"])
    key, secret = identities.create_key("plc", "k", timedelta(hours=1))
    assert key.expires_at == clock.now + timedelta(hours=1)
    assert identities.verify_key(secret) is not None
    clock.now += timedelta(hours=1)
    assert identities.verify_key(secret) is None
    assert identities.api_keys()[0].status(clock.now) == "expired"


def test_a_revoked_key_stops_working(identities: Identities, clock: Clock) -> None:
    identities.add_user("plc", PASSWORD, ["operator"])
    key, secret = identities.create_key("plc", "k", None)
    clock.now += timedelta(seconds=1)
    other, other_secret = identities.create_key("plc", "other", None)
    assert identities.revoke_key(key.id).revoked_at == clock.now
    assert identities.verify_key(secret) is None
    assert identities.verify_key(other_secret) is not None
    assert [k.status(clock.now) for k in identities.api_keys()] == ["revoked", "active"]
    with pytest.raises(UnknownKey):
        identities.revoke_key("nope")


def test_removing_a_user_removes_their_keys(identities: Identities) -> None:
    identities.add_user("plc", PASSWORD, ["operator"])
    identities.add_user("alice", PASSWORD, ["admin"])
    _, secret = identities.create_key("plc", "k", None)
    identities.create_key("alice", "laptop", None)  # same time, other user
    identities.remove_user("plc")
    assert identities.verify_key(secret) is None
    assert [key.username for key in identities.api_keys()] == ["alice"]
    with pytest.raises(UnknownUser):
        identities.create_key("plc", "k", None)
    with pytest.raises(IdentityError, match="in the future"):
        identities.create_key("alice", "k", timedelta(0))


def test_a_disabled_user_neither_signs_in_nor_uses_keys(identities: Identities) -> None:
    identities.add_user("plc", PASSWORD, ["operator"])
    _, secret = identities.create_key("plc", "k", None)
    with identities._sessions.begin() as session:
        session.execute(update(UserRow).values(disabled=True))
    assert identities.verify_password("plc", PASSWORD) is None
    assert identities.verify_key(secret) is None


# -- migrations -------------------------------------------------------------------------------
def test_a_database_made_by_0002_is_migrated_and_keeps_its_streams(database_url: str) -> None:
    url = database_url.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(MIGRATIONS / "versions"))
    made = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(
            text(
                "INSERT INTO streams (id, desired, version, config, created_at, updated_at) "
                "VALUES ('plant', 'running', 1, :config, :made, :made)"
            ),
            {"config": b"\0", "made": made},
        )
    assert "users" not in inspect(engine).get_table_names()
    engine.dispose()
    migrated = open_database(database_url)
    tables = inspect(migrated).get_table_names()
    assert {"users", "api_keys", "streams", "things"} <= set(tables)
    with migrated.connect() as connection:
        assert connection.execute(text("SELECT id FROM streams")).scalars().all() == ["plant"]
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == ScriptDirectory.from_config(config).get_current_head()
    Identities(migrated, hasher=FAST).add_user("alice", PASSWORD, ["admin"])
    migrated.dispose()


# -- the commands -----------------------------------------------------------------------------
def run_cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_users_and_keys_are_managed_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = ["--home", str(tmp_path)]
    code, out, err = run_cli(
        capsys, monkeypatch, "users", "add", "alice", "--role", "admin", "--password-stdin",
        *home, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert (code, out, err) == (0, "added user alice (admin)\n", "")
    monkeypatch.setenv("STREAMFORGE_HOME", str(tmp_path))  # found as serve finds it
    code, out, _ = run_cli(
        capsys, monkeypatch, "users", "add", "plc", "--role", "operator", "--role", "viewer",
        "--password-stdin", stdin=PASSWORD,
    )  # fmt: skip
    assert code == 0
    code, out, _ = run_cli(capsys, monkeypatch, "users", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLES", "SCOPES", "KEYS", "CREATED", "STATE"]
    assert lines[1].split()[:4] == ["alice", "admin", "-", "0"]
    assert lines[2].split()[:2] == ["plc", "operator,viewer"]
    assert "argon2" not in out

    code, out, err = run_cli(
        capsys, monkeypatch, "keys", "create", "--user", "plc", "--name", "press-2",
        "--expires", "30d",
    )  # fmt: skip
    assert code == 0 and "shown only now" in err
    secret = out.strip()
    assert secret.startswith("sfk_")
    code, out, _ = run_cli(capsys, monkeypatch, "keys", "list")
    assert secret not in out and secret[:12] + "..." in out
    key_id = out.splitlines()[1].split()[0]
    assert out.splitlines()[1].split()[-1] == "active"

    # the database `streamforge serve` opens for this home holds them
    engine = open_database(sqlite_url(tmp_path))
    found = Identities(engine).verify_key(secret)
    assert found is not None and found[0].roles == ("operator", "viewer")
    assert Identities(engine).verify_password("alice", PASSWORD) is not None

    code, out, _ = run_cli(
        capsys, monkeypatch, "users", "passwd", "alice", "--password-stdin",
        stdin="another password\n",
    )  # fmt: skip
    assert code == 0
    assert Identities(engine).verify_password("alice", "another password") is not None

    code, out, _ = run_cli(capsys, monkeypatch, "keys", "revoke", key_id)
    assert code == 0 and key_id in out
    assert Identities(engine).verify_key(secret) is None
    code, out, _ = run_cli(capsys, monkeypatch, "keys", "list", "--user", "plc")
    assert out.splitlines()[1].split()[-1] == "revoked"

    code, out, _ = run_cli(capsys, monkeypatch, "users", "remove", "plc")
    assert code == 0
    code, out, _ = run_cli(capsys, monkeypatch, "users", "list")
    assert [line.split()[0] for line in out.splitlines()] == ["USERNAME", "alice"]
    engine.dispose()


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["users", "add", "alice", "--role", "admin", "--password-stdin"], PASSWORD,
         "streamforge users add: user 'alice' exists already"),
        (["users", "add", "bob", "--role", "boss", "--password-stdin"], PASSWORD,
         "streamforge users add: unknown role 'boss': one of viewer, operator, engineer, admin"),
        (["users", "add", "bob", "--password-stdin"], PASSWORD,
         "streamforge users add: a user needs a role: one of viewer, operator, engineer, admin"),
        (["users", "add", "bob", "--role", "viewer", "--password-stdin"], "\n",
         "streamforge users add: the password is empty"),
        (["users", "add", "bob", "--role", "viewer", "--password-stdin"], "abc\n",
         "streamforge users add: the password is too short: at least 8 characters"),
        (["users", "add", "bob", "--role", "viewer"], "",
         "streamforge users add: no terminal to ask for the password on: give --password-stdin"),
        (["users", "passwd", "bob", "--password-stdin"], PASSWORD,
         "streamforge users passwd: no user is named 'bob'"),
        (["users", "remove", "bob"], "", "streamforge users remove: no user is named 'bob'"),
        (["keys", "create", "--user", "bob", "--name", "k"], "",
         "streamforge keys create: no user is named 'bob'"),
        (["keys", "create", "--user", "alice", "--name", "k", "--expires", "soon"], "",
         "streamforge keys create: --expires: invalid duration 'soon': expected a number with "
         "a unit such as 500ms, 1s, 1m30s, or never"),
        (["keys", "create", "--user", "alice", "--name", "k", "--expires", "0"], "",
         "streamforge keys create: --expires: a key's lifetime must be positive, or never"),
        (["keys", "revoke", "nope"], "", "streamforge keys revoke: no API key has the id 'nope'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_1(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    home = ["--home", str(tmp_path)]
    assert run_cli(
        capsys, monkeypatch, "users", "add", "alice", "--role", "admin", "--password-stdin",
        *home, stdin=PASSWORD,
    )[0] == 0  # fmt: skip
    code, out, err = run_cli(capsys, monkeypatch, *argv, *home, stdin=stdin)
    assert (code, out, err) == (1, "", message + "\n")


def test_passwords_asked_on_the_terminal_must_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, PASSWORD + "x", PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    tty = io.StringIO()
    tty.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", tty)
    home = ["--home", str(tmp_path)]
    assert cli_main(["users", "add", "alice", "--role", "viewer", *home]) == 1
    assert capsys.readouterr().err == "streamforge users add: the passwords do not match\n"
    assert cli_main(["users", "add", "alice", "--role", "viewer", *home]) == 0
    engine = open_database(sqlite_url(tmp_path))
    assert Identities(engine).verify_password("alice", PASSWORD) is not None
    engine.dispose()


def test_the_console_command_answers_one_line_without_a_traceback(tmp_path: Path) -> None:
    def streamforge(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streamforge.cli", *argv, "--home", str(tmp_path)],
            input=stdin, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    added = streamforge("users", "add", "ops", "--role", "operator", "--password-stdin",
                        stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    again = streamforge("users", "add", "ops", "--role", "operator", "--password-stdin",
                        stdin=PASSWORD + "\n")  # fmt: skip
    assert again.returncode == 1
    assert again.stderr == "streamforge users add: user 'ops' exists already\n"
    created = streamforge("keys", "create", "--user", "ops", "--name", "scada")
    assert created.returncode == 0 and created.stdout.startswith("sfk_")
    assert "Traceback" not in created.stderr
