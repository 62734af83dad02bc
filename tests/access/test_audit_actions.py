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
from crms.web.audit_actions import ACTIONS, DETAIL_FORMS, DETAIL_NUMBERS, DETAIL_WORDS, DETAILS, RECORD_TYPES
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


# The details whose dict is built from another: audit.query's filters.
BUILT_DETAILS = {"username", "user_id", "target_type", "target_id", "action", "since", "until", "outcome"}


def _details() -> set[str]:
    """The keys of the details the code writes: a dict written out as ``query={...}``, or assigned to
    ``query`` (and its items set) in a function that records ``query=query``."""

    def keys(node: ast.Dict) -> set[str]:
        return {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}

    written = set()
    for path in CRMS.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "query" and isinstance(node.value, ast.Dict):
                written |= keys(node.value)
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            inner = list(ast.walk(node))
            records_query = (k.arg == "query" and getattr(k.value, "id", "") == "query" for k in inner
                             if isinstance(k, ast.keyword))  # fmt: skip
            if not any(records_query):
                continue
            for a in inner:
                for target in a.targets if isinstance(a, ast.Assign) else ():
                    if getattr(target, "id", "") == "query" and isinstance(a.value, ast.Dict):
                        written |= keys(a.value)
                    elif isinstance(target, ast.Subscript) and getattr(target.value, "id", "") == "query":
                        written.add(target.slice.value)
    return written


def test_every_detail_the_code_writes_has_its_words_and_no_words_are_left_over():
    written = _details()
    assert {"fingerprint_id", "kept", "replaced", "probes", "reason", "ttl_days"} <= written
    assert sorted(written - set(DETAILS)) == []
    assert sorted(set(DETAILS) - written - BUILT_DETAILS) == []


def test_the_page_says_an_entrys_details_by_their_words_in_its_language(app, db):
    """The details of an entry (the JSON the trail keeps) are said as words and values: a finger by its
    name, yes and no as words, a list as a list; a key without words as it is; a detail that is not an object
    (a path) as it is."""
    with db.transaction() as s:
        clerk = principal_for(create_user(s, "clerk_details", "cro_operator"), channel="web")
        query = {"fingerprint_id": 17, "position": 2, "history": True, "ids": [4, 5], "new_key": "x<y",
                 "role": "cro_operator", "ppi_source": "estimated", "status": "no_such_status"}  # fmt: skip
        audit.record(s, clerk, "biometric.enrol", target_type="person", target_id=5, query=query)
        audit.record(s, clerk, "access.refused", outcome="refused", query="/persons/9")
    with signed_in(app, db, "auditor") as (c, _):
        page = c.get("/audit", params={"username": "clerk_details"}).text
        assert "Fingerprint" in page and "Right index" in page and "fingerprint_id" in page
        details = re.search(r'<span class="details">(.*?)</span></small>', page, re.S).group(1)
        assert '<span title="fingerprint_id">Fingerprint</span>: <bdi>17</bdi>' in details
        assert '<span title="position">Finger</span>: <bdi>Right index</bdi>' in details
        assert "<bdi>yes</bdi>" in details and "<bdi>4, 5</bdi>" in details
        assert '<span title="role">Role</span>: <bdi>CRO operator</bdi>' in details  # a code by its words
        assert "<bdi>estimated from the ridge spacing</bdi>" in details
        assert "<bdi>no_such_status</bdi>" in details  # a code without words: as it is
        assert '<span dir="ltr">new_key</span>: <bdi>x&lt;y</bdi>' in details  # no words: the key itself
        assert '<span dir="ltr">/persons/9</span>' in page
        c.cookies.set("crms_lang", "ur")
        page = c.get("/audit", params={"username": "clerk_details"}).text
        ur = translations("ur").gettext
        details = re.search(r'<span class="details">(.*?)</span></small>', page, re.S).group(1)
        assert f'<span title="position">{ur("Finger")}</span>: <bdi>{ur("Right index")}</bdi>' in details
        assert f"<bdi>{ur('yes')}</bdi>" in details and ">Fingerprint<" not in details


