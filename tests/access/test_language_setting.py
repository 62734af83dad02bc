"""The page language stored on the user's account (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crms.access.models import AuditEntry, User
from crms.access.principal import system_principal
from crms.access.users import create_user, language_of, principal_for, set_language
from crms.errors import ValidationError


def test_set_language_is_stored_audited_and_limited(db):
    with db.transaction() as s:
        user = create_user(s, "lang_user", "investigating_officer", unit="BA")
        who = principal_for(user, channel="web")
    with db.transaction() as s:
        assert language_of(s, who) is None  # not chosen yet: the browser's applies
        set_language(s, who, "ur")
    with db.transaction() as s:
        assert language_of(s, who) == "ur"
        assert s.get(User, who.user_id).language == "ur"
        assert (
            s.scalar(select(AuditEntry.action).where(AuditEntry.action == "user.language")) == "user.language"
        )
    for bad in ("fr", "", "UR"):
        with pytest.raises(ValidationError) as err, db.transaction() as s:
            set_language(s, who, bad)
        assert err.value.field == "language"
    with pytest.raises(ValidationError), db.transaction() as s:
        set_language(s, system_principal(), "en")
    with db.transaction() as s:
        assert language_of(s, who) == "ur"
