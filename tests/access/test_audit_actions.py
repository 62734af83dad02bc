"""The audit page says each action and each kind of record in the page's language beside its code: every
action and record type the code writes has its words (read from the source, so a new one without them fails
here), and the page shows them."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

from crms.access import audit
from crms.access.users import create_user, principal_for
from crms.records.reference.service import KIND_MODELS
from crms.records.schemas import FlagConfirmIn, FlagIn
from crms.records.services.contacts import ENTRY_KINDS
from crms.web.audit_actions import ACTIONS, RECORD_TYPES
from crms.web.i18n import translations
from tests.records._support import signed_in

CRMS = Path(__file__).resolve().parents[2] / "crms"
# What an action name starts with (with the later channels' and areas': sms, face, exchange, latent).
FIRST = "access alert audit auth biometric case person photo records reference search user"
FIRST += " sms face exchange latent"
AREAS = "(" + "|".join(FIRST.split()) + ")"
ACTION = re.compile(AREAS + r"\.[a-z_.]*[a-z]")
# The actions whose names are built from a value, and every name each one builds.
BUILT = {
    "f'person.{kind}.add'": [f"person.{k}.add" for k in (*ENTRY_KINDS, "description")],
    "f'person.{kind}.remove'": [f"person.{k}.remove" for k in ENTRY_KINDS],
    "f'person.flag.{data.action}'": [
        f"person.flag.{a}"
        for schema in (FlagIn, FlagConfirmIn)
        for a in typing.get_args(schema.model_fields["action"].annotation)
    ],
    "f'biometric.duplicate_{decision}'": ["biometric.duplicate_confirm", "biometric.duplicate_reject"],
}


def _written() -> tuple[set[str], set[str]]:
    """Action names written as they are in the code, and the f-strings that build others."""
    names, built = set(), set()
    for path in CRMS.rglob("*.py"):
        if path.name == "audit_actions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if ACTION.fullmatch(node.value) and not node.value.endswith(".html"):
                    names.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if isinstance(head, ast.Constant) and re.fullmatch(AREAS + r"\.[a-z_.]*", str(head.value)):
                    built.add(ast.unparse(node))
    return names, built


def test_every_action_the_code_writes_has_its_words_and_no_words_are_left_over():
    names, built = _written()
    assert built == set(BUILT), "an action name built from a value: list every name it builds in BUILT"
    assert {"auth.login", "person.read", "search.cnic", "biometric.identify_decision"} <= names
    every = names | {n for group in BUILT.values() for n in group}
    assert sorted(every - set(ACTIONS)) == []
    assert sorted(set(ACTIONS) - every) == []


def _record_types() -> set[str]:
    """The record types written as they are (``target_type="person"``) and those of reference data."""
    written = set()
    for path in CRMS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "target_type":
                if isinstance(node.value, ast.Constant) and node.value.value is not None:
                    written.add(node.value.value)
    return written | set(KIND_MODELS)  # reference.create / reference.update name the kind edited


def test_every_record_type_the_code_writes_has_its_words_and_no_words_are_left_over():
    assert {"person", "case", "user", "identification", "district"} <= _record_types()
    assert _record_types() == set(RECORD_TYPES)


def test_the_words_are_in_the_urdu_catalogue():
    ur = translations("ur")
    every = [*ACTIONS.values(), *RECORD_TYPES.values()]
    assert [words for words in every if ur.gettext(words) == words] == []


def test_the_page_says_each_action_in_its_language_beside_the_code_and_offers_them_to_the_filter(app, db):
    with db.transaction() as s:
        clerk = principal_for(create_user(s, "clerk_words", "cro_operator"), channel="web")
        audit.record(s, clerk, "person.phone.remove", target_type="person", target_id=5)
        audit.record(s, clerk, "some.future_action", target_type="some_record", target_id=6)
    with signed_in(app, db, "auditor") as (c, _):
        page = c.get("/audit", params={"username": "clerk_words"}).text
        assert 'Phone removed<br><small dir="ltr">person.phone.remove</small>' in page
        assert '<td><small dir="ltr">some.future_action</small></td>' in page  # no words: the code alone
        assert '<td>Person <span dir="ltr">5</span></td>' in page
        assert '<td><span dir="ltr">some_record</span> <span dir="ltr">6</span></td>' in page
        c.cookies.set("crms_lang", "ur")
        page = c.get("/audit", params={"username": "clerk_words"}).text
        ur = translations("ur").gettext("Phone removed")
        assert ur != "Phone removed" and f'{ur}<br><small dir="ltr">person.phone.remove</small>' in page
        # the action filter offers every action by its words (the field takes a code or its first part)
        assert 'list="audit-actions"' in page and page.count('<option value="person.') >= 20
        assert f'<option value="person.phone.remove">{ur}</option>' in page
        person, station = (translations("ur").gettext(w) for w in ("Person", "Police station"))
        assert f'<td>{person} <span dir="ltr">5</span></td>' in page
        assert f'<option value="police_station">{station}</option>' in page
