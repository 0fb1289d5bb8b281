"""The manager's OpenAPI document against the manager, fuzzed with a viewer's, an operator's and
an engineer's API key.

What a role may not do is refused with 403, which every secured operation documents; what it
may do must answer as for the admin (test_manager_openapi.py): no 5xx, a status code the
operation lists, a body matching its model. Fewer examples per operation than the admin's run:
most of a role's requests end at the access check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from argon2 import PasswordHasher
from hypothesis import HealthCheck, settings
from peers.manager import ManagerRun
from peers.openapi import CHECKS, fuzzed_manager_at

from streamforge.manager.db import open_database, sqlite_url
from streamforge.manager.identities import Identities

ROLES = ("viewer", "operator", "engineer")
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
def role_keys(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ManagerRun, dict[str, str]]]:
    """A manager with one user per role; each user's API key by role."""
    with fuzzed_manager_at(tmp_path_factory.mktemp("openapi-roles") / "home") as run:
        engine = open_database(sqlite_url(run.home))
        try:
            identities = Identities(engine, hasher=FAST)
            keys = {}
            for role in ROLES:
                identities.add_user(f"{role}-1", "fuzzed password 1", [role])
                _, keys[role] = identities.create_key(f"{role}-1", "openapi", None)
            yield run, keys
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def roles_schema(role_keys: tuple[ManagerRun, dict[str, str]]) -> Any:
    run, _ = role_keys
    return schemathesis.openapi.from_url(f"{run.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("roles_schema")
FEW = settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _call_as(role: str, case: Any, role_keys: tuple[ManagerRun, dict[str, str]]) -> None:
    _, keys = role_keys
    case.call_and_validate(
        headers={"Authorization": f"Bearer {keys[role]}"},
        checks=CHECKS,
        timeout=30,
    )


@schema.parametrize()
@FEW
def test_every_operation_answers_a_viewer_as_documented(
    case: Any, role_keys: tuple[ManagerRun, dict[str, str]]
) -> None:
    _call_as("viewer", case, role_keys)


@schema.parametrize()
@FEW
def test_every_operation_answers_an_operator_as_documented(
    case: Any, role_keys: tuple[ManagerRun, dict[str, str]]
) -> None:
    _call_as("operator", case, role_keys)


@schema.parametrize()
@FEW
def test_every_operation_answers_an_engineer_as_documented(
    case: Any, role_keys: tuple[ManagerRun, dict[str, str]]
) -> None:
    _call_as("engineer", case, role_keys)
