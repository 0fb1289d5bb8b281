"""Authorization decisions by `policies/authz.rego`: roles, custom roles, scopes, tags, and
policies an admin uploads."""

from __future__ import annotations

import pytest

from streamforge.license.policy import PolicyError
from streamforge.manager.authz import Authorizer, Resource, Subject, check_policy_source
from streamforge.manager.permissions import BUILTIN_ROLES, PERMISSIONS, RULES

STREAM = Resource("stream", "line-2.press", ("north",))


def test_the_policy_grants_each_built_in_role_exactly_its_permissions() -> None:
    authorizer = Authorizer()
    for role, granted in BUILTIN_ROLES.items():
        for permission in PERMISSIONS:
            decision = authorizer.decide(Subject("u", (role,)), permission, STREAM)
            assert decision.allow == (permission in granted), (role, permission)


def test_every_rule_names_a_known_permission() -> None:
    unknown = {r.permission for r in RULES.values()} - {*PERMISSIONS, "self"}
    assert unknown == set()


def test_no_role_means_nothing_but_the_own_token() -> None:
    authorizer = Authorizer()
    nobody = Subject("u", ())
    assert not authorizer.decide(nobody, "streams:read", STREAM).allow
    assert authorizer.decide(nobody, "self").allow


@pytest.mark.parametrize(
    ("scopes", "resource", "allowed"),
    [
        (("line-2.*",), Resource("stream", "line-2.press"), True),
        (("line-2.*",), Resource("stream", "line-3.press"), False),
        (("line-2.*",), Resource("stream", "xline-2.press"), False),
        (("tag:north",), Resource("stream", "line-3.press", ("north",)), True),
        (("tag:north",), Resource("stream", "line-3.press", ("south",)), False),
        (("line-9.*", "tag:north"), Resource("thing", "urn:x", ("north",)), True),
        (("engineer@line-2.*",), Resource("stream", "line-3.press"), False),
        (("viewer@line-3.*",), Resource("stream", "line-3.press"), True),
        (("line-2.*",), Resource(None), True),  # users, templates ...: scopes do not apply
        (("line-2.*",), Resource("stream", None), True),  # a list: each item is checked
    ],
)
def test_scopes_limit_roles_to_ids_and_tags(
    scopes: tuple[str, ...], resource: Resource, allowed: bool
) -> None:
    authorizer = Authorizer()
    engineer = Subject("u", ("engineer",), scopes)
    assert authorizer.decide(engineer, "streams:write", resource).allow is allowed


def test_a_role_scoped_alone_leaves_the_others_unscoped() -> None:
    authorizer = Authorizer()
    user = Subject("u", ("viewer", "engineer"), ("engineer@line-2.*",))
    elsewhere = Resource("stream", "line-3.press")
    assert authorizer.decide(user, "streams:read", elsewhere).allow
    assert not authorizer.decide(user, "streams:write", elsewhere).allow
    assert authorizer.decide(user, "streams:write", Resource("stream", "line-2.press")).allow


def test_custom_roles_grant_their_permissions_and_wildcards_and_follow_changes() -> None:
    roles = {"desk": ["alarms:*", "streams:read"]}
    authorizer = Authorizer(custom_roles=lambda: roles)
    desk = Subject("u", ("desk",))
    assert authorizer.decide(desk, "alarms:ack", STREAM).allow
    assert authorizer.decide(desk, "streams:read", STREAM).allow
    assert not authorizer.decide(desk, "streams:operate", STREAM).allow
    roles["desk"] = ["streams:read"]
    assert authorizer.decide(desk, "alarms:ack", STREAM).allow  # cached until told
    authorizer.reload_roles()
    assert not authorizer.decide(desk, "alarms:ack", STREAM).allow


def test_an_uploaded_policy_may_refuse_with_a_reason_or_grant_more() -> None:
    sources = {
        "night": "package streamforge.authz\nimport rego.v1\n"
        'deny contains "no changes to line 2 at night" if {\n'
        '  input.action == "streams:write"\n  startswith(input.resource.id, "line-2.")\n}\n',
        "historian": "package streamforge.authz\nimport rego.v1\n"
        'allow if {\n  input.subject.name == "historian"\n  input.action == "dlq:read"\n}\n',
    }
    authorizer = Authorizer(uploaded=lambda: sources)
    decision = authorizer.decide(Subject("u", ("admin",)), "streams:write", STREAM)
    assert not decision.allow and decision.reasons == ("no changes to line 2 at night",)
    assert authorizer.decide(Subject("historian", ()), "dlq:read", STREAM).allow
    assert not authorizer.decide(Subject("other", ()), "dlq:read", STREAM).allow
    del sources["night"]
    authorizer.reload()
    assert authorizer.decide(Subject("u", ("admin",)), "streams:write", STREAM).allow


def test_a_broken_policy_is_refused_before_it_takes_effect() -> None:
    authorizer = Authorizer()
    with pytest.raises(PolicyError, match=r"broken\.rego:3:"):
        authorizer.try_policies({"broken": "package streamforge.authz\n\nallow if {{\n"})
    with pytest.raises(PolicyError):
        authorizer.try_policies(
            {"odd": "package streamforge.authz\nimport rego.v1\ndecision := 7\n"}
        )
    with pytest.raises(PolicyError, match="deny must hold strings"):
        authorizer.try_policies(
            {"odd": "package streamforge.authz\nimport rego.v1\ndeny contains 7 if true\n"}
        )
    with pytest.raises(PolicyError):
        authorizer.try_policies(
            {"clash": "package streamforge.authz\nimport rego.v1\nviewer := {1}\n"}
        )
    with pytest.raises(ValueError, match="package streamforge.authz"):
        check_policy_source("other", "package somewhere.else\n")
    with pytest.raises(ValueError, match="policy name"):
        check_policy_source("../x", "package streamforge.authz\n")
    assert authorizer.decide(Subject("u", ("viewer",)), "streams:read", STREAM).allow