def test_every_word_an_entry_keeps_as_its_detail_has_its_words():
    """A detail written as one word (``detail="flags"``), and each part of a record read on its own (its
    detail), is one the page says in its language."""
    from crms.records.services.reading import PERSON_PARTS

    written = set()
    for path in CRMS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "detail":
                written.add(node.value.value if isinstance(node.value, ast.Constant) else None)
    written = (written - {None}) | set(PERSON_PARTS)
    assert {"not found", "flags", "phones"} <= written
    assert sorted(written - set(DETAIL_WORDS)) == []


# Details built from values that stay as they are: an entry removed, said by what it held (its own words).
FREE_DETAILS = {"{} {}: {}", "link {}: person {} in {}"}


def test_every_detail_built_from_values_has_its_form_or_is_the_records_own_words():
    """Each detail the code builds from values (``detail=f"{n} names shown"``) has its form in DETAIL_FORMS,
    each value a ``{name}``, so the page can say it in its language; no form is left over."""

    def skeleton(node: ast.JoinedStr) -> str:
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)

    built = set()
    for path in CRMS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "detail":
                if isinstance(node.value, ast.JoinedStr):
                    built.add(skeleton(node.value))
    assert {"{} names shown", "{} of {}"} <= built
    assert built - FREE_DETAILS == {re.sub(r"\{\w+\}", "{}", form) for form in DETAIL_FORMS}
    for form, words in DETAIL_FORMS.items():  # the page's words name the same values
        assert set(re.findall(r"\{(\w+)\}", form)) == set(re.findall(r"%\((\w+)\)s", words)), form
    assert DETAIL_NUMBERS <= {name for form in DETAIL_FORMS for name in re.findall(r"\{(\w+)\}", form)}


def test_the_words_are_in_the_urdu_catalogue():
    ur = translations("ur")
    every = [*ACTIONS.values(), *RECORD_TYPES.values(), *DETAILS.values(), *DETAIL_WORDS]
    every += DETAIL_FORMS.values()
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


def test_a_refusals_words_are_said_in_the_pages_language_where_the_catalogue_has_them(app, db):
    """An entry's detail is the service's English words (a refusal's message, a count): in Urdu on the Urdu
    page where the pages have words for them or for their form (a sign-in refused, "3 names shown"), in
    English marked as such where not."""
    with db.transaction() as s:
        clerk = principal_for(create_user(s, "clerk_refused", "cro_operator"), channel="web")
        audit.record(s, clerk, "auth.login", outcome="refused", detail="invalid username or password")
        audit.record(s, clerk, "person.list", detail="3 names shown")
        audit.record(s, clerk, "person.phone.remove", detail="phone 4: +92 300 1234567")
        audit.record(
            s, clerk, "person.address.remove", detail="address 5: House 12 of 40"
        )  # not "{n} of {total}"
        audit.record(s, clerk, "person.read", target_type="person", target_id=3, detail="phones")
    with signed_in(app, db, "auditor") as (c, _):
        c.cookies.set("crms_lang", "ur")
        page = c.get("/audit", params={"username": "clerk_refused"}).text
        said = translations("ur").gettext("invalid username or password")
        assert said != "invalid username or password" and f"<span>{said}</span>" in page
        assert "invalid username or password" not in page
        shown = translations("ur").gettext("%(n)s names shown") % {"n": 3}
        assert "names shown" not in shown and f"<span>{shown}</span>" in page  # a detail's form, its value in
        assert '<span lang="en" dir="ltr">phone 4: +92 300 1234567</span>' in page  # no words: as it is
        assert '<span lang="en" dir="ltr">address 5: House 12 of 40</span>' in page
        assert f"<span>{translations('ur').gettext('phones')}</span>" in page  # a part of the record read
        c.cookies.set("crms_lang", "en")
        page = c.get("/audit", params={"username": "clerk_refused"}).text
        assert "<span>invalid username or password</span>" in page
        assert "<span>3 names shown</span>" in page  # an English page marks nothing as English
