"""What a page shows comes from the services' predicates (the web makes no permission decisions of its own):
each predicate, role by role, holds exactly for the roles whose permissions the service's own check needs."""

from __future__ import annotations

import pytest

from crms.access import audit
from crms.access.policy import Permission, Role, role_permissions
from crms.access.principal import Principal
from crms.biometrics import enrolment, thumbnails
from crms.records.services import cases, guard

P = Permission
RULES = [
    (enrolment.may_list_prints, {P.SEARCH_BIOMETRIC, P.BIOMETRIC_ENROL}),
    (thumbnails.may_view_thumbnails, {P.BIOMETRIC_ENROL, P.BIOMETRIC_CONFIRM}),
    (audit.may_query, {P.AUDIT_READ}),
    (cases.may_list_cases, {P.CASE_READ}),
    (guard.may_browse, {P.PERSON_BROWSE}),
]


@pytest.mark.parametrize("role", list(Role))
def test_each_predicate_follows_the_roles(role):
    who = Principal(user_id=1, username="u", role=role.value)
    perms = role_permissions(role.value)
    for rule, needs in RULES:
        assert rule(who) == bool(perms & needs), rule.__name__


def test_token_scopes_narrow_them():
    for rule, needs in RULES:
        roles = [r for r in Role if role_permissions(r.value) & needs]
        assert roles, rule.__name__
        who = Principal(user_id=1, username="u", role=roles[0].value, scopes=frozenset({"person:read"}))
        assert not rule(who), rule.__name__
