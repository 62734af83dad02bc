"""Who is shown fingerprints: the services' predicates that the web pages use, role by role."""

from __future__ import annotations

import pytest

from crms.access.policy import Permission, Role, role_permissions
from crms.access.principal import Principal
from crms.biometrics import enrolment, thumbnails


@pytest.mark.parametrize("role", list(Role))
def test_print_list_and_pictures_follow_the_roles(role):
    who = Principal(user_id=1, username="u", role=role.value)
    perms = role_permissions(role.value)
    assert enrolment.may_list_prints(who) == bool(
        perms & {Permission.SEARCH_BIOMETRIC, Permission.BIOMETRIC_ENROL}
    )
    assert thumbnails.may_view_thumbnails(who) == bool(
        perms & {Permission.BIOMETRIC_ENROL, Permission.BIOMETRIC_CONFIRM}
    )


def test_token_scopes_narrow_them():
    roles = [r for r in Role if Permission.BIOMETRIC_ENROL in role_permissions(r.value)]
    assert roles
    who = Principal(user_id=1, username="u", role=roles[0].value, scopes=frozenset({"person:read"}))
    assert not enrolment.may_list_prints(who) and not thumbnails.may_view_thumbnails(who)
